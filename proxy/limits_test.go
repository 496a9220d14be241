package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/proxy/proxytest"
	"github.com/sluice-gateway/sluice/store"
)

// sizeSink keeps records without their raw bodies (noting their sizes),
// so the test's own bookkeeping holds no memory the gateway let go of.
type sizeSink struct {
	mu   sync.Mutex
	recs []store.Record
	raw  []int
}

func (s *sizeSink) Healthy() error { return nil }

func (s *sizeSink) Write(r store.Record) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.raw = append(s.raw, len(r.RawRequest)+len(r.RawResponse))
	r.RawRequest, r.RawResponse = nil, nil
	s.recs = append(s.recs, r)
	return true
}

// hugeStream is an upstream that answers every chat request with a
// stream of size bytes of content (in events of 32 KiB), then its usage.
func hugeStream(t *testing.T, size int) *httptest.Server {
	t.Helper()
	event := []byte(`data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-5","choices":[{"index":0,"delta":{"content":"` +
		strings.Repeat("lorem ipsum ", 32<<10/12) + `"}}]}` + "\n\n")
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for sent := 0; sent < size; sent += len(event) {
			if _, err := w.Write(event); err != nil {
				return
			}
			rc.Flush()
		}
		io.WriteString(w, `data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-5","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7}}`+"\n\ndata: [DONE]\n\n")
	}))
	t.Cleanup(up.Close)
	return up
}

// TestKeptBodyBudgetUnderFlood streams large answers through the gateway,
// several at once, with save_raws on and a hook that wants the whole
// response body and raw messages, while sampling the heap. The heap in
// use stays within the kept-body budget plus a fixed margin (without the
// budget every request held some 70 MB), every record is marked
// truncated, and the usage at each answer's end is still counted.
func TestKeptBodyBudgetUnderFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("streams hundreds of megabytes")
	}
	const (
		budget = 16 << 20
		perReq = 4 << 20
		// margin covers what does not grow with the answers: the
		// gateway's and the test's fixed state, copy buffers, one event
		// per stream in flight, the slack of growing buffers, and garbage
		// the collector has not reclaimed yet. Without the budget the heap
		// grows by about 1 GiB here.
		margin = 48 << 20
	)
	clients, size := 8, 24<<20
	if raceEnabled {
		// Still more than a request's share each, and together as much
		// as the budget.
		clients, size = 4, 5<<20
	}
	up := hugeStream(t, size)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{}`)
	}))
	t.Cleanup(hook.Close)
	sink := &sizeSink{}
	gw := newGateway(t, `{
		"database": {"save_raws": true},
		"providers": {"openai": {"baseurl": "`+up.URL+`", "apikey": "k", "models": ["gpt-5"]}},
		"hooks": {"audit": {"url": "`+hook.URL+`"}},
		"temp_grants": [
			{"src": ["*"], "grants": [{"role": "user"}, {"providers": [{"provider": "*", "model": "*"}]}]},
			{"src": ["*"], "grants": [{"hook": {"match": {"events": ["entire_request"]}, "hook": "audit", "fields": ["response_body", "raw_responses"]}}]},
		],
	}`, "alice@example.com", func(o *Options) {
		o.Sink = sink
		o.KeptBodyBudget, o.KeptBodyMax = budget, perReq
	})

	// The budget bounds what the gateway keeps, not the garbage the
	// streams leave behind: collect often, so the heap in use tracks what
	// is alive whatever the GC's pacing does on a busy machine.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, gw.URL+"/v1/chat/completions",
				strings.NewReader(fmt.Sprintf(`{"model":"gpt-5","stream":true,"messages":[{"role":"user","content":"flood %d"}]}`, i)))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			if n, err := io.Copy(io.Discard, resp.Body); err != nil || n < int64(size) {
				t.Errorf("client %d read %d bytes, %v; want the whole answer", i, n, err)
			}
		})
	}
	wg.Wait()
	drain(t, gw)
	close(stop)
	<-sampled
	elapsed := time.Since(start)

	grown := int64(peak.Load()) - int64(base)
	t.Logf("%d answers of %d MiB in %v; heap in use peaked %.1f MiB over the %.1f MiB before (budget %d MiB)",
		clients, size>>20, elapsed.Round(time.Millisecond), float64(grown)/(1<<20), float64(base)/(1<<20), budget>>20)
	if grown > budget+margin {
		t.Errorf("heap in use grew by %d MiB; want at most the budget (%d MiB) plus %d MiB", grown>>20, budget>>20, margin>>20)
	}
	if used := gw.srv.kept.used.Load(); used != 0 {
		t.Errorf("%d bytes of the budget still taken after every request ended", used)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.recs) != clients {
		t.Fatalf("%d records, want %d", len(sink.recs), clients)
	}
	for i, rec := range sink.recs {
		if rec.Status != 200 || !rec.Truncated || rec.Usage.Output.Value() != 7 || sink.raw[i] > perReq {
			t.Errorf("record %d: status %d, truncated %v, output tokens %d, raws %d bytes; want 200, truncated, 7, at most %d",
				i, rec.Status, rec.Truncated, rec.Usage.Output.Value(), sink.raw[i], perReq)
		}
	}
}

// TestTruncatedAnswerInAPIAndHook: an answer larger than a request's
// share is cut in the record (and the request log API says so), and the
// hook that wants the response is told.
func TestTruncatedAnswerInAPIAndHook(t *testing.T) {
	up := hugeStream(t, 1<<20)
	rc := newReceiver(t)
	gw := newGateway(t, `{
		"database": {"save_raws": true},
		"providers": {"openai": {"baseurl": "`+up.URL+`", "apikey": "k", "models": ["gpt-5"]}},
		"hooks": {"audit": {"url": "`+rc.URL+`/audit"}},
		"temp_grants": [
			{"src": ["*"], "grants": [{"role": "user"}, {"providers": [{"provider": "*", "model": "*"}]}]},
			{"src": ["*"], "grants": [{"hook": {"match": {"events": ["entire_request"]}, "hook": "audit", "fields": ["response_body"]}}]},
		],
	}`, "alice@example.com", func(o *Options) { o.KeptBodyMax = 256 << 10 })
	resp, body := post(t, gw.URL+"/v1/chat/completions", nil, streamChat)
	if resp.StatusCode != 200 || len(body) < 1<<20 {
		t.Fatalf("status %d, %d bytes; want the whole answer", resp.StatusCode, len(body))
	}
	rec := waitRecords(t, gw, 1)[0]
	if !rec.Truncated || len(rec.RawResponse) == 0 || len(rec.RawResponse) > 256<<10 || rec.Error != "" {
		t.Errorf("record: truncated %v, raw response %d bytes, error %q; want a truncated prefix of at most 256 KiB and no error",
			rec.Truncated, len(rec.RawResponse), rec.Error)
	}
	drain(t, gw)
	got := rc.events("entire_request")
	if len(got) != 1 || got[0].Payload["truncated"] != true {
		t.Fatalf("hook deliveries %d, truncated %v; want one, marked truncated", len(got), got)
	}
	if b, _ := json.Marshal(got[0].Payload["response_body"]); len(b) > 256<<10 {
		t.Errorf("hook got a %d-byte response body under a 256 KiB cap", len(b))
	}
}

// TestMalformedAnswerRecordedAsUpstreamError: a 200 answer that is not
// what it declares reaches the client as it came (status and bytes), and
// the record says the upstream failed.
func TestMalformedAnswerRecordedAsUpstreamError(t *testing.T) {
	converse := proxytest.Fixture(t, "bedrock_converse/tool_use.eventstream")
	badCRC := append([]byte(nil), converse...)
	badCRC[len(badCRC)-1] ^= 0xff
	tests := []struct {
		name, path, body, ctype, answer string
	}{
		{"HTML for JSON", "/v1/chat/completions", `{"model":"gpt-5","messages":[]}`, "text/html", "<html><body>maintenance</body></html>"},
		{"JSON cut short", "/v1/chat/completions", `{"model":"gpt-5","messages":[]}`, "application/json", `{"id":"chatcmpl-1","choices":[{"index":0,`},
		{"event-stream that is not SSE", "/v1/chat/completions", streamChat, "text/event-stream", "<html><body>maintenance</body></html>"},
		{"event stream with a bad CRC", "/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/converse-stream",
			`{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`, "application/vnd.amazon.eventstream", string(badCRC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := newGateway(t, `{
				"providers": {
					"openai": {"baseurl": "UPSTREAM", "apikey": "k", "models": ["gpt-5"]},
					"bedrock": {"baseurl": "UPSTREAM", "apikey": "k", "models": ["us.anthropic.claude-sonnet-4-5-20250929-v1:0"],
						"compatibility": {"openai_chat": false, "bedrock_converse": true}},
				},
			}`, "alice@example.com")
			gw.upstream.HandleAll(proxytest.Reply{ContentType: tt.ctype, Body: []byte(tt.answer)})
			resp, body := post(t, gw.URL+tt.path, nil, tt.body)
			if resp.StatusCode != 200 || body != tt.answer {
				t.Errorf("client got %d %q; want the upstream's 200 and bytes unchanged", resp.StatusCode, body)
			}
			rec := waitRecords(t, gw, 1)[0]
			if rec.Status != 200 || rec.ErrorKind != "upstream_error" || !strings.Contains(rec.Error, "malformed response") {
				t.Errorf("record: status %d, kind %q, error %q; want 200, upstream_error, a malformed response", rec.Status, rec.ErrorKind, rec.Error)
			}
		})
	}
}

// TestKeptHeldUntilHookDelivered: the bodies a queued hook delivery
// carries count against the budget until the delivery has ended.
func TestKeptHeldUntilHookDelivered(t *testing.T) {
	up := hugeStream(t, 64<<10)
	rc := newReceiver(t)
	rc.delay, rc.delayPath = 500*time.Millisecond, "/audit"
	gw := newGateway(t, `{
		"providers": {"openai": {"baseurl": "`+up.URL+`", "apikey": "k", "models": ["gpt-5"]}},
		"hooks": {"audit": {"url": "`+rc.URL+`/audit"}},
		"temp_grants": [
			{"src": ["*"], "grants": [{"role": "user"}, {"providers": [{"provider": "*", "model": "*"}]}]},
			{"src": ["*"], "grants": [{"hook": {"match": {"events": ["entire_request"]}, "hook": "audit", "fields": ["response_body"]}}]},
		],
	}`, "alice@example.com")
	post(t, gw.URL+"/v1/chat/completions", nil, streamChat)
	waitRecords(t, gw, 1)
	if used := gw.srv.kept.used.Load(); used < 64<<10 {
		t.Errorf("%d bytes taken while the hook delivery with the response body is under way; want the body's", used)
	}
	drain(t, gw)
	if used := gw.srv.kept.used.Load(); used != 0 {
		t.Errorf("%d bytes still taken after the delivery", used)
	}
}
