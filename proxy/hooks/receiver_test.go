package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

// received is one request a test receiver got.
type received struct {
	Header http.Header
	Body   []byte
}

// payload decodes the received body as a generic JSON object.
func (r received) payload(t *testing.T) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("hook got a body that is not a JSON object: %v\n%s", err, r.Body)
	}
	return m
}

// receiver is a hook endpoint on loopback that records every request and
// answers through respond (call n counts from 0).
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	got     []received
	arrived chan struct{}
}

type respondFunc func(n int, w http.ResponseWriter, r *http.Request)

func newReceiver(t *testing.T, respond respondFunc) *receiver {
	t.Helper()
	rc := &receiver{arrived: make(chan struct{}, 1024)}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		n := len(rc.got)
		rc.got = append(rc.got, received{Header: r.Header.Clone(), Body: body})
		rc.mu.Unlock()
		select {
		case rc.arrived <- struct{}{}:
		default:
		}
		if respond == nil {
			w.WriteHeader(http.StatusOK)
			return
		}
		respond(n, w, r)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// waitFor blocks until the receiver has got n requests, or fails the test
// after a few seconds.
func (rc *receiver) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for len(rc.requests()) < n {
		select {
		case <-rc.arrived:
		case <-deadline:
			t.Fatalf("receiver got %d requests, want %d", len(rc.requests()), n)
		}
	}
}

// hook returns a hook pointing at the receiver.
func (rc *receiver) hook(name string) *policy.Hook {
	return &policy.Hook{Name: name, URL: rc.srv.URL + "/hook", Authorization: policy.AuthBearer,
		Timeout: 2 * time.Second, FailPolicy: policy.FailOpen}
}

// answer replies with a fixed status and body.
func answer(status int, body string) respondFunc {
	return func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// hang holds the call until the caller gives up (or a bound passes).
func hang(_ int, w http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(5 * time.Second):
	}
}

// deadURL returns a loopback URL on which nothing listens.
func deadURL(t *testing.T) string {
	t.Helper()
	return "http://" + proxytest.RefusingAddr(t) + "/hook"
}

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// newTestDispatcher starts a dispatcher without backoff waits whose logs go
// to the returned buffer; it is shut down when the test ends.
func newTestDispatcher(t *testing.T, opts Options) (*Dispatcher, *logBuffer) {
	t.Helper()
	logs := new(logBuffer)
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	if opts.Backoff == nil {
		opts.Backoff = func(int) time.Duration { return 0 }
	}
	d := NewDispatcher(opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = d.Shutdown(ctx)
	})
	return d, logs
}

// drain shuts d down, waiting for every queued delivery to finish.
func drain(t *testing.T, d *Dispatcher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// testMetadata is the request context used across tests.
var testMetadata = Metadata{
	LoginName:    "alice@example.com",
	UserAgent:    "curl/8.0",
	URL:          "http://ai/v1/chat/completions",
	Model:        "gpt-5",
	Provider:     "openai",
	TailnetName:  "example.com",
	StableNodeID: "n12345",
	RequestID:    "req-1",
	SessionID:    "sess-1",
}
