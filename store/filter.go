package store

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Filter selects rows. Zero fields match everything; set fields combine
// with AND.
type Filter struct {
	// Login restricts rows to one user. Callers serving a non-admin set it
	// to the caller's own login.
	Login    string
	Model    string
	Provider string
	// Status matches one HTTP status exactly.
	Status int
	// Errors keeps only failed requests (status >= 400 or an error).
	Errors bool
	// Since and Until bound the request time: Since <= Time < Until.
	Since time.Time
	Until time.Time
	// Session keeps the requests of one session, by Session.ID.
	Session string
	// Agent keeps the requests of one client program, by AgentName of
	// their User-Agent.
	Agent string
}

// Page asks for one page of a listing.
type Page struct {
	// Limit is the page size: DefaultLimit when zero, at most MaxLimit.
	Limit int
	// Cursor continues from a previous page's Next; empty for the first.
	Cursor string
}

// Page sizes.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

func (p Page) limit() int {
	switch {
	case p.Limit <= 0:
		return DefaultLimit
	case p.Limit > MaxLimit:
		return MaxLimit
	}
	return p.Limit
}

// RequestPage is one page of requests, newest first.
type RequestPage struct {
	Records []Record
	// Next is the cursor of the following page; empty on the last page.
	Next string
}

// SessionPage is one page of sessions, most recently active first.
type SessionPage struct {
	Sessions []Session
	// Next is the cursor of the following page; empty on the last page.
	Next string
}

// GroupBy names the dimension of a usage aggregate.
type GroupBy string

// Usage dimensions.
const (
	ByUser     GroupBy = "user"
	ByModel    GroupBy = "model"
	ByProvider GroupBy = "provider"
	// ByDay groups by calendar day in UTC; the key is "2006-01-02".
	ByDay GroupBy = "day"
)

// ParseGroupBy checks a dimension name.
func ParseGroupBy(s string) (GroupBy, error) {
	switch g := GroupBy(s); g {
	case ByUser, ByModel, ByProvider, ByDay:
		return g, nil
	}
	return "", fmt.Errorf("unknown usage dimension %q (want user, model, provider or day)", s)
}

// Aggregate is the usage of one user, model, provider or day.
type Aggregate struct {
	// Key is the login, model, provider or "2006-01-02" day.
	Key string
	Totals
}

// ErrBadCursor reports a cursor that no page handed out.
var ErrBadCursor = errors.New("invalid page cursor")

// A request cursor is the (time, id) of the last row of a page: the next
// page continues strictly after it in (time desc, id desc) order, so rows
// inserted meanwhile never shift or repeat a page.
type requestCursor struct {
	timeUS int64
	id     string
}

func encodeRequestCursor(c requestCursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte("r" + strconv.FormatInt(c.timeUS, 10) + ":" + c.id))
}

func decodeRequestCursor(s string) (requestCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 2 || b[0] != 'r' {
		return requestCursor{}, ErrBadCursor
	}
	ts, id, ok := strings.Cut(string(b[1:]), ":")
	if !ok || id == "" {
		return requestCursor{}, ErrBadCursor
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return requestCursor{}, ErrBadCursor
	}
	return requestCursor{timeUS: t, id: id}, nil
}

// Session pages are computed aggregates, paged by offset.
func encodeOffsetCursor(off int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o" + strconv.Itoa(off)))
}

func decodeOffsetCursor(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 2 || b[0] != 'o' {
		return 0, ErrBadCursor
	}
	n, err := strconv.Atoi(string(b[1:]))
	if err != nil || n < 0 {
		return 0, ErrBadCursor
	}
	return n, nil
}
