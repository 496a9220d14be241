package proxy

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/proxy/proxytest"
	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/usage"
)

// TestAbortedStreamUsageNotReported: a stream cut before its usage arrived
// is recorded with usage "not reported" (NULL in the database, absent in
// /api/requests, cost unknown), not with 0 tokens at a known cost; a
// complete stream has its numbers and its cost.
func TestAbortedStreamUsageNotReported(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "sluice.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	writer := store.NewWriter(st, store.WriterOptions{FlushInterval: 10 * time.Millisecond})
	gw := newGateway(t, `{
		"providers": {
			"openai": {"baseurl": "UPSTREAM", "apikey": "k", "models": ["gpt-5"]},
			"flaky": {"baseurl": "UPSTREAM/flaky", "apikey": "k", "models": ["gpt-5-mini"]},
		},
	}`, "alice@example.com", func(o *Options) { o.Sink = writer; o.Store = st })
	sse := proxytest.Fixture(t, "openai_chat/text.sse")
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "text/event-stream", Body: sse})
	gw.upstream.Handle("/flaky/v1/chat/completions", proxytest.Reply{ContentType: "text/event-stream", Body: sse, CutAfter: 2})
	for _, model := range []string{"gpt-5", "gpt-5-mini"} {
		resp, err := http.Post(gw.URL+"/v1/chat/completions", "application/json",
			strings.NewReader(`{"model":"`+model+`","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if err := gw.srv.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := writer.Close(ctx); err != nil {
		t.Fatal(err)
	}

	page, err := st.Requests(ctx, store.Filter{}, store.Page{Limit: 10})
	if err != nil || len(page.Records) != 2 {
		t.Fatalf("rows: %d %v", len(page.Records), err)
	}
	byModel := map[string]store.Record{}
	for _, r := range page.Records {
		byModel[r.Model] = r
	}
	if r := byModel["gpt-5-mini"]; r.Error == "" || r.Usage != (usage.Tokens{}) || r.CostKnown {
		t.Errorf("aborted stream row: error %q usage %+v cost known %v; want an error, usage not reported, cost unknown", r.Error, r.Usage, r.CostKnown)
	}
	if r := byModel["gpt-5"]; !r.Usage.Input.Reported() || !r.Usage.Output.Reported() || r.Usage.Output.Value() == 0 || !r.CostKnown || r.CostUSD <= 0 {
		t.Errorf("complete stream row: usage %+v cost %v/%v; want numbers and a known cost", r.Usage, r.CostUSD, r.CostKnown)
	}

	resp, err := http.Get(gw.URL + "/api/requests")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Requests []map[string]any `json:"requests"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || len(body.Requests) != 2 {
		t.Fatalf("/api/requests: %d rows, %v", len(body.Requests), err)
	}
	for _, r := range body.Requests {
		_, hasIn := r["input_tokens"]
		_, hasOut := r["output_tokens"]
		_, hasCost := r["cost_usd"]
		switch r["model"] {
		case "gpt-5-mini":
			if hasIn || hasOut || hasCost || r["cost_known"] != false {
				t.Errorf("API shows the aborted stream's usage: %v", r)
			}
		case "gpt-5":
			if !hasIn || !hasOut || !hasCost || r["cost_known"] != true {
				t.Errorf("API hides the complete stream's usage: %v", r)
			}
		}
	}
}

// TestHookConditionTellsUsageNotReported: a hook condition sees whether
// the provider reported usage, so "0 tokens" and "not reported" differ.
func TestHookConditionTellsUsageNotReported(t *testing.T) {
	rc := newReceiver(t)
	gw := newGateway(t, strings.ReplaceAll(`{
		"providers": {"openai": {"baseurl": "UPSTREAM", "apikey": "k", "models": ["gpt-5"]}},
		"hooks": {"unreported": {"url": "HOOK/unreported"}, "reported": {"url": "HOOK/reported"}},
		"temp_grants": [{"src": ["*"], "grants": [{"role": "user"}, {"providers": [{"provider": "*", "model": "*"}]},
			{"hook": {"match": {"events": ["entire_request"]}, "hook": "unreported", "fields": [], "condition": "!response.usage.reported"}},
			{"hook": {"match": {"events": ["entire_request"]}, "hook": "reported", "fields": [], "condition": "response.usage.reported && response.usage.total_tokens == 0"}},
		]}],
	}`, "HOOK", rc.URL), "alice@example.com")
	var mu sync.Mutex
	var called []string
	rc.answer = func(path string, _ map[string]any) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		called = append(called, path)
		return 200, `{}`
	}
	for _, tt := range []struct {
		name, body, want string
	}{
		{"no usage", `{"id":"c","object":"chat.completion","model":"gpt-5","choices":[{"index":0,"message":{"role":"assistant","content":""},"finish_reason":"stop"}]}`, "/unreported"},
		{"zero usage", `{"id":"c","object":"chat.completion","model":"gpt-5","choices":[{"index":0,"message":{"role":"assistant","content":""},"finish_reason":"stop"}],"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}}`, "/reported"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			called = nil
			mu.Unlock()
			gw.upstream.HandleAll(proxytest.Reply{ContentType: "application/json", Body: []byte(tt.body)})
			if resp, body := post(t, gw.URL+"/v1/chat/completions", nil, `{"model":"gpt-5","messages":[]}`); resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if err := gw.srv.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
			// Deliveries are asynchronous: wait for the first, then a
			// moment for a wrong second one.
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				mu.Lock()
				n := len(called)
				mu.Unlock()
				if n > 0 {
					break
				}
			}
			time.Sleep(100 * time.Millisecond)
			mu.Lock()
			defer mu.Unlock()
			if len(called) != 1 || called[0] != tt.want {
				t.Errorf("hooks called %v, want only %s", called, tt.want)
			}
		})
	}
}
