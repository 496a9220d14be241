package proxy

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-gateway/sluice/internal/accessline"
	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

// lockedBuffer is a bytes.Buffer for a logger and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAccessLog: each request leaves one JSON access line that names the
// request, the decision, the caller, the model, the provider, the status,
// the tokens and the latency, and holds neither key nor prompt.
func TestAccessLog(t *testing.T) {
	var buf lockedBuffer
	gw := newMetricsGateway(t, func(o *Options) { o.AccessLog = slog.New(slog.NewJSONHandler(&buf, nil)) })
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
	resp, _ := post(t, gw.URL+"/v1/chat/completions", map[string]string{"Authorization": "Bearer sk-client-secret"},
		`{"model":"gpt-5","messages":[{"role":"user","content":"my confidential prompt"}]}`)
	denied, _ := post(t, gw.URL+"/v1/messages", map[string]string{identity.HeaderUserLogin: "bob@example.com"},
		`{"model":"shared","max_tokens":10,"messages":[{"role":"user","content":"my confidential prompt"}]}`)
	drain(t, gw)
	out := buf.String()
	for _, secret := range []string{"sk-client-secret", "sk-provider", "confidential"} {
		if strings.Contains(out, secret) {
			t.Errorf("access log carries %q:\n%s", secret, out)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d access lines, want 2:\n%s", len(lines), out)
	}
	type line struct {
		Msg          string  `json:"msg"`
		RequestID    string  `json:"request_id"`
		DecisionID   string  `json:"decision_id"`
		Login        string  `json:"login"`
		Model        string  `json:"model"`
		Provider     string  `json:"provider"`
		Status       int     `json:"status"`
		InputTokens  int64   `json:"input_tokens"`
		OutputTokens int64   `json:"output_tokens"`
		LatencyMS    float64 `json:"latency_ms"`
		ErrorKind    string  `json:"error_kind"`
	}
	var ok, deny line
	if err := json.Unmarshal([]byte(lines[0]), &ok); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &deny); err != nil {
		t.Fatal(err)
	}
	want := line{Msg: "access", RequestID: resp.Header.Get(headerRequestID), DecisionID: resp.Header.Get(headerDecisionID),
		Login: "alice@example.com", Model: "gpt-5", Provider: "openai", Status: 200, InputTokens: 12, OutputTokens: 3, LatencyMS: ok.LatencyMS}
	if ok != want || ok.LatencyMS <= 0 || ok.RequestID == "" || ok.DecisionID == "" {
		t.Errorf("access line\n%+v, want\n%+v", ok, want)
	}
	if deny.Login != "bob@example.com" || deny.Status != 403 || deny.ErrorKind != "permission_denied" ||
		deny.DecisionID != denied.Header.Get(headerDecisionID) || deny.DecisionID == "" {
		t.Errorf("denied request's line %+v", deny)
	}
}

// TestAccessLineSameThroughAccessline: the access lines of requests that
// succeed, are denied or stream, handed to serve's access handler and to
// slog's (one record to both), are the same bytes in text and JSON.
func TestAccessLineSameThroughAccessline(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var got, want lockedBuffer
			var h slog.Handler
			if format == "json" {
				h = slog.NewMultiHandler(accessline.NewJSON(&got, nil), slog.NewJSONHandler(&want, nil))
			} else {
				h = slog.NewMultiHandler(accessline.NewText(&got, nil), slog.NewTextHandler(&want, nil))
			}
			gw := newMetricsGateway(t, func(o *Options) { o.AccessLog = slog.New(h).With("log", "access") })
			gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
			post(t, gw.URL+"/v1/chat/completions", nil, `{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`)
			post(t, gw.URL+"/v1/messages", map[string]string{identity.HeaderUserLogin: "bob \"the\" builder=1@example.com"},
				`{"model":"shared","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`)
			post(t, gw.URL+"/v1/chat/completions?x=a%20b", nil, `{"model":"no such model é","messages":[]}`)
			drain(t, gw)
			if n := strings.Count(got.String(), "\n"); n != 3 || got.String() != want.String() {
				t.Errorf("%d lines\n%s\nslog's handler wrote\n%s", n, got.String(), want.String())
			}
		})
	}
}
