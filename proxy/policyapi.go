package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/bundle"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/store"
)

// tryRequest is the body of POST /api/policy/try: a request to decide, as
// `sluice policy eval` takes it on its command line.
type tryRequest struct {
	// User is the caller's login; empty for a tagged device, whose login
	// is then its tags, as the tailnet reports it.
	User string `json:"user"`
	// Tags are the caller's device tags ("tag:ci").
	Tags []string `json:"tags"`
	// Provider is the provider asked; empty to try the ones serving the
	// model in order, as routing does.
	Provider string `json:"provider"`
	Model    string `json:"model"`
	// Format is the API format ("openai_chat"); empty for any.
	Format string `json:"format"`
}

// explained is a decision and why, as `sluice policy eval` prints it.
type explained struct {
	engine.Explanation
	// Candidates are the providers routing tried, in order, when the
	// request named none.
	Candidates []string `json:"candidates,omitempty"`
}

// tryPolicy answers what the running policy decides for a request, and
// why, without sending anything anywhere.
func (s *Server) tryPolicy(w http.ResponseWriter, r *http.Request) {
	var req tryRequest
	if err := readJSON(w, r, &req); err != nil {
		writeLocalError(w, http.StatusBadRequest, "the body must be JSON {user, tags, provider, model, format}: "+err.Error())
		return
	}
	in, err := tryInput(req)
	if err != nil {
		writeLocalError(w, http.StatusBadRequest, err.Error())
		return
	}
	login := in.User.Login
	out, err := s.explain(r.Context(), in)
	switch {
	case errors.Is(err, engine.ErrNoProvider):
		writeLocalError(w, http.StatusUnprocessableEntity, noProviderMessage(in))
		return
	case err != nil:
		s.log.Error("explaining a tried request", "login", login, "err", err)
		writeLocalError(w, http.StatusInternalServerError, "the policy engine failed to decide")
		return
	}
	writeLocalJSON(w, http.StatusOK, out)
}

// tryInput checks a request to try and makes it a policy input: the
// caller is a login, or a tagged device whose login is its tags.
func tryInput(req tryRequest) (engine.Input, error) {
	req.User = strings.TrimSpace(req.User)
	req.Model = strings.TrimSpace(req.Model)
	var tags []string
	for _, t := range req.Tags {
		if t = strings.TrimSpace(t); t == "" {
			continue
		}
		if !strings.HasPrefix(t, "tag:") {
			return engine.Input{}, fmt.Errorf("tag %q: tags start with \"tag:\"", t)
		}
		tags = append(tags, t)
	}
	switch {
	case req.User == "" && len(tags) == 0:
		return engine.Input{}, errors.New("name the caller: a user login, or the tags of a tagged device")
	case req.Model == "":
		return engine.Input{}, errors.New("name the model asked for")
	case req.Format != "" && !slices.Contains(policy.Formats, req.Format):
		return engine.Input{}, fmt.Errorf("unknown format %q (known: %s)", req.Format, strings.Join(policy.Formats, ", "))
	}
	login := req.User
	if login == "" {
		login = identity.TagsLogin(tags)
	}
	return engine.Input{
		User:    engine.User{Login: login, Tags: tags},
		Request: engine.Request{Provider: strings.TrimSpace(req.Provider), Model: req.Model, Format: req.Format},
	}, nil
}

// noProviderMessage says why a request for a model no provider serves is
// not decided.
func noProviderMessage(in engine.Input) string {
	return fmt.Sprintf("no provider serves model %q%s: routing refuses such a request before policy is asked",
		in.Request.Model, formatNote(in.Request.Format))
}

// explain explains in under the running policy, choosing the provider as
// routing does when in names none.
func (s *Server) explain(ctx context.Context, in engine.Input) (explained, error) {
	x, candidates, err := s.state.Load().engine.ExplainRoute(ctx, in)
	return explained{Explanation: x, Candidates: candidates}, err
}

// explainRequest answers why a logged request was decided as it was.
//
// The log keeps no decision trace, so the request is decided again, under
// the running policy revision, with what the log kept of the caller (login,
// node, tailnet; the tags of a tagged device, which are its login) and of
// the request (provider, model, format, path). The answer says which
// revision decided then and which now. What the log does not keep is not
// seen: the caller's groups and their capabilities from the tailnet policy
// file.
func (s *Server) explainRequest(w http.ResponseWriter, r *http.Request) {
	ld, err := s.explainLogged(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, errNoLog):
		writeLocalError(w, http.StatusNotFound, err.Error())
		return
	case errors.Is(err, store.ErrNotFound):
		writeLocalError(w, http.StatusNotFound, "no logged request has ID "+r.PathValue("id"))
		return
	case err != nil:
		s.log.Error("explaining a logged request", "id", r.PathValue("id"), "err", err)
		writeLocalError(w, http.StatusInternalServerError, "the request could not be explained; see the gateway's log")
		return
	}
	out := explainJSON{Request: toLoggedRequest(ld.rec), Explanation: ld.x, Error: ld.noRoute, Note: explainNote}
	out.Revision.Logged, out.Revision.Current = ld.rec.Revision, ld.current
	out.Revision.Same = ld.rec.Revision == ld.current
	writeLocalJSON(w, http.StatusOK, out)
}

// errNoLog reports a gateway that keeps no request log.
var errNoLog = errors.New("this gateway keeps no request log")

// loggedDecision is a logged request and its decision made again.
type loggedDecision struct {
	rec store.Record
	// x is nil when no provider serves the model any more; noRoute says so.
	x       *explained
	noRoute string
	// current is the revision that decided again.
	current string
}

// explainLogged decides the logged request id again (see explainRequest).
func (s *Server) explainLogged(ctx context.Context, id string) (loggedDecision, error) {
	if s.opts.Store == nil {
		return loggedDecision{}, errNoLog
	}
	rec, err := s.opts.Store.Request(ctx, id, store.Lookup{})
	if err != nil {
		return loggedDecision{}, err
	}
	in := engine.Input{
		User:    engine.User{Login: rec.Login, NodeID: rec.NodeID, Tailnet: rec.Tailnet, Tags: loginTags(rec.Login)},
		Request: engine.Request{Provider: rec.Provider, Model: rec.Model, Format: rec.Format, Path: rec.Path},
	}
	ld := loggedDecision{rec: rec, current: s.state.Load().engine.Revision()}
	x, err := s.explain(ctx, in)
	switch {
	case errors.Is(err, engine.ErrNoProvider):
		ld.noRoute = fmt.Sprintf("no provider of the running configuration serves model %q, so routing refuses the request before policy is asked", rec.Model)
	case err != nil:
		return loggedDecision{}, err
	default:
		ld.x = &x
		ld.current = x.Decision.Revision
	}
	return ld, nil
}

const explainNote = "Decided again under the running policy with the caller and request the log kept " +
	"(login, node, tailnet, tags, provider, model, format); the caller's groups and tailnet policy file " +
	"capabilities are not logged, so grants that depend on them do not show here"

func formatNote(format string) string {
	if format == "" {
		return ""
	}
	return " in format " + format
}

// loginTags returns the tags of a tagged device's login ("tag:a,tag:b"),
// nil for a user's.
func loginTags(login string) []string {
	if !strings.HasPrefix(login, "tag:") {
		return nil
	}
	return strings.Split(login, ",")
}

// explainJSON is GET /api/policy/explain/{id}'s answer.
type explainJSON struct {
	Request loggedRequest `json:"request"`
	// Explanation is the decision made again, and why; nil with Error.
	Explanation *explained `json:"explanation,omitempty"`
	Error       string     `json:"error,omitempty"`
	Revision    struct {
		// Logged is the revision that decided the request; Current the
		// one that decided it again. Same is true when they are one.
		Logged  string `json:"logged"`
		Current string `json:"current"`
		Same    bool   `json:"same"`
	} `json:"revision"`
	Note string `json:"note"`
}

// loggedRequest is what the log kept of a request that bears on its
// decision.
type loggedRequest struct {
	ID        string    `json:"id"`
	Time      time.Time `json:"time"`
	Login     string    `json:"login"`
	NodeID    string    `json:"node_id,omitempty"`
	Tailnet   string    `json:"tailnet,omitempty"`
	Provider  string    `json:"provider"`
	Model     string    `json:"model"`
	Format    string    `json:"format"`
	Path      string    `json:"path"`
	Status    int       `json:"status"`
	Error     string    `json:"error,omitempty"`
	ErrorKind string    `json:"error_kind,omitempty"`
	Revision  string    `json:"revision"`
	Grants    []string  `json:"grants"`
}

func toLoggedRequest(r store.Record) loggedRequest {
	grants := r.Grants
	if grants == nil {
		grants = []string{}
	}
	return loggedRequest{ID: r.ID, Time: r.Time, Login: r.Login, NodeID: r.NodeID, Tailnet: r.Tailnet,
		Provider: r.Provider, Model: r.Model, Format: r.Format, Path: r.Path, Status: r.Status,
		Error: r.Error, ErrorKind: r.ErrorKind, Revision: r.Revision, Grants: grants}
}

// moduleJSON is one module of the compiled policy.
type moduleJSON struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

// policyModules answers the running policy's Rego modules, as an export
// lays them out.
func (s *Server) policyModules(w http.ResponseWriter, r *http.Request) {
	eng := s.state.Load().engine
	mods := eng.Modules()
	out := struct {
		Revision string       `json:"revision"`
		Modules  []moduleJSON `json:"modules"`
	}{Revision: eng.Revision(), Modules: make([]moduleJSON, 0, len(mods))}
	for _, m := range mods {
		out.Modules = append(out.Modules, moduleJSON{Name: m.Name, Text: string(m.Text)})
	}
	writeLocalJSON(w, http.StatusOK, out)
}

// policyBundle answers the running policy as an OPA bundle (tar.gz): the
// generated grants, the library and the --policy modules, with a manifest
// naming the policy revision. The stock `opa test sluice-policy.tar.gz
// tests/` runs a team's own tests against it.
func (s *Server) policyBundle(w http.ResponseWriter, r *http.Request) {
	eng := s.state.Load().engine
	b := bundle.Bundle{
		Manifest: bundle.Manifest{Revision: eng.Revision()},
		Data:     map[string]any{},
	}
	for _, m := range eng.Modules() {
		b.Modules = append(b.Modules, bundle.ModuleFile{URL: m.Name, Path: m.Name, Raw: m.Text})
	}
	var buf bytes.Buffer
	if err := bundle.NewWriter(&buf).UseModulePath(true).Write(b); err != nil {
		s.log.Error("writing the policy bundle", "err", err)
		writeLocalError(w, http.StatusInternalServerError, "the policy bundle could not be written")
		return
	}
	name := "sluice-policy-" + shortRevision(eng.Revision()) + ".tar.gz"
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// shortRevision is a revision cut for file names.
func shortRevision(rev string) string {
	return rev[:min(len(rev), 12)]
}
