package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/proxy/proxytest"
	"github.com/sluice-gateway/sluice/quota"
)

// chatStream is an OpenAI chat stream of n content chunks of "abcd" (one
// estimated token each), with a role chunk first and, when complete, the
// finish, usage and [DONE] at the end.
func chatStream(n int, complete bool) []byte {
	var b strings.Builder
	b.WriteString(`data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-5","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}` + "\n\n")
	for range n {
		b.WriteString(`data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-5","choices":[{"index":0,"delta":{"content":"abcd"}}]}` + "\n\n")
	}
	if complete {
		b.WriteString(`data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-5","choices":[{"index":0,"delta":{},"finish_reason":"length"}]}` + "\n\n")
		fmt.Fprintf(&b, `data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-5","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":%d,"total_tokens":%d}}`+"\n\n", n, n+5)
		b.WriteString("data: [DONE]\n\n")
	}
	return []byte(b.String())
}

// anthropicStream is a Messages stream of n text deltas of "abcd".
func anthropicStream(n int) []byte {
	var b strings.Builder
	b.WriteString("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n")
	b.WriteString("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
	for range n {
		b.WriteString("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"abcd\"}}\n\n")
	}
	b.WriteString("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")
	fmt.Fprintf(&b, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":%d}}\n\n", n)
	b.WriteString("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	return []byte(b.String())
}

// tokens is what n output tokens cost in quotaConfig ($2,000 per million).
func tokens(n int64) quota.Amount { return quota.Amount(n) * 2000 * 1000 }

// TestQuotaAbortSettlesToEstimate: a stream that ends without its usage
// settles to the estimate (the text streamed so far at the output price),
// not to its whole reservation nor to nothing; one that failed before any
// output gives the whole reservation back.
func TestQuotaAbortSettlesToEstimate(t *testing.T) {
	tests := []struct {
		name  string
		reply proxytest.Reply
		// clientStops, when positive, is the number of content chunks
		// after which the client hangs up.
		clientStops int
		// charged is the least and most the bucket is charged.
		least, most quota.Amount
	}{
		{name: "upstream cut after 5 content chunks",
			reply: proxytest.Reply{ContentType: "text/event-stream", Body: chatStream(50, true), CutAfter: 6},
			least: tokens(5), most: tokens(5)},
		{name: "client hangs up after 5 content chunks",
			reply:       proxytest.Reply{ContentType: "text/event-stream", Body: chatStream(50, true), Gap: 20 * time.Millisecond},
			clientStops: 5, least: tokens(5), most: tokens(50)},
		{name: "upstream cut before any output",
			reply: proxytest.Reply{ContentType: "text/event-stream", Body: chatStream(50, true), CutAfter: 1},
			least: 0, most: 0},
		{name: "complete stream settles to its usage",
			reply: proxytest.Reply{ContentType: "text/event-stream", Body: chatStream(7, true)},
			least: tokens(7), most: tokens(7)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t, filepath.Join(t.TempDir(), "sluice.db"))
			gw := newGateway(t, quotaConfig, "alice@example.com", func(o *Options) { o.Store = st })
			gw.upstream.Handle("/s/v1/chat/completions", tt.reply)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// max_tokens 200 reserves $0.40.
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, gw.URL+"/v1/chat/completions",
				strings.NewReader(`{"model":"gpt-5-s","max_tokens":200,"stream":true,"messages":[{"role":"user","content":"hi"}]}`))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if tt.clientStops > 0 {
				sc := bufio.NewScanner(resp.Body)
				seen := 0
				for seen < tt.clientStops && sc.Scan() {
					if strings.Contains(sc.Text(), `"content":"abcd"`) {
						seen++
					}
				}
				cancel()
			} else {
				io.Copy(io.Discard, resp.Body)
			}
			resp.Body.Close()
			const name = "daily:alice@example.com"
			// Settled once the record is written.
			for deadline := time.Now().Add(30 * time.Second); len(gw.sink.all()) == 0; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("no record")
				}
			}
			waitSettled(t, st, name, quota.Dollar-tt.most-quota.Dollar/1000)
			bals, err := st.Balances(context.Background(), []string{name})
			if err != nil {
				t.Fatal(err)
			}
			// The weekly refill adds under $0.0001 in a test's time.
			charged := quota.Dollar - bals[name].Amount
			if charged < tt.least-quota.Dollar/10_000 || charged > tt.most {
				t.Errorf("charged %v, want between %v and %v (reservation $0.40); record %+v", charged, tt.least, tt.most, gw.sink.all()[0])
			}
		})
	}
}

// TestQuotaCutoff: with the cut-off on, a stream whose model ignores
// max_tokens is stopped once it passes its reservation, with an error
// event in the caller's stream format and the reason in the log row; with
// it off, the stream runs to its end.
func TestQuotaCutoff(t *testing.T) {
	tests := []struct {
		name, path, upstreamPath, body string
		stream                         []byte
		cutoff                         bool
		chunk                          string // marks a content event
		errorEvent                     []string
	}{
		{name: "openai chat", path: "/v1/chat/completions", upstreamPath: "/s/v1/chat/completions",
			body:   `{"model":"gpt-5-s","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			stream: chatStream(100, true), cutoff: true, chunk: `"content":"abcd"`,
			errorEvent: []string{`data: {"error":{`, `"type":"rate_limit_error"`, `quota cut-off`}},
		{name: "anthropic", path: "/v1/messages", upstreamPath: "/v1/messages",
			body:   `{"model":"claude-sonnet-4-5","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			stream: anthropicStream(100), cutoff: true, chunk: `"text":"abcd"`,
			errorEvent: []string{"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\"", `quota cut-off`}},
		{name: "openai chat without the cut-off", path: "/v1/chat/completions", upstreamPath: "/s/v1/chat/completions",
			body:   `{"model":"gpt-5-s","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			stream: chatStream(100, true), chunk: `"content":"abcd"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t, filepath.Join(t.TempDir(), "sluice.db"))
			gw := newGateway(t, quotaConfig, "alice@example.com", func(o *Options) { o.Store = st; o.QuotaCutoff = tt.cutoff })
			gw.upstream.Handle(tt.upstreamPath, proxytest.Reply{ContentType: "text/event-stream", Body: tt.stream, Gap: time.Millisecond})
			req, _ := http.NewRequest(http.MethodPost, gw.URL+tt.path, strings.NewReader(tt.body))
			req.Header.Set("anthropic-version", "2023-06-01")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("status %d, read %v", resp.StatusCode, err)
			}
			chunks := strings.Count(string(got), tt.chunk)
			for deadline := time.Now().Add(30 * time.Second); len(gw.sink.all()) == 0; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("no record")
				}
			}
			rec := gw.sink.all()[0]
			if !tt.cutoff {
				if chunks != 100 || strings.Contains(string(got), "quota cut-off") || rec.Error != "" {
					t.Errorf("without the cut-off: %d chunks, record error %q; want the whole stream", chunks, rec.Error)
				}
				return
			}
			// Cut after the 11th piece (10 reserved), at the end of an
			// event; the mock's events may come a few to a read.
			if chunks < 11 || chunks > 30 {
				t.Errorf("client got %d content events, want the stream cut just past 10", chunks)
			}
			tail := string(got)[strings.LastIndex(string(got), tt.chunk):]
			for _, w := range tt.errorEvent {
				if !strings.Contains(tail, w) {
					t.Errorf("stream does not end with the error event (lacks %q):\n%s", w, tail)
				}
			}
			if !strings.Contains(rec.Error, "quota cut-off") || rec.ErrorKind != "rate_limited" {
				t.Errorf("record error %q kind %q, want the cut-off reason with kind rate_limited", rec.Error, rec.ErrorKind)
			}
			// The bucket is charged what was streamed, beyond the $0.02
			// reservation, as the model overspent.
			const name = "daily:alice@example.com"
			waitSettled(t, st, name, quota.Dollar-tokens(int64(chunks))-quota.Dollar/1000)
			bals, _ := st.Balances(context.Background(), []string{name})
			if charged := quota.Dollar - bals[name].Amount; charged < tokens(11)-quota.Dollar/10_000 || charged > tokens(int64(chunks)) {
				t.Errorf("charged %v, want the %d pieces streamed (at least 11) at $0.002", charged, chunks)
			}
		})
	}
}
