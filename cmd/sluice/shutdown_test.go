package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/store"
)

// TestServeShutdownStages: a stream that outlives --shutdown-timeout is
// cut and still gets its row; the request log and the hook queue are
// flushed with their own budgets after the timeout was used up, so the
// hook call of an answer completed before shutdown is delivered although
// the hook receiver is slower than the shutdown timeout.
func TestServeShutdownStages(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Path, "chat") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-5","choices":[{"index":0,"delta":{"content":"a"}}]}`+"\n\n")
		w.(http.Flusher).Flush()
		if strings.Contains(r.Header.Get("User-Agent"), "slow") {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(30 * time.Second):
			}
		}
		io.WriteString(w, `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-5","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`+"\n\ndata: [DONE]\n\n")
	}))
	defer upstream.Close()
	var delivered atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(800 * time.Millisecond) // slower than --shutdown-timeout
		delivered.Add(1)
	}))
	defer hook.Close()
	config := writeFile(t, `{
		"providers": {"openai": {"baseurl": "`+upstream.URL+`", "apikey": "k", "models": ["gpt-5"]}},
		"hooks": {"audit": {"url": "`+hook.URL+`/audit", "timeout": "5s"}},
		"temp_grants": [{"src": ["*"], "grants": [{"role": "user"}, {"providers": [{"provider": "*", "model": "*"}]},
			{"hook": {"match": {"events": ["entire_request"]}, "hook": "audit", "fields": ["response_body"]}}]}],
	}`)
	state := t.TempDir()
	base, stderr, stop := startServe(t, "--listen", "127.0.0.1:0", "--config", config, "--state-dir", state, "--local-user", "dev@example.com", "--shutdown-timeout", "300ms")

	chat := `{"model":"gpt-5","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	post := func(agent string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/completions", strings.NewReader(chat))
		req.Header.Set("User-Agent", agent)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	done := post("fast")
	io.Copy(io.Discard, done.Body)
	done.Body.Close()
	slow := post("slow") // headers and first event arrived: in flight
	go func() { io.Copy(io.Discard, slow.Body); slow.Body.Close() }()

	if code := stop(); code != 1 {
		t.Errorf("serve exited %d after cutting a stream, want 1: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "were cut") {
		t.Errorf("stderr does not say streams were cut: %s", stderr.String())
	}
	for _, stage := range []string{"waiting for running requests and streams", "request log written", "queued hook calls delivered"} {
		if !strings.Contains(stderr.String(), stage) {
			t.Errorf("stderr does not say %q: %s", stage, stderr.String())
		}
	}
	if n := delivered.Load(); n != 1 {
		t.Errorf("%d hook deliveries after shutdown, want 1 (the complete answer's)", n)
	}

	st, err := store.Open(context.Background(), filepath.Join(state, "sluice.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	page, err := st.Requests(context.Background(), store.Filter{}, store.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]store.Record{}
	for _, r := range page.Records {
		rows[r.UserAgent] = r
	}
	if len(page.Records) != 2 {
		t.Fatalf("%d rows, want 2 (one per request)", len(page.Records))
	}
	if r := rows["fast"]; r.Status != 200 || r.Error != "" || r.Usage.Output.Value() != 1 {
		t.Errorf("complete stream: status %d error %q output %d, want 200, no error, 1 token", r.Status, r.Error, r.Usage.Output.Value())
	}
	if r := rows["slow"]; r.Status != http.StatusServiceUnavailable || r.Error != "cut at shutdown" {
		t.Errorf("cut stream: status %d error %q, want 503 %q", r.Status, r.Error, "cut at shutdown")
	}
}
