// Package api serves the request log to the dashboard as JSON under /api/:
// requests, one request, sessions and usage aggregates, with filters and
// paging. An admin sees every user's rows; anyone else sees only their own,
// enforced in each query (not by filtering results), and never raw bodies.
package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice-gateway/sluice/store"
)

// Who identifies the caller of a request: their login and whether they are
// an admin. An error answers 401.
type Who func(*http.Request) (login string, admin bool, err error)

type handler struct {
	st  store.Store
	who Who
	mux *http.ServeMux
}

// New returns the handler for the /api/ routes:
//
//	GET /api/requests        ?login= model= provider= status= errors=1 since= until= session= limit= cursor=
//	GET /api/requests/{id}   one request; raw bodies (admins only) with ?raws=1
//	GET /api/sessions        same filters (but session), limit= cursor=
//	GET /api/usage?by=user|model|provider|day   same filters (but session)
//
// since and until take RFC 3339 times or dates (2006-01-02, UTC midnight).
// A non-admin asking for another login gets 403.
func New(st store.Store, who Who) http.Handler {
	h := &handler{st: st, who: who, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /api/requests", h.requests)
	h.mux.HandleFunc("GET /api/requests/{id}", h.request)
	h.mux.HandleFunc("GET /api/sessions", h.sessions)
	h.mux.HandleFunc("GET /api/usage", h.usage)
	h.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API endpoint: "+r.Method+" "+r.URL.Path)
	})
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

// caller is who is asking, resolved once per request.
type caller struct {
	login string
	admin bool
}

func (h *handler) caller(w http.ResponseWriter, r *http.Request) (caller, bool) {
	login, admin, err := h.who(r)
	if err != nil || (login == "" && !admin) {
		writeError(w, http.StatusUnauthorized, "cannot identify the caller")
		return caller{}, false
	}
	return caller{login: login, admin: admin}, true
}

// paramError reports a bad query parameter (400).
type paramError struct{ msg string }

func (e *paramError) Error() string { return e.msg }

func badParam(format string, args ...any) error { return &paramError{fmt.Sprintf(format, args...)} }

// errForbidden reports a non-admin asking for someone else's rows (403).
var errForbidden = errors.New("only admins can see other users' requests")

// parseFilter reads the filter parameters of q. For a non-admin caller the
// login is forced to their own, and asking for another is an error.
func parseFilter(q url.Values, c caller) (store.Filter, error) {
	f := store.Filter{
		Login:    q.Get("login"),
		Model:    q.Get("model"),
		Provider: q.Get("provider"),
		Session:  q.Get("session"),
	}
	if !c.admin {
		if f.Login != "" && f.Login != c.login {
			return f, errForbidden
		}
		f.Login = c.login
	}
	if s := q.Get("status"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 100 || n > 999 {
			return f, badParam("status %q: want an HTTP status code", s)
		}
		f.Status = n
	}
	if s := q.Get("errors"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return f, badParam("errors %q: want true or false", s)
		}
		f.Errors = b
	}
	var err error
	if f.Since, err = parseTime("since", q.Get("since")); err != nil {
		return f, err
	}
	if f.Until, err = parseTime("until", q.Get("until")); err != nil {
		return f, err
	}
	return f, nil
}

func parseTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, badParam("%s %q: want an RFC 3339 time or a 2006-01-02 date", name, s)
}

func parsePage(q url.Values) (store.Page, error) {
	p := store.Page{Cursor: q.Get("cursor")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > store.MaxLimit {
			return p, badParam("limit %q: want 1 to %d", s, store.MaxLimit)
		}
		p.Limit = n
	}
	return p, nil
}

// fail answers an error from parsing or the store with the right status.
func fail(w http.ResponseWriter, r *http.Request, err error) {
	var pe *paramError
	switch {
	case errors.As(err, &pe):
		writeError(w, http.StatusBadRequest, pe.msg)
	case errors.Is(err, store.ErrBadCursor):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, errForbidden):
		writeError(w, http.StatusForbidden, err.Error())
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "request not found")
	case r.Context().Err() != nil:
		// The client left; nobody reads the answer.
	default:
		slog.Error("api: store query failed", slog.String("path", r.URL.Path), slog.Any("error", err))
		writeError(w, http.StatusInternalServerError, "the request log could not be read")
	}
}

// listing reads the caller, filter and page of a list request; false
// means the client has been answered.
func (h *handler) listing(w http.ResponseWriter, r *http.Request) (store.Filter, store.Page, bool) {
	c, ok := h.caller(w, r)
	if !ok {
		return store.Filter{}, store.Page{}, false
	}
	q := r.URL.Query()
	f, err := parseFilter(q, c)
	if err != nil {
		fail(w, r, err)
		return store.Filter{}, store.Page{}, false
	}
	p, err := parsePage(q)
	if err != nil {
		fail(w, r, err)
		return store.Filter{}, store.Page{}, false
	}
	return f, p, true
}

func (h *handler) requests(w http.ResponseWriter, r *http.Request) {
	f, p, ok := h.listing(w, r)
	if !ok {
		return
	}
	page, err := h.st.Requests(r.Context(), f, p)
	if err != nil {
		fail(w, r, err)
		return
	}
	out := requestsJSON{Requests: make([]requestJSON, len(page.Records)), NextCursor: page.Next}
	for i := range page.Records {
		out.Requests[i] = toRequestJSON(&page.Records[i])
	}
	writeJSON(w, out)
}

func (h *handler) request(w http.ResponseWriter, r *http.Request) {
	c, ok := h.caller(w, r)
	if !ok {
		return
	}
	look := store.Lookup{}
	if !c.admin {
		look.Login = c.login
	}
	if s := r.URL.Query().Get("raws"); s != "" {
		want, err := strconv.ParseBool(s)
		if err != nil {
			fail(w, r, badParam("raws %q: want true or false", s))
			return
		}
		if want && !c.admin {
			writeError(w, http.StatusForbidden, "only admins can read raw bodies")
			return
		}
		look.Raws = want
	}
	rec, err := h.st.Request(r.Context(), r.PathValue("id"), look)
	if err != nil {
		fail(w, r, err)
		return
	}
	out := detailJSON{Request: toRequestJSON(&rec)}
	if look.Raws {
		out.RawRequest, out.RawRequestBase64 = bodyJSON(rec.RawRequest)
		out.RawResponse, out.RawResponseBase64 = bodyJSON(rec.RawResponse)
		out.RawError = rec.RawError
	}
	writeJSON(w, out)
}

func (h *handler) sessions(w http.ResponseWriter, r *http.Request) {
	f, p, ok := h.listing(w, r)
	if !ok {
		return
	}
	page, err := h.st.Sessions(r.Context(), f, p)
	if err != nil {
		fail(w, r, err)
		return
	}
	out := sessionsJSON{Sessions: make([]sessionJSON, len(page.Sessions)), NextCursor: page.Next}
	for i, s := range page.Sessions {
		out.Sessions[i] = sessionJSON{
			ID: s.ID, FromHeader: s.FromHeader, Login: s.Login,
			Models: nonNil(s.Models), Providers: nonNil(s.Providers),
			Start: s.Start, End: s.End, totalsJSON: toTotalsJSON(s.Totals),
		}
	}
	writeJSON(w, out)
}

func (h *handler) usage(w http.ResponseWriter, r *http.Request) {
	c, ok := h.caller(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	by, err := store.ParseGroupBy(q.Get("by"))
	if err != nil {
		fail(w, r, badParam("by: %v", err))
		return
	}
	f, err := parseFilter(q, c)
	if err != nil {
		fail(w, r, err)
		return
	}
	rows, err := h.st.Usage(r.Context(), by, f)
	if err != nil {
		fail(w, r, err)
		return
	}
	out := usageJSON{By: string(by), Rows: make([]aggregateJSON, len(rows))}
	var total store.Totals
	for i, a := range rows {
		out.Rows[i] = aggregateJSON{Key: a.Key, totalsJSON: toTotalsJSON(a.Totals)}
		total.Add(a.Totals)
	}
	out.Total = toTotalsJSON(total)
	writeJSON(w, out)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// bodyJSON returns a body as text when it is UTF-8 (JSON, SSE), else as
// base64 (Bedrock's binary event stream).
func bodyJSON(b []byte) (text *string, b64 []byte) {
	if b == nil {
		return nil, nil
	}
	if utf8.Valid(b) {
		s := string(b)
		return &s, nil
	}
	return nil, b
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": strings.TrimSpace(msg)})
}
