package proxy

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/proxy/hooks"
	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
	"github.com/sluice-gateway/sluice/store"
)

// waitRecords waits until the sink holds n records and returns them: a
// record is written when the handler returns, which can be just after the
// client has read the whole answer.
func waitRecords(t *testing.T, gw *gateway, n int) []store.Record {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if recs := gw.sink.all(); len(recs) >= n {
			return recs
		}
	}
	t.Fatalf("sink has %d records, want %d", len(gw.sink.all()), n)
	return nil
}

const streamChat = `{"model":"gpt-5","stream":true,"stream_options":{"include_usage":true},"messages":[]}`

// TestClientDisconnectCancelsUpstream: a client that leaves mid-stream
// cancels the upstream call, and the request is still recorded (499).
func TestClientDisconnectCancelsUpstream(t *testing.T) {
	gw := newGateway(t, pipelineConfig, "alice@example.com")
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "text/event-stream",
		Body: proxytest.Fixture(t, "openai_chat/text.sse"), Gap: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, gw.URL+"/v1/chat/completions", strings.NewReader(streamChat))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1024)
	resp.Body.Read(buf) // the first event
	cancel()
	resp.Body.Close()
	start := time.Now()
	waitRecords(t, gw, 1)
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("the request ended %v after the client left: the upstream was not cancelled", elapsed)
	}
	rec := gw.sink.all()[0]
	if rec.Status != statusClientClosed || rec.Error == "" {
		t.Errorf("record status %d error %q, want 499 with an error", rec.Status, rec.Error)
	}
}

// TestUpstreamFailsMidStream: an upstream that drops the connection after
// some events aborts the client's stream (no fake clean end) and the
// record says so.
func TestUpstreamFailsMidStream(t *testing.T) {
	gw := newGateway(t, pipelineConfig, "alice@example.com")
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "text/event-stream",
		Body: proxytest.Fixture(t, "openai_chat/text.sse"), CutAfter: 3})
	resp, err := http.Post(gw.URL+"/v1/chat/completions", "application/json", strings.NewReader(streamChat))
	if err != nil {
		t.Fatal(err)
	}
	body, readErr := io.ReadAll(resp.Body)
	resp.Body.Close()
	if readErr == nil {
		t.Errorf("client read the cut stream to a clean end (%d bytes); want an error", len(body))
	}
	if !strings.Contains(string(body), `"content":"!"`) || strings.Contains(string(body), "[DONE]") {
		t.Errorf("client got %q; want the events before the cut and no end marker", body)
	}
	waitRecords(t, gw, 1)
	if rec := gw.sink.all()[0]; rec.Error == "" {
		t.Errorf("record of a cut stream has no error: %+v", rec)
	}
}

// TestIdleStreamTimeout: a stream that stalls longer than the idle timeout
// is ended instead of holding the client forever.
func TestIdleStreamTimeout(t *testing.T) {
	gw := newGateway(t, pipelineConfig, "alice@example.com", func(o *Options) { o.IdleStreamTimeout = 150 * time.Millisecond })
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "text/event-stream",
		Body: proxytest.Fixture(t, "openai_chat/text.sse"), Gap: 2 * time.Second})
	start := time.Now()
	resp, err := http.Post(gw.URL+"/v1/chat/completions", "application/json", strings.NewReader(streamChat))
	if err != nil {
		t.Fatal(err)
	}
	_, readErr := io.ReadAll(resp.Body)
	resp.Body.Close()
	if elapsed := time.Since(start); elapsed > 1500*time.Millisecond || readErr == nil {
		t.Errorf("stream ended after %v with %v; want it cut near 150ms with an error", elapsed, readErr)
	}
	waitRecords(t, gw, 1)
	if rec := gw.sink.all()[0]; !strings.Contains(rec.Error, "upstream stream idle for 150ms") {
		t.Errorf("record error %q, want it to say the stream went idle", rec.Error)
	}
}

// TestIdleStreamTimeoutCountsFromTheLastEvent: the idle bound is on the
// gaps between events, not on the stream's length: a stream whose events
// come more often than the bound goes through whole however long it
// lasts, also when its gaps come close to the bound (the timer then
// fires between events and waits for the rest of the gap).
// TestIdleStreamTimeout is the stream that stalls. The gaps leave the
// bound 200 ms or more of slack, so that a test machine busy with the
// race detector does not stretch one past it.
func TestIdleStreamTimeoutCountsFromTheLastEvent(t *testing.T) {
	const idle = 500 * time.Millisecond
	tests := []struct {
		name string
		gap  time.Duration
	}{
		{name: "gaps a third of the bound", gap: idle / 3},
		{name: "gaps near the bound", gap: idle * 3 / 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gw := newGateway(t, pipelineConfig, "alice@example.com", func(o *Options) { o.IdleStreamTimeout = idle })
			gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "text/event-stream",
				Body: proxytest.Fixture(t, "openai_chat/text.sse"), Gap: tt.gap})
			start := time.Now()
			resp, err := http.Post(gw.URL+"/v1/chat/completions", "application/json", strings.NewReader(streamChat))
			if err != nil {
				t.Fatal(err)
			}
			got, readErr := io.ReadAll(resp.Body)
			resp.Body.Close()
			elapsed := time.Since(start)
			waitRecords(t, gw, 1)
			rec := gw.sink.all()[0]
			if readErr != nil || rec.Error != "" || !strings.HasSuffix(string(got), "data: [DONE]\n\n") {
				t.Fatalf("stream of %v: read error %v, record error %q, %d bytes; want it whole", elapsed, readErr, rec.Error, len(got))
			}
			if elapsed < 3*idle {
				t.Fatalf("stream took %v; the test needs it well past the bound", elapsed)
			}
		})
	}
}

// TestGracefulShutdownLetsStreamsFinish: shutting the server down waits for
// a running stream, which the client receives whole.
func TestGracefulShutdownLetsStreamsFinish(t *testing.T) {
	gw := newGateway(t, pipelineConfig, "alice@example.com")
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "text/event-stream",
		Body: proxytest.Fixture(t, "openai_chat/text.sse"), Gap: 30 * time.Millisecond})
	resp, err := http.Post(gw.URL+"/v1/chat/completions", "application/json", strings.NewReader(streamChat))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- gw.Config.Shutdown(ctx)
	}()
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !strings.HasSuffix(string(body), "data: [DONE]\n\n") {
		t.Errorf("stream during shutdown: %v, ends %q", err, body[max(0, len(body)-40):])
	}
	if err := <-done; err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// TestAfterResponseHooksNeverDelayTheClient: slow and dead hooks do not
// change or delay the answer. The slow hook answers only once the client
// has its answer, and the dead one is retried a minute apart, so a client
// that waited for either would run into its own timeout.
func TestAfterResponseHooksNeverDelayTheClient(t *testing.T) {
	for _, tc := range []struct {
		name string
		dead bool
	}{{name: "slow hook"}, {name: "dead hook", dead: true}} {
		t.Run(tc.name, func(t *testing.T) {
			retryLate := hooks.NewDispatcher(hooks.Options{Backoff: func(int) time.Duration { return time.Minute }})
			gw, rc := newHookGateway(t, "fail_open", func(o *Options) { o.Hooks = retryLate })
			release := make(chan struct{})
			defer close(release)
			rc.hold, rc.delayPath = release, "/audit"
			if tc.dead {
				rc.Close()
			}
			gw.upstream.HandleAll(proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
			client := &http.Client{Timeout: 20 * time.Second}
			resp, err := client.Post(gw.URL+"/v1/chat/completions", "application/json",
				strings.NewReader(`{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`))
			if err != nil {
				t.Fatalf("the client waited for the hook: %v", err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || !strings.Contains(string(body), `"content":"hello"`) {
				t.Errorf("client got %d (%v): %s", resp.StatusCode, err, body)
			}
		})
	}
}

// TestMetricsCountHookDeliveries: /metrics tells an admin how hook
// deliveries went, by hook, without anything but counts.
func TestMetricsCountHookDeliveries(t *testing.T) {
	// alice (no header) uses models; ops@example.com, an admin, reads the
	// metrics.
	gw, rc := newHookGateway(t, "fail_open", func(o *Options) {
		o.Identity = identity.TrustedHeaders(identity.HeaderTrust{Fallback: identity.Local("alice@example.com")})
	})
	gw.upstream.HandleAll(proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
	post(t, gw.URL+"/v1/chat/completions", nil, `{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`)
	drain(t, gw)
	if n := len(rc.events("entire_request")); n != 1 {
		t.Fatalf("audit hook got %d deliveries", n)
	}
	req, _ := http.NewRequest(http.MethodGet, gw.URL+"/metrics", nil)
	req.Header.Set(identity.HeaderUserLogin, "ops@example.com")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`sluice_hook_deliveries_total{hook="audit",outcome="delivered"} 1`,
		`sluice_hook_deliveries_total{hook="guard",outcome="delivered"} 1`,
		"sluice_hook_queue_length 0",
		"sluice_kept_body_bytes 0", // the request gave back what it kept
		"sluice_kept_body_budget_bytes 2.68435456e+08",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	if strings.Contains(string(body), "secret") {
		t.Error("metrics carry a credential")
	}
}
