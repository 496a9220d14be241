package proxy

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/compat"
	"github.com/sluice-gateway/sluice/compat/eventstream"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
	"github.com/sluice-gateway/sluice/quota"
)

// eventFrames encodes messages as an AWS event stream.
func eventFrames(t testing.TB, msgs ...eventstream.Message) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, m := range msgs {
		if err := eventstream.Encode(&buf, m); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// bedrockConverseFrames is a ConverseStream answer of n text deltas of
// "abcd", with its usage at the end.
func bedrockConverseFrames(t testing.TB, n int) []byte {
	msgs := []eventstream.Message{
		eventstream.Event("messageStart", []byte(`{"role":"assistant"}`)),
	}
	for range n {
		msgs = append(msgs, eventstream.Event("contentBlockDelta", []byte(`{"contentBlockIndex":0,"delta":{"text":"abcd"}}`)))
	}
	msgs = append(msgs,
		eventstream.Event("contentBlockStop", []byte(`{"contentBlockIndex":0}`)),
		eventstream.Event("messageStop", []byte(`{"stopReason":"end_turn"}`)),
		eventstream.Event("metadata", fmt.Appendf(nil, `{"usage":{"inputTokens":5,"outputTokens":%d,"totalTokens":%d},"metrics":{"latencyMs":10}}`, n, n+5)))
	return eventFrames(t, msgs...)
}

// bedrockInvokeFrames is an InvokeModelWithResponseStream answer of Claude:
// the events of anthropicStream(n), each base64-encoded in a chunk event.
func bedrockInvokeFrames(t testing.TB, n int) []byte {
	var msgs []eventstream.Message
	for _, ev := range bytes.Split(anthropicStream(n), []byte("\n\n")) {
		_, data, ok := bytes.Cut(ev, []byte("data: "))
		if !ok {
			continue
		}
		payload, _ := json.Marshal(map[string]string{"bytes": base64.StdEncoding.EncodeToString(data)})
		msgs = append(msgs, eventstream.Event("chunk", payload))
	}
	return eventFrames(t, msgs...)
}

// bedrockStreamSeen is what a client read from a Bedrock event stream.
type bedrockStreamSeen struct {
	deltas    int    // text deltas of "abcd"
	exception string // the exception frame's type, if one came
	message   string // and its message
	err       error  // a framing error: the stream did not end at a frame's end
}

func readBedrockStream(t *testing.T, body []byte) bedrockStreamSeen {
	t.Helper()
	var seen bedrockStreamSeen
	var d eventstream.Decoder
	err := d.Feed(body, func(m eventstream.Message) {
		if seen.exception != "" {
			t.Errorf("frame after the exception: %s", eventstream.Header(m, eventstream.HeaderEventType))
		}
		if eventstream.Header(m, eventstream.HeaderMessageType) == eventstream.MessageTypeException {
			seen.exception = eventstream.Header(m, eventstream.HeaderExceptionType)
			var e struct{ Message string }
			json.Unmarshal(m.Payload, &e)
			seen.message = e.Message
			return
		}
		payload := m.Payload
		if eventstream.Header(m, eventstream.HeaderEventType) == "chunk" {
			var c struct{ Bytes []byte }
			if err := json.Unmarshal(payload, &c); err != nil {
				t.Errorf("chunk: %v", err)
			}
			payload = c.Bytes
		}
		if bytes.Contains(payload, []byte(`"text":"abcd"`)) {
			seen.deltas++
		}
	})
	if err == nil {
		err = d.End()
	}
	seen.err = err
	return seen
}

// TestQuotaCutoffBedrock: Bedrock's binary event streams are cut like
// server-sent events, at the end of a frame, with a throttlingException
// frame; a model that keeps to max_tokens is not cut.
func TestQuotaCutoffBedrock(t *testing.T) {
	converse := "/model/amazon.nova-lite-v1%3A0/converse-stream"
	invoke := "/model/" + claudeBedrockID + "/invoke-with-response-stream"
	tests := []struct {
		name, path, upstreamPath, body string
		stream                         []byte
		deltas                         int
		cut                            bool
	}{
		{name: "converse-stream", path: "/bedrock" + converse, upstreamPath: converse,
			body:   `{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"maxTokens":10}}`,
			stream: bedrockConverseFrames(t, 100), deltas: 100, cut: true},
		{name: "invoke-with-response-stream", path: "/bedrock" + invoke, upstreamPath: invoke,
			body:   `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`,
			stream: bedrockInvokeFrames(t, 100), deltas: 100, cut: true},
		{name: "converse-stream within max_tokens", path: "/bedrock" + converse, upstreamPath: converse,
			body:   `{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"maxTokens":10}}`,
			stream: bedrockConverseFrames(t, 10), deltas: 10},
		{name: "invoke-with-response-stream within max_tokens", path: "/bedrock" + invoke, upstreamPath: invoke,
			body:   `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`,
			stream: bedrockInvokeFrames(t, 10), deltas: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t, filepath.Join(t.TempDir(), "sluice.db"))
			gw := newGateway(t, quotaConfig, "alice@example.com", func(o *Options) { o.Store = st; o.QuotaCutoff = true })
			gw.upstream.Handle(tt.upstreamPath, proxytest.Reply{ContentType: "application/vnd.amazon.eventstream", Body: tt.stream, Gap: time.Millisecond})
			resp, err := http.Post(gw.URL+tt.path, "application/json", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("status %d, read %v: %s", resp.StatusCode, err, got)
			}
			seen := readBedrockStream(t, got)
			if seen.err != nil {
				t.Errorf("the stream does not end at a frame's end: %v", seen.err)
			}
			for deadline := time.Now().Add(30 * time.Second); len(gw.sink.all()) == 0; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("no record")
				}
			}
			rec := gw.sink.all()[0]
			if !tt.cut {
				if seen.deltas != tt.deltas || seen.exception != "" || rec.Error != "" {
					t.Errorf("%d deltas, exception %q, record error %q; want the whole stream of %d", seen.deltas, seen.exception, rec.Error, tt.deltas)
				}
				return
			}
			// Cut after the 11th piece (10 reserved), at the end of a
			// frame; the mock's frames may come a few to a read.
			if seen.deltas < 11 || seen.deltas > 30 {
				t.Errorf("client got %d text deltas, want the stream cut just past 10", seen.deltas)
			}
			if seen.exception != "throttlingException" || !strings.Contains(seen.message, "quota cut-off") {
				t.Errorf("stream ends with exception %q %q, want a throttlingException naming the cut-off", seen.exception, seen.message)
			}
			if !strings.Contains(rec.Error, "quota cut-off") || rec.ErrorKind != "rate_limited" {
				t.Errorf("record error %q kind %q, want the cut-off reason with kind rate_limited", rec.Error, rec.ErrorKind)
			}
			const name = "daily:alice@example.com"
			waitSettled(t, st, name, quota.Dollar-tokens(int64(seen.deltas))-quota.Dollar/1000)
			bals, _ := st.Balances(context.Background(), []string{name})
			if charged := quota.Dollar - bals[name].Amount; charged < tokens(11)-quota.Dollar/10_000 || charged > tokens(int64(seen.deltas)) {
				t.Errorf("charged %v, want the %d pieces streamed (at least 11) at $0.002", charged, seen.deltas)
			}
		})
	}
}

// TestQuotaCutoffFrames: the cut falls at the end of a frame however the
// stream is split into reads, and the client gets the frames so far and
// the exception frame, nothing torn.
func TestQuotaCutoffFrames(t *testing.T) {
	tests := []struct {
		format string
		stream []byte
	}{
		{compat.BedrockConverse, bedrockConverseFrames(t, 6)},
		{compat.BedrockModelInvoke, bedrockInvokeFrames(t, 6)},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			var tail bytes.Buffer
			if err := compat.WriteStreamError(&tail, tt.format, compat.KindRateLimited, "quota cut-off: test"); err != nil {
				t.Fatal(err)
			}
			for split := 0; split <= len(tt.stream); split++ {
				b := &upstreamBody{
					src:    io.NopCloser(&splitReader{parts: [][]byte{tt.stream[:split], tt.stream[split:]}}),
					rec:    io.Discard,
					idle:   time.Hour,
					watch:  &idleWatch{timer: time.AfterFunc(time.Hour, func() {})},
					meter:  compat.NewOutputMeter(tt.format),
					cutoff: &quotaCutoff{limit: 3, tail: bytes.Clone(tail.Bytes()), reason: "quota cut-off: test", frames: &frameEnds{}},
				}
				got, err := io.ReadAll(b)
				b.Close()
				if err != nil {
					t.Fatal(err)
				}
				seen := readBedrockStream(t, got)
				if seen.err != nil || seen.deltas < 4 || seen.deltas > 6 || seen.exception != "throttlingException" {
					t.Fatalf("split at %d: %d deltas, exception %q, framing %v; want the stream cut after 4 to 6 deltas at a frame's end", split, seen.deltas, seen.exception, seen.err)
				}
			}
		})
	}
}

// splitReader reads its parts one per Read.
type splitReader struct{ parts [][]byte }

func (r *splitReader) Read(p []byte) (int, error) {
	for len(r.parts) > 0 && len(r.parts[0]) == 0 {
		r.parts = r.parts[1:]
	}
	if len(r.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.parts[0])
	r.parts[0] = r.parts[0][n:]
	return n, nil
}

// TestFrameEnds: frame ends are found from the lengths alone, across
// reads, and a length no frame can have stops the tracking.
func TestFrameEnds(t *testing.T) {
	frame := func(total int) []byte {
		b := make([]byte, total)
		b[0], b[1], b[2], b[3] = byte(total>>24), byte(total>>16), byte(total>>8), byte(total)
		return b
	}
	two := append(frame(20), frame(30)...)
	tests := []struct {
		name        string
		reads       [][]byte
		first, last []int // per read
		corrupt     bool
	}{
		{"whole frames in one read", [][]byte{two}, []int{20}, []int{50}, false},
		{"length split across reads", [][]byte{two[:22], two[22:]}, []int{20, 28}, []int{20, 28}, false},
		{"frame spanning three reads", [][]byte{two[:10], two[10:15], two[15:]}, []int{-1, -1, 5}, []int{-1, -1, 35}, false},
		{"length under a frame's minimum", [][]byte{append(frame(20), 0, 0, 0, 5, 1, 2)}, []int{20}, []int{20}, true},
		{"length over the largest frame", [][]byte{append(frame(16), 0x7f, 0, 0, 0)}, []int{16}, []int{16}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f frameEnds
			for i, r := range tt.reads {
				first, last := f.scan(r)
				if first != tt.first[i] || last != tt.last[i] {
					t.Errorf("read %d: frame ends first %d last %d, want %d and %d", i, first, last, tt.first[i], tt.last[i])
				}
			}
			if f.corrupt != tt.corrupt {
				t.Errorf("corrupt %v, want %v", f.corrupt, tt.corrupt)
			}
		})
	}
}
