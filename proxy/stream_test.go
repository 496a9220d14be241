package proxy

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

// TestChatStreamUsageIsCountedInvisibly: a streamed chat request that does
// not ask for usage still gets its tokens counted, and the client receives
// exactly the stream it would have received from the provider.
func TestChatStreamUsageIsCountedInvisibly(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantClient string // fixture the client must receive byte for byte
		wantAdded  bool
	}{
		{name: "client did not ask for usage", body: `{"model":"gpt-5","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			wantClient: "openai_chat/text_no_usage.sse", wantAdded: true},
		{name: "client asked for usage", body: `{"model":"gpt-5","stream":true,"stream_options":{"include_usage":true},"messages":[]}`,
			wantClient: "openai_chat/text.sse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := newGateway(t, pipelineConfig, "alice@example.com")
			gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "text/event-stream", Body: proxytest.Fixture(t, "openai_chat/text.sse")})
			resp, body := post(t, gw.URL+"/v1/chat/completions", nil, tt.body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if want := proxytest.Fixture(t, tt.wantClient); body != string(want) {
				t.Errorf("client stream differs from %s:\n%s", tt.wantClient, body)
			}
			up := gw.upstream.Last(t)
			if added := bytes.Contains(up.Body, []byte(`"include_usage":true`)); !added {
				t.Errorf("upstream body %s lacks include_usage", up.Body)
			}
			if tt.wantAdded && !strings.Contains(string(up.Body), `"stream_options":{"include_usage":true}`) {
				t.Errorf("upstream body %s", up.Body)
			}
			rec := waitRecords(t, gw, 1)[0]
			if rec.Usage.Input.Value() != 2006 || rec.Usage.Output.Value() != 10 || rec.Usage.CacheRead.Value() != 1920 || !rec.Stream {
				t.Errorf("record tokens in=%d out=%d cached=%d stream=%v; want 2006/10/1920 streamed", rec.Usage.Input.Value(), rec.Usage.Output.Value(), rec.Usage.CacheRead.Value(), rec.Stream)
			}
		})
	}
}

// TestStreamFlushesEachEvent: the client sees each upstream event as it
// arrives, not when the stream ends.
func TestStreamFlushesEachEvent(t *testing.T) {
	gw := newGateway(t, pipelineConfig, "alice@example.com")
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "text/event-stream",
		Body: proxytest.Fixture(t, "openai_chat/text.sse"), Gap: 300 * time.Millisecond})
	req, _ := http.NewRequest(http.MethodPost, gw.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-5","stream":true,"stream_options":{"include_usage":true},"messages":[]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 4096)
	n, err := resp.Body.Read(buf)
	if err != nil || !strings.Contains(string(buf[:n]), `"role":"assistant"`) {
		t.Fatalf("first read: %q, %v", buf[:n], err)
	}
	if strings.Contains(string(buf[:n]), "Hello") {
		t.Error("the second event arrived with the first: the stream was buffered")
	}
}

// TestStreamEventsLargerThanBuffers: a streamed answer whose events, and
// a response header, are larger than the buffers a stream holds (the
// copy buffer, the provider connection's read buffer) reaches the client
// byte for byte, each event as it arrives, and its usage is counted.
func TestStreamEventsLargerThanBuffers(t *testing.T) {
	tests := []struct {
		name    string
		content int // bytes of text in each content event
	}{
		{"under the buffers", 100},
		{"over the read buffer", streamBufferSize - 600},
		{"over the copy buffer", streamBufferSize + 100},
		{"many times the copy buffer", 20 * streamBufferSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sse strings.Builder
			text := strings.Repeat("x", tt.content)
			for i := range 3 {
				fmt.Fprintf(&sse, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-5\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%d%s\"},\"finish_reason\":null}]}\n\n", i, text)
			}
			sse.WriteString("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-5\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3,\"total_tokens\":10}}\n\ndata: [DONE]\n\n")
			gw := newGateway(t, pipelineConfig, "alice@example.com")
			gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "text/event-stream",
				Header: http.Header{"X-Long": {strings.Repeat("h", 3000)}},
				Body:   []byte(sse.String()), Gap: 10 * time.Millisecond})
			resp, body := post(t, gw.URL+"/v1/chat/completions", nil,
				`{"model":"gpt-5","stream":true,"stream_options":{"include_usage":true},"messages":[]}`)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %.300s", resp.StatusCode, body)
			}
			if body != sse.String() {
				t.Errorf("client got %d bytes, want the %d the provider sent, unchanged", len(body), sse.Len())
			}
			if got := resp.Header.Get("X-Long"); len(got) != 3000 {
				t.Errorf("a 3000-byte response header arrived as %d bytes", len(got))
			}
			rec := waitRecords(t, gw, 1)[0]
			if rec.Usage.Input.Value() != 7 || rec.Usage.Output.Value() != 3 {
				t.Errorf("record tokens in=%d out=%d; want 7/3", rec.Usage.Input.Value(), rec.Usage.Output.Value())
			}
		})
	}
}

// TestExchangeSize holds the exchange, which every open stream keeps for
// as long as it is open, within the 1,536-byte allocation size class:
// what only a finished answer needs (its Result) stays with the recorder.
func TestExchangeSize(t *testing.T) {
	if got := unsafe.Sizeof(exchange{}); got > 1536 {
		t.Errorf("an exchange takes %d bytes, over the 1,536-byte size class", got)
	}
}
