// Package proxytest provides a mock LLM provider for tests of the gateway:
// it serves recorded response bodies (JSON, server-sent events, AWS event
// streams) event by event with flushes, as a real provider does, and keeps
// every request it received so tests can assert on both sides of the proxy.
package proxytest

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// Reply is what the mock answers on one path.
type Reply struct {
	Status      int // 200 when zero
	ContentType string
	Header      http.Header
	Body        []byte
	// Delay is slept before the headers; Gap between stream events.
	Delay, Gap time.Duration
	// CutAfter, when positive, drops the connection after that many
	// stream events, as a failing upstream does.
	CutAfter int
}

// Received is one request the mock got.
type Received struct {
	Method string
	Path   string // escaped
	Query  string
	Header http.Header
	Body   []byte
}

// Upstream is a mock provider.
type Upstream struct {
	*httptest.Server

	mu       sync.Mutex
	replies  map[string]Reply
	fallback *Reply
	received []Received
}

// NewUpstream starts a mock provider, closed at the end of the test.
func NewUpstream(t testing.TB) *Upstream {
	t.Helper()
	u := &Upstream{replies: make(map[string]Reply)}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

// Handle sets the reply for an escaped path ("/v1/chat/completions").
func (u *Upstream) Handle(path string, r Reply) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.replies[path] = r
}

// HandleAll sets the reply for every path without its own.
func (u *Upstream) HandleAll(r Reply) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.fallback = &r
}

// Received returns the requests received so far.
func (u *Upstream) Received() []Received {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Received(nil), u.received...)
}

// Last returns the last request received; it fails the test if none came.
func (u *Upstream) Last(t testing.TB) Received {
	t.Helper()
	got := u.Received()
	if len(got) == 0 {
		t.Fatal("the upstream received no request")
	}
	return got[len(got)-1]
}

func (u *Upstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.received = append(u.received, Received{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	reply, ok := u.replies[r.URL.EscapedPath()]
	if !ok && u.fallback != nil {
		reply, ok = *u.fallback, true
	}
	u.mu.Unlock()
	if !ok {
		http.Error(w, `{"error":{"message":"mock upstream: no reply for `+r.URL.EscapedPath()+`"}}`, http.StatusNotFound)
		return
	}
	if reply.Delay > 0 {
		select {
		case <-time.After(reply.Delay):
		case <-r.Context().Done():
			return
		}
	}
	for k, vs := range reply.Header {
		w.Header()[k] = vs
	}
	if reply.ContentType != "" {
		w.Header().Set("Content-Type", reply.ContentType)
	}
	status := reply.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	events := Events(reply.ContentType, reply.Body)
	rc := http.NewResponseController(w)
	for i, ev := range events {
		if reply.CutAfter > 0 && i == reply.CutAfter {
			panic(http.ErrAbortHandler)
		}
		if i > 0 && reply.Gap > 0 {
			select {
			case <-time.After(reply.Gap):
			case <-r.Context().Done():
				return
			}
		}
		if _, err := w.Write(ev); err != nil {
			return
		}
		rc.Flush()
	}
}

// Events splits a body the way a provider sends it: SSE at blank lines,
// AWS event streams at frame boundaries, anything else in one piece.
func Events(contentType string, body []byte) [][]byte {
	switch {
	case strings.HasPrefix(contentType, "text/event-stream"):
		var out [][]byte
		for len(body) > 0 {
			i := bytes.Index(body, []byte("\n\n"))
			if i < 0 {
				out = append(out, body)
				break
			}
			out = append(out, body[:i+2])
			body = body[i+2:]
		}
		return out
	case strings.HasPrefix(contentType, "application/vnd.amazon.eventstream"):
		var out [][]byte
		for len(body) >= 4 {
			n := int(binary.BigEndian.Uint32(body[:4]))
			if n <= 0 || n > len(body) {
				out = append(out, body)
				break
			}
			out = append(out, body[:n])
			body = body[n:]
		}
		return out
	}
	return [][]byte{body}
}

// Fixture reads a recorded body from testdata/upstream, relative to the
// repository root found from the test's directory.
func Fixture(t testing.TB, rel string) []byte {
	t.Helper()
	for _, dir := range []string{"testdata/upstream/", "../testdata/upstream/", "../../testdata/upstream/"} {
		if b, err := os.ReadFile(dir + rel); err == nil {
			return b
		}
	}
	t.Fatalf("fixture %s not found under testdata/upstream", rel)
	return nil
}
