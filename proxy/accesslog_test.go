package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

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

// pairHandler hands each line to serve's access handler and to slog's,
// through HandleAttrs when the gateway uses it.
type pairHandler struct {
	fast, std slog.Handler
	viaAttrs  *int // lines handed through HandleAttrs
}

func (p pairHandler) Enabled(ctx context.Context, l slog.Level) bool { return p.fast.Enabled(ctx, l) }

func (p pairHandler) Handle(ctx context.Context, r slog.Record) error {
	return errors.Join(p.fast.Handle(ctx, r.Clone()), p.std.Handle(ctx, r))
}

func (p pairHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return pairHandler{p.fast.WithAttrs(as), p.std.WithAttrs(as), p.viaAttrs}
}

func (p pairHandler) WithGroup(name string) slog.Handler {
	return pairHandler{p.fast.WithGroup(name), p.std.WithGroup(name), p.viaAttrs}
}

func (p pairHandler) HandleAttrs(ctx context.Context, t time.Time, level slog.Level, msg string, attrs []slog.Attr) error {
	*p.viaAttrs++
	r := slog.NewRecord(t, level, msg, 0)
	r.AddAttrs(attrs...)
	return errors.Join(p.fast.(attrsHandler).HandleAttrs(ctx, t, level, msg, attrs), p.std.Handle(ctx, r))
}

// TestAccessLineSameThroughAccessline: the access lines of requests that
// succeed, are denied or ask for an unknown model, handed to serve's
// access handler and to slog's (the same line to both), are the same
// bytes in text and JSON, whether the gateway hands them a record or
// (serve's handler) the attributes alone.
func TestAccessLineSameThroughAccessline(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		for _, viaAttrs := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/attrs=%v", format, viaAttrs), func(t *testing.T) {
				var got, want lockedBuffer
				fast, std := slog.Handler(accessline.NewText(&got, nil)), slog.Handler(slog.NewTextHandler(&want, nil))
				if format == "json" {
					fast, std = accessline.NewJSON(&got, nil), slog.NewJSONHandler(&want, nil)
				}
				handedAttrs := 0
				var h slog.Handler = slog.NewMultiHandler(fast, std)
				if viaAttrs {
					h = pairHandler{fast, std, &handedAttrs}
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
				if viaAttrs && handedAttrs != 3 {
					t.Errorf("%d lines handed as attributes, want 3", handedAttrs)
				}
			})
		}
	}
}
