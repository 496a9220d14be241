package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/sluice-gateway/sluice/compat"
	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/proxy/identity"
)

// CORS lets a browser app on the tailnet call the gateway's API from
// another origin. A caller is identified by their tailnet address, not by
// anything the browser holds, so any page the caller opens could reach
// the gateway in their name: sluice therefore answers CORS only as the
// caller's grants say (set_cors capabilities, whose cors_paths match the
// request path and whose Access-Control-Allow-Origin names the page's
// origin), and never lets an upstream's own CORS headers through.
//
// CORS only says which pages may read an answer. It never widens access:
// the request itself is decided by policy as any other.

// CORS header names.
const (
	headerOrigin        = "Origin"
	headerRequestMethod = "Access-Control-Request-Method"
	headerAllowOrigin   = "Access-Control-Allow-Origin"
	headerAllowMethods  = "Access-Control-Allow-Methods"
	headerAllowHeaders  = "Access-Control-Allow-Headers"
)

// isPreflight reports whether r is a CORS preflight request: OPTIONS with
// Origin and Access-Control-Request-Method.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get(headerOrigin) != "" && r.Header.Get(headerRequestMethod) != ""
}

// servePreflight answers a CORS preflight to an API path itself, and
// reports false for any other request. The preflight never goes upstream
// and leaves no request-log row: it asks for no model. Allowed, it gets
// 204 with the grants' Access-Control-Allow-* headers; refused, a 403
// error in the API's format and no CORS headers, so the browser stops
// there and the body says why to whoever opens the network panel.
//
// A preflight for a method the path does not serve is not one sluice
// answers as a preflight: it goes the way of any OPTIONS request.
func (s *Server) servePreflight(w http.ResponseWriter, r *http.Request) bool {
	if !isPreflight(r) {
		return false
	}
	route, err := compat.Detect(r.Header.Get(headerRequestMethod), r.URL.EscapedPath(), queryOf(r.URL))
	if err != nil {
		return false
	}
	// The answer depends on the Origin, whatever it is.
	varyOrigin(w.Header())
	who, err := s.opts.Identity.Identify(r)
	switch {
	case errors.Is(err, identity.ErrUnknownCaller), errors.Is(err, identity.ErrUntrustedHeaders):
		s.log.Info("refused a CORS preflight from a caller that could not be identified", "path", r.URL.Path, "err", err)
		compat.WriteError(w, route.Format, http.StatusForbidden, compat.KindPermissionDenied, "sluice could not identify the caller: "+err.Error())
		return true
	case err != nil:
		s.log.Error("identifying the caller failed", "path", r.URL.Path, "err", err)
		compat.WriteError(w, route.Format, http.StatusServiceUnavailable, compat.KindUnavailable, "sluice could not ask the tailnet who is calling; try again")
		return true
	}
	// The decision about the caller alone (no provider, no model): the
	// CORS grants depend on nothing else, and it is cached per caller.
	d, err := s.state.Load().engine.Decide(r.Context(), callerInput(who, route.Format, r.URL.Path))
	if err != nil {
		s.log.Error("policy evaluation failed", "path", r.URL.Path, "login", who.Login, "err", err)
		compat.WriteError(w, route.Format, http.StatusInternalServerError, compat.KindInternal, "the policy engine failed to decide")
		return true
	}
	origin := r.Header.Get(headerOrigin)
	a := corsFor(d.CORS, r.URL.Path, origin)
	if a.origin == "" {
		s.log.Info("refused a CORS preflight", "path", r.URL.Path, "login", who.Login, "origin", origin)
		compat.WriteError(w, route.Format, http.StatusForbidden, compat.KindPermissionDenied,
			fmt.Sprintf("%s may not call %s from origin %q: no grant gives them set_cors with a cors_paths pattern matching this path and this origin in Access-Control-Allow-Origin", who.Login, r.URL.Path, origin))
		return true
	}
	a.set(w.Header())
	w.WriteHeader(http.StatusNoContent)
	return true
}

// callerInput is the policy input about a caller alone (no provider, no
// model): what CORS grants depend on.
func callerInput(who identity.Identity, format, path string) engine.Input {
	return engine.Input{
		User:    engine.User{Login: who.Login, NodeID: who.NodeID, Tailnet: who.Tailnet, Tags: who.Tags, Groups: who.Groups},
		Caps:    who.Caps,
		Request: engine.Request{Format: format, Path: path},
	}
}

func (ex *exchange) callerInput() engine.Input {
	return callerInput(ex.who, ex.route.Format, ex.r.URL.Path)
}

// applyCORS adds to the answer the CORS headers the caller's grants give
// this request's path and Origin. It runs with the first decision policy
// makes for the request (every decision of one caller carries the same
// grants), so CORS costs no evaluation of its own; later calls do nothing.
// Denials carry the headers too: the page may read why it was refused.
func (ex *exchange) applyCORS(d *engine.Decision) {
	if ex.corsDone {
		return
	}
	ex.corsDone = true
	origin := ex.r.Header.Get(headerOrigin)
	if origin == "" || len(d.CORS) == 0 {
		return
	}
	corsFor(d.CORS, ex.r.URL.Path, origin).set(ex.w.Header())
}

// corsOnFailure gives an answer sluice writes before policy decided (an
// unknown model, a malformed body) the caller's CORS headers, so that the
// page can read what went wrong. Only a request with Origin from an
// identified caller asks, and it asks about the caller alone, which the
// engine caches per caller.
func (ex *exchange) corsOnFailure() {
	if ex.corsDone || ex.r.Header.Get(headerOrigin) == "" || (ex.who.Login == "" && len(ex.who.Tags) == 0) {
		return
	}
	d, err := ex.snap.engine.Decide(ex.r.Context(), ex.callerInput())
	if err != nil {
		ex.corsDone = true
		return
	}
	ex.applyCORS(&d)
}

// stripUpstreamCORS removes an upstream's CORS headers from its answer.
// They speak for the provider's API, not for the gateway: passed through,
// an upstream's "Access-Control-Allow-Origin: *" would let any page read
// answers given in the caller's name.
func stripUpstreamCORS(h http.Header) {
	for name := range h {
		if strings.HasPrefix(name, "Access-Control-") {
			delete(h, name)
		}
	}
}

// corsAnswer is what a caller's CORS grants answer for one path and
// origin.
type corsAnswer struct {
	// covered is true when some grant's cors_paths match the path: the
	// answer then depends on the Origin.
	covered bool
	// origin is the Access-Control-Allow-Origin value: the request's
	// origin, "*", or "" when no grant allows the origin.
	origin           string
	methods, headers string
}

// corsFor combines the grants that match path and allow origin. Grants
// add up, as every capability does: the answer allows the union of their
// methods and headers, in configuration order. A grant's methods and
// headers count only for the origins it names, so one grant never widens
// what another allows a different origin.
func corsFor(grants []engine.CORSGrant, path, origin string) corsAnswer {
	var a corsAnswer
	var methods, headers []string
	exact, wildcard := false, false
	for _, g := range grants {
		if !slices.ContainsFunc(g.Paths, func(p string) bool { return matchPath(p, path) }) {
			continue
		}
		a.covered = true
		switch allowsOrigin(g.Origin, origin) {
		case originExact:
			exact = true
		case originAny:
			wildcard = true
		default:
			continue
		}
		methods = appendTokens(methods, g.Methods)
		headers = appendTokens(headers, g.Headers)
	}
	switch {
	case exact:
		a.origin = origin
	case wildcard:
		a.origin = "*"
	}
	a.methods, a.headers = strings.Join(methods, ", "), strings.Join(headers, ", ")
	return a
}

// set writes the answer's headers. Access-Control-Allow-Credentials is
// never sent: the tailnet identifies the caller, so a browser needs no
// cookies or credentials to be recognised, and without it no page can
// make the browser attach any.
func (a corsAnswer) set(h http.Header) {
	if !a.covered {
		return
	}
	varyOrigin(h)
	if a.origin == "" {
		return
	}
	h.Set(headerAllowOrigin, a.origin)
	if a.methods != "" {
		h.Set(headerAllowMethods, a.methods)
	}
	if a.headers != "" {
		h.Set(headerAllowHeaders, a.headers)
	}
}

// varyOrigin adds Origin to h's Vary, once.
func varyOrigin(h http.Header) {
	for _, v := range h.Values("Vary") {
		for _, f := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), headerOrigin) {
				return
			}
		}
	}
	h.Add("Vary", headerOrigin)
}

// How a grant's Access-Control-Allow-Origin value relates to an origin.
const (
	originNone = iota
	originExact
	originAny
)

// allowsOrigin reads a grant's Access-Control-Allow-Origin value: one
// origin, "*", or several separated by spaces or commas (a header carries
// one, so sluice answers with the one the browser sent). Origins compare
// without regard to case or a trailing "/". An empty value allows no
// origin: sluice does not guess what an unset value was meant to allow.
func allowsOrigin(value, origin string) int {
	if !printable(origin) {
		return originNone
	}
	got := originNone
	for _, o := range strings.FieldsFunc(value, isListSep) {
		if o == "*" {
			got = originAny
			continue
		}
		if !printable(o) {
			continue
		}
		if strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return originExact
		}
	}
	return got
}

// appendTokens adds the comma-separated tokens of a grant's
// Access-Control-Allow-Methods or -Headers value to list, once each
// (compared without regard to case). Anything that is not an HTTP token
// (RFC 9110), such as a value with a line break, is dropped: grants from
// the tailnet policy file were never checked at load.
func appendTokens(list []string, value string) []string {
	for _, t := range strings.Split(value, ",") {
		t = strings.TrimSpace(t)
		if !httpguts.ValidHeaderFieldName(t) || slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, t) }) {
			continue
		}
		list = append(list, t)
	}
	return list
}

func isListSep(r rune) bool { return r == ',' || r == ' ' || r == '\t' }

// printable reports whether s is visible ASCII without spaces, as an
// origin is.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return s != ""
}

// matchPath reports whether a URL path matches a cors_paths pattern, with
// the glob rules of models patterns: "*" matches any run of characters
// within one "/"-separated segment, and a segment "**" matches any number
// of segments, none included ("/v1/**" matches "/v1" and everything
// below it; "/**" matches every path). Anywhere else "**" is "*". The
// path is the decoded one, without the query.
//
// Both levels use the greedy matcher with one backtrack point, so a long
// path costs time proportional to pattern length times path length, not
// exponential in the number of wildcards.
func matchPath(pattern, path string) bool {
	pat, segs := strings.Split(pattern, "/"), strings.Split(path, "/")
	p, s := 0, 0
	star, mark := -1, 0
	for s < len(segs) {
		switch {
		case p < len(pat) && pat[p] == "**":
			star, mark = p, s
			p++
		case p < len(pat) && matchSegment(pat[p], segs[s]):
			p++
			s++
		case star >= 0:
			p = star + 1
			mark++
			s = mark
		default:
			return false
		}
	}
	for p < len(pat) && pat[p] == "**" {
		p++
	}
	return p == len(pat)
}

// matchSegment matches one path segment against one pattern segment,
// where "*" matches any run of characters.
func matchSegment(pat, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pat) && pat[p] == '*':
			star, mark = p, i
			p++
		case p < len(pat) && pat[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pat) && pat[p] == '*' {
		p++
	}
	return p == len(pat)
}
