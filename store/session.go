package store

import (
	"net/http"
	"time"
)

// DefaultSessionGap is the pause after which a user's next request to a
// model starts a new session.
//
// Sessions group requests into the conversations a person had with a model.
// The rule, applied at query time over the stored rows (so every replica
// agrees and nothing about sessions is kept in memory):
//
//  1. A request that carried a client session ID (the first non-empty of
//     SessionHeaders) belongs to the session of that ID for that user,
//     whatever the model and however long the pauses: a client that names
//     its sessions knows best. Claude Code, for one, mixes models within
//     one session.
//  2. Other requests are grouped by user and model, in time order: a request
//     starts a new session when more than SessionGap (30 minutes) passed
//     since that user's previous request to that model; otherwise it joins
//     the current one. Such a session's ID is the ID of its first request.
//
// Sessions are computed over the rows a query selects, so a time filter that
// cuts a session in two shows only the part inside the range.
const DefaultSessionGap = 30 * time.Minute

// SessionHeaders are the request headers that carry a client's own session
// ID, in the order they are consulted: Claude Code's, Codex's (both
// spellings), the generic X-Session-Id, and OpenCode's.
var SessionHeaders = []string{
	"X-Claude-Code-Session-Id",
	"Session-Id",
	"Session_id",
	"X-Session-Id",
	"X-Opencode-Session",
}

// maxSessionIDLen bounds the session IDs kept from client headers.
const maxSessionIDLen = 128

// SessionFromHeader returns the client session ID of a request: the first
// SessionHeaders value that is a plausible ID (1 to 128 printable ASCII
// characters, no spaces), or "".
func SessionFromHeader(h http.Header) string {
	for _, name := range SessionHeaders {
		// net/http canonicalises Codex's "session_id" to "Session_id".
		if v := h.Get(name); validSessionID(v) {
			return v
		}
	}
	return ""
}

func validSessionID(v string) bool {
	if v == "" || len(v) > maxSessionIDLen {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// Session is a group of requests (see DefaultSessionGap for the rule).
type Session struct {
	// ID is the client's session ID, or the first request's ID for a
	// session found by the gap rule. Filter.Session accepts either.
	ID string
	// FromHeader tells a client-named session from a gap-rule one.
	FromHeader bool
	Login      string
	// Models and Providers used, sorted.
	Models    []string
	Providers []string
	Start     time.Time
	End       time.Time
	Totals
}

// Totals are the sums the dashboard shows for a group of requests.
type Totals struct {
	Requests         int64
	Errors           int64 // status >= 400 or an error recorded
	InputTokens      int64
	OutputTokens     int64
	CacheReadTokens  int64
	CacheWriteTokens int64
	CostUSD          float64
	// UnknownCost counts requests to models without a price, whose cost is
	// missing from CostUSD.
	UnknownCost int64
}

// Add accumulates o into t.
func (t *Totals) Add(o Totals) {
	t.Requests += o.Requests
	t.Errors += o.Errors
	t.InputTokens += o.InputTokens
	t.OutputTokens += o.OutputTokens
	t.CacheReadTokens += o.CacheReadTokens
	t.CacheWriteTokens += o.CacheWriteTokens
	t.CostUSD += o.CostUSD
	t.UnknownCost += o.UnknownCost
}
