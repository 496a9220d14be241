package proxy

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// translatedBenchConfig serves gpt-5 from a provider that speaks chat
// completions only, for clients of every format.
const translatedBenchConfig = `{
	"providers": {
		"openai": {"baseurl": "UPSTREAM", "apikey": "sk-provider-openai", "models": ["gpt-5"], "translate": true,
			"compatibility": {"openai_chat": true}},
	},
	"temp_grants": [{"src": ["*"], "grants": [{"role": "user"}, {"providers": [{"provider": "*", "model": "*"}]}]}],
}`

// BenchmarkGatewayTranslated is BenchmarkGateway for an Anthropic client
// of a chat provider: the same answers, translated. Compare it with
// BenchmarkGateway to see what translation costs a request.
func BenchmarkGatewayTranslated(b *testing.B) {
	bodies := map[string]string{
		"plain":  `{"model":"gpt-5","max_tokens":1024,"messages":[{"role":"user","content":"hi"}]}`,
		"stream": `{"model":"gpt-5","max_tokens":1024,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
	}
	for _, mode := range benchModes() {
		b.Run(mode.name, func(b *testing.B) {
			gw := newGateway(&testing.T{}, translatedBenchConfig, "alice@example.com")
			defer gw.Close()
			gw.upstream.Handle("/v1/chat/completions", mode.reply)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Post(gw.URL+"/v1/messages", "application/json", strings.NewReader(bodies[mode.name]))
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Error(resp.Status)
						return
					}
				}
			})
		})
	}
}
