package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

const shutdownConfig = `{
	"providers": {
		"openai": {"baseurl": "UPSTREAM", "apikey": "sk-openai", "models": ["gpt-5"]},
		"anthropic": {"baseurl": "UPSTREAM", "apikey": "sk-ant", "authorization": "x-api-key", "models": ["claude-sonnet-4-5"],
			"compatibility": {"openai_chat": false, "anthropic_messages": true}},
	},
	"hooks": {"audit": {"url": "HOOK/audit"}},
	"temp_grants": [
		{"src": ["*"], "grants": [{"role": "user"}, {"providers": [{"provider": "*", "model": "*"}]},
			{"hook": {"match": {"events": ["entire_request"]}, "hook": "audit", "fields": ["response_body"]}}]},
	],
}`

// TestShutdownCutsStreamsThatOutliveTheTimeout: streams that end within
// the shutdown timeout are recorded complete and audited; those still
// running are cut, each recorded once as cut and not audited; hook calls
// queued before the flush are delivered.
func TestShutdownCutsStreamsThatOutliveTheTimeout(t *testing.T) {
	rc := newReceiver(t)
	gw := newGateway(t, strings.ReplaceAll(shutdownConfig, "HOOK", rc.URL), "alice@example.com")
	// Short streams end within the shutdown timeout; long ones would take
	// about a minute.
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "text/event-stream",
		Body: proxytest.Fixture(t, "openai_chat/text.sse"), Gap: 10 * time.Millisecond})
	gw.upstream.Handle("/v1/messages", proxytest.Reply{ContentType: "text/event-stream",
		Body: proxytest.Fixture(t, "anthropic_messages/text.sse"), Gap: 10 * time.Second})
	const short, long = 3, 2
	type answer struct {
		path string
		err  error
		body string
	}
	answers := make(chan answer, short+long)
	var started sync.WaitGroup
	start := func(path, body string) {
		started.Add(1)
		go func() {
			resp, err := http.Post(gw.URL+path, "application/json", strings.NewReader(body))
			started.Done()
			if err != nil {
				answers <- answer{path, err, ""}
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			answers <- answer{path, err, string(b)}
		}()
	}
	for range short {
		start("/v1/chat/completions", streamChat)
	}
	for range long {
		start("/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	}
	started.Wait() // every request has its headers: all are in flight

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := gw.Config.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shutdown within the timeout: %v; want the long streams to outlive it", err)
	}
	if err := gw.srv.Wait(ctx); err == nil {
		t.Fatal("Wait reports no request in flight while long streams run")
	}
	if n := gw.srv.Cut(); n != long {
		t.Errorf("Cut ended %d requests, want %d", n, long)
	}
	gw.Config.Close()
	wctx, wcancel := context.WithTimeout(context.Background(), CutRecordTimeout)
	defer wcancel()
	if err := gw.srv.Wait(wctx); err != nil {
		t.Fatalf("cut requests not recorded: %v", err)
	}
	for range short + long {
		a := <-answers
		switch {
		case a.path == "/v1/chat/completions" && (a.err != nil || !strings.HasSuffix(a.body, "data: [DONE]\n\n")):
			t.Errorf("short stream during shutdown: %v, ends %q", a.err, a.body[max(0, len(a.body)-40):])
		case a.path == "/v1/messages" && a.err == nil:
			t.Errorf("long stream cut at shutdown read to a clean end: %q", a.body)
		}
	}

	recs := gw.sink.all()
	if len(recs) != short+long {
		t.Fatalf("%d rows, want one per request (%d)", len(recs), short+long)
	}
	ids := map[string]bool{}
	complete, cut := 0, 0
	for _, r := range recs {
		if ids[r.ID] {
			t.Errorf("request %s recorded twice", r.ID)
		}
		ids[r.ID] = true
		switch {
		case r.Path == "/v1/chat/completions" && r.Status == 200 && r.Error == "" && r.Usage.Output.Value() > 0:
			complete++
		case r.Path == "/v1/messages" && r.Status == statusCutAtShutdown && r.Error == errCutAtShutdown:
			cut++
		default:
			t.Errorf("unexpected row: path %s status %d error %q", r.Path, r.Status, r.Error)
		}
	}
	if complete != short || cut != long {
		t.Errorf("%d complete and %d cut rows, want %d and %d", complete, cut, short, long)
	}

	hctx, hcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer hcancel()
	if err := gw.srv.Shutdown(hctx); err != nil {
		t.Fatalf("delivering queued hook calls: %v", err)
	}
	if got := rc.events("entire_request"); len(got) != short {
		t.Errorf("%d entire_request deliveries, want %d: one per complete answer, none for cut ones", len(got), short)
	}
}

// TestRequestsAfterCutAreCut: a request that slips in after Cut (a
// keep-alive connection racing the listener's close) is cut at once and
// still recorded.
func TestRequestsAfterCutAreCut(t *testing.T) {
	gw := newGateway(t, strings.ReplaceAll(shutdownConfig, "HOOK", "http://127.0.0.1:9"), "alice@example.com")
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "text/event-stream",
		Body: proxytest.Fixture(t, "openai_chat/text.sse"), Delay: 10 * time.Second})
	gw.srv.Cut()
	resp, err := http.Post(gw.URL+"/v1/chat/completions", "application/json", strings.NewReader(streamChat))
	if err == nil {
		resp.Body.Close()
	}
	recs := waitRecords(t, gw, 1)
	if r := recs[0]; r.Status != statusCutAtShutdown || r.Error != errCutAtShutdown {
		t.Errorf("row after Cut: status %d error %q, want %d %q", r.Status, r.Error, statusCutAtShutdown, errCutAtShutdown)
	}
}

// TestCutEndsAPreRequestHookWait: a request waiting on a pre_request hook
// when Cut runs is ended at once, not when the hook's timeout passes, and
// recorded as cut.
func TestCutEndsAPreRequestHookWait(t *testing.T) {
	rc := newReceiver(t)
	rc.hold, rc.delayPath = make(chan struct{}), "/guard"
	defer close(rc.hold)
	cfg := strings.ReplaceAll(`{
		"providers": {"openai": {"baseurl": "UPSTREAM", "apikey": "sk-openai", "models": ["gpt-5"]}},
		"hooks": {"guard": {"url": "HOOK/guard", "timeout": "60s", "fail_policy": "fail_closed"}},
		"temp_grants": [{"src": ["*"], "grants": [{"role": "user"}, {"providers": [{"provider": "*", "model": "*"}]},
			{"hook": {"match": {"events": ["pre_request"]}, "hook": "guard", "fields": ["request_body"]}}]}],
	}`, "HOOK", rc.URL)
	gw := newGateway(t, cfg, "alice@example.com")
	answered := make(chan error, 1)
	go func() {
		resp, err := http.Post(gw.URL+"/v1/chat/completions", "application/json", strings.NewReader(streamChat))
		if err == nil {
			resp.Body.Close()
		}
		answered <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); len(rc.events("pre_request")) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the pre_request hook was never called")
		}
	}
	start := time.Now()
	if n := gw.srv.Cut(); n != 1 {
		t.Errorf("Cut ended %d requests, want 1", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), CutRecordTimeout)
	defer cancel()
	if err := gw.srv.Wait(ctx); err != nil {
		t.Fatalf("the request waiting on its hook was not ended: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Cut took %v to end a hook wait", took)
	}
	recs := waitRecords(t, gw, 1)
	if r := recs[0]; r.Status != statusCutAtShutdown || r.Error != errCutAtShutdown {
		t.Errorf("row: status %d error %q, want %d %q", r.Status, r.Error, statusCutAtShutdown, errCutAtShutdown)
	}
	<-answered
}
