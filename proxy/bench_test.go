package proxy

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

// BenchmarkGateway measures one request through the whole gateway
// (identity, policy, routing, recording) against a mock upstream on
// loopback, plain and streamed.
func BenchmarkGateway(b *testing.B) {
	var sse strings.Builder
	for i := range 20 {
		fmt.Fprintf(&sse, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-5\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok%d \"},\"finish_reason\":null}]}\n\n", i)
	}
	sse.WriteString("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-5\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":20,\"total_tokens\":29}}\n\ndata: [DONE]\n\n")
	for _, mode := range []struct {
		name  string
		reply proxytest.Reply
		body  string
	}{
		{"plain", proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)}, `{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`},
		{"stream", proxytest.Reply{ContentType: "text/event-stream", Body: []byte(sse.String())}, `{"model":"gpt-5","stream":true,"messages":[{"role":"user","content":"hi"}]}`},
	} {
		b.Run(mode.name, func(b *testing.B) {
			gw := newGateway(&testing.T{}, pipelineConfig, "alice@example.com")
			defer gw.Close()
			gw.upstream.Handle("/v1/chat/completions", mode.reply)
			client := &http.Client{}
			b.ReportAllocs()
			for b.Loop() {
				resp, err := client.Post(gw.URL+"/v1/chat/completions", "application/json", strings.NewReader(mode.body))
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatal(resp.Status)
				}
			}
		})
	}
}
