package ui

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"unicode/utf8"

	"github.com/sluice-gateway/sluice/store"
)

const logsPageSize = 25

type logsData struct {
	Filters  filters
	Action   string
	Sessions []store.Session
	Records  []store.Record
	ShowUser bool
	// Next is the query of the following page; empty on the last.
	Next string
	// Session, when set, is the one session shown.
	Session string
	// ToolCalls are the most recent MCP tool calls (the caller's, or
	// everyone's on the admin page), when the log keeps them.
	ToolCalls []store.ToolCall
}

// toolCallsShown bounds the tool calls listed under the logs.
const toolCallsShown = 25

// recentToolCalls lists the latest tool calls of login ("" for all); a log
// that keeps none, or fails, shows none (the failure is logged).
func (h *Handler) recentToolCalls(r *http.Request, login string) []store.ToolCall {
	tl, ok := h.opts.Log.(store.ToolCallLog)
	if !ok {
		return nil
	}
	calls, err := tl.ToolCalls(r.Context(), login, toolCallsShown)
	if err != nil {
		h.opts.Logger.Error("listing tool calls failed", "err", err)
	}
	return calls
}

// myLogs lists the caller's sessions, most recently active first; each
// opens to its requests.
func (h *Handler) myLogs(w http.ResponseWriter, r *http.Request, c Caller) {
	if h.opts.Log == nil {
		h.failErr(w, r, c, errNoLog)
		return
	}
	fl := h.parseFilters(r.URL.Query(), c, logsDays)
	fl.f.Login, fl.Admin, fl.User = c.Login, false, ""
	d := logsData{Filters: fl, Action: "/ui/logs"}
	if sid := r.URL.Query().Get("session"); sid != "" {
		// One session's requests: the page without JavaScript opens here.
		f := store.Filter{Login: c.Login, Session: sid}
		page, err := h.opts.Log.Requests(r.Context(), f, store.Page{Limit: store.MaxLimit})
		if err != nil {
			h.failErr(w, r, c, err)
			return
		}
		d.Session, d.Records = sid, page.Records
		h.render(w, r, c, http.StatusOK, "logs", "Session "+sid, "logs", d)
		return
	}
	page, err := h.opts.Log.Sessions(r.Context(), fl.f, store.Page{Limit: logsPageSize, Cursor: r.URL.Query().Get("cursor")})
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	d.Sessions = page.Sessions
	d.ToolCalls = h.recentToolCalls(r, c.Login)
	if page.Next != "" {
		d.Next = fl.with("cursor", page.Next)
	}
	h.render(w, r, c, http.StatusOK, "logs", "Logs", "logs", d)
}

// sessionRequests is the fragment a session's row loads when opened: its
// requests, scoped to the caller like every page.
func (h *Handler) sessionRequests(w http.ResponseWriter, r *http.Request, c Caller) {
	if h.opts.Log == nil {
		h.failErr(w, r, c, errNoLog)
		return
	}
	f := store.Filter{Session: r.PathValue("id")}
	if !c.Admin {
		f.Login = c.Login
	} else {
		f.Login = r.URL.Query().Get("user")
	}
	page, err := h.opts.Log.Requests(r.Context(), f, store.Page{Limit: store.MaxLimit})
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	var buf bytes.Buffer
	if err := h.pages.byName["logs"].ExecuteTemplate(&buf, "requests", struct {
		Records  []store.Record
		ShowUser bool
	}{page.Records, false}); err != nil {
		h.failErr(w, r, c, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// allLogs lists everyone's requests, newest first, with the usage
// overview's filters.
func (h *Handler) allLogs(w http.ResponseWriter, r *http.Request, c Caller) {
	if h.opts.Log == nil {
		h.failErr(w, r, c, errNoLog)
		return
	}
	fl := h.parseFilters(r.URL.Query(), c, logsDays)
	page, err := h.opts.Log.Requests(r.Context(), fl.f, store.Page{Limit: 50, Cursor: r.URL.Query().Get("cursor")})
	if errors.Is(err, store.ErrBadCursor) {
		h.fail(w, r, c, http.StatusBadRequest, "That page link is not valid any more; start from the first page.")
		return
	}
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	d := logsData{Filters: fl, Action: "/admin/logs", Records: page.Records, ShowUser: true, ToolCalls: h.recentToolCalls(r, "")}
	if page.Next != "" {
		d.Next = fl.with("cursor", page.Next)
	}
	h.render(w, r, c, http.StatusOK, "logs", "Logs (all users)", "all-logs", d)
}

type requestData struct {
	Rec store.Record
	// Bodies are shown to admins, when the gateway saved them.
	Request, Response string
	BodyNote          string
	// Explain links an admin to the Policy page's account of this
	// request's decision; empty for everyone else.
	Explain string
}

// requestDetail shows one request: a user's own, or anyone's for an
// admin. Raw bodies are for admins only, as in the API.
func (h *Handler) requestDetail(w http.ResponseWriter, r *http.Request, c Caller) {
	if h.opts.Log == nil {
		h.failErr(w, r, c, errNoLog)
		return
	}
	look := store.Lookup{Raws: c.Admin}
	if !c.Admin {
		look.Login = c.Login
	}
	rec, err := h.opts.Log.Request(r.Context(), r.PathValue("id"), look)
	if errors.Is(err, store.ErrNotFound) {
		h.fail(w, r, c, http.StatusNotFound, "There is no request "+r.PathValue("id")+" that you may see.")
		return
	}
	if err != nil {
		h.failErr(w, r, c, err)
		return
	}
	d := requestData{Rec: rec}
	if c.Admin && h.opts.Policy != nil {
		d.Explain = ExplainPath(rec.ID)
	}
	switch {
	case rec.RawError != "":
		d.BodyNote = "The bodies were saved but cannot be read: " + rec.RawError
	case rec.HasRaws && !c.Admin:
		d.BodyNote = "The bodies were saved; only admins may read them."
	case !rec.HasRaws:
		d.BodyNote = "The gateway did not save this request's bodies (database.save_raws)."
	default:
		d.Request, d.Response = showBody(rec.RawRequest), showBody(rec.RawResponse)
	}
	h.render(w, r, c, http.StatusOK, "request", "Request "+rec.ID, "logs", d)
}

// maxShownBody bounds a body shown on the page.
const maxShownBody = 256 << 10

// showBody returns a body as text: JSON indented, an event stream as it
// is, binary (Bedrock's event stream) as a note.
func showBody(b []byte) string {
	if b == nil {
		return ""
	}
	if !utf8.Valid(b) {
		return "(binary body, " + formatInt(int64(len(b))) + " bytes)"
	}
	var out bytes.Buffer
	if json.Valid(b) && json.Indent(&out, b, "", "  ") == nil {
		b = out.Bytes()
	}
	if len(b) > maxShownBody {
		return string(b[:maxShownBody]) + "\n… (cut at 256 KiB)"
	}
	return string(b)
}
