package proxy

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

const pipelineConfig = `{
	"providers": {
		"openai": {"baseurl": "UPSTREAM", "apikey": "sk-provider-openai", "models": ["gpt-5", "shared"],
			"compatibility": {"openai_chat": true, "openai_responses": true}},
		"anthropic": {"baseurl": "UPSTREAM/anth/", "apikey": "sk-ant-provider", "authorization": "x-api-key",
			"models": ["claude-sonnet-4-5", "shared"],
			"compatibility": {"openai_chat": false, "anthropic_messages": true}},
	},
	"temp_grants": [
		{"src": ["*"], "grants": [{"role": "user"}]},
		{"src": ["alice@example.com"], "grants": [{"providers": [{"provider": "*", "model": "*"}]}]},
		{"src": ["bob@example.com"], "grants": [{"providers": [{"provider": "anthropic", "model": "claude-*"}]}]},
	],
}`

const chatJSON = `{"id":"chatcmpl-1","object":"chat.completion","created":1763000000,"model":"gpt-5-2025-08-07",
"choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],
"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":0}}}`

const anthropicJSON = `{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
"content":[{"type":"text","text":"hello"}],"stop_reason":"end_turn","stop_sequence":null,
"usage":{"input_tokens":20,"output_tokens":4,"cache_read_input_tokens":100,"cache_creation_input_tokens":0}}`

func post(t *testing.T, url string, header map[string]string, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestPipeline(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name       string
		login      string
		path       string
		header     map[string]string
		body       string
		wantStatus int
		wantBody   []string // substrings of the client's answer
		upstream   string   // path the upstream must have received; "" = none
		recStatus  int
		// recAllow is the policy answer the record keeps for replay;
		// nil when no decision was made.
		recAllow *bool
	}{
		{name: "openai chat routed with provider key", login: "alice@example.com", path: "/v1/chat/completions",
			header:     map[string]string{"Authorization": "Bearer client-key"},
			body:       `{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`,
			wantStatus: 200, wantBody: []string{`"content":"hello"`}, upstream: "/v1/chat/completions", recStatus: 200, recAllow: &yes},
		{name: "anthropic with base path", login: "alice@example.com", path: "/v1/messages",
			header:     map[string]string{"X-Api-Key": "client-key", "Anthropic-Version": "2023-06-01"},
			body:       `{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`,
			wantStatus: 200, wantBody: []string{`"stop_reason":"end_turn"`}, upstream: "/anth/v1/messages", recStatus: 200, recAllow: &yes},
		{name: "unknown model is 404 in OpenAI shape", login: "alice@example.com", path: "/v1/chat/completions",
			body:       `{"model":"gpt-9","messages":[]}`,
			wantStatus: 404, wantBody: []string{`"error":{`, `model \"gpt-9\" is not configured`}, recStatus: 404},
		{name: "model in another format is 400 naming formats", login: "alice@example.com", path: "/v1/chat/completions",
			body:       `{"model":"claude-sonnet-4-5","messages":[]}`,
			wantStatus: 400, wantBody: []string{`anthropic_messages`}, recStatus: 400},
		{name: "denied model is 403 in Anthropic shape", login: "bob@example.com", path: "/v1/messages",
			body:       `{"model":"shared","max_tokens":10,"messages":[]}`,
			wantStatus: 403, wantBody: []string{`"type":"error"`, `permission_error`, `not allowed to use model \"shared\"`}, recStatus: 403, recAllow: &no},
		{name: "bob allowed on his grant", login: "bob@example.com", path: "/v1/messages",
			body:       `{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[]}`,
			wantStatus: 200, upstream: "/anth/v1/messages", recStatus: 200, recAllow: &yes},
		{name: "shared model goes to the first provider in declaration order", login: "alice@example.com", path: "/v1/chat/completions",
			body:       `{"model":"shared","messages":[]}`,
			wantStatus: 200, upstream: "/v1/chat/completions", recStatus: 200, recAllow: &yes},
		{name: "malformed JSON is 400", login: "alice@example.com", path: "/v1/chat/completions",
			body:       `{"model":`,
			wantStatus: 400, wantBody: []string{`invalid_request_error`}, recStatus: 400},
		{name: "caller without a provider grant is 403", login: "carol@example.com", path: "/v1/chat/completions",
			body:       `{"model":"gpt-5","messages":[]}`,
			wantStatus: 403, recStatus: 403, recAllow: &no},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := newGateway(t, pipelineConfig, tt.login)
			gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
			gw.upstream.Handle("/anth/v1/messages", proxytest.Reply{ContentType: "application/json", Body: []byte(anthropicJSON)})
			resp, body := post(t, gw.URL+tt.path, tt.header, tt.body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
			for _, want := range tt.wantBody {
				if !strings.Contains(body, want) {
					t.Errorf("body %s lacks %s", body, want)
				}
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id header")
			}
			got := gw.upstream.Received()
			if tt.upstream == "" {
				if len(got) != 0 {
					t.Errorf("upstream received %d requests, want none", len(got))
				}
			} else {
				if len(got) != 1 || got[0].Path != tt.upstream {
					t.Fatalf("upstream received %+v, want one at %s", got, tt.upstream)
				}
				h := got[0].Header
				for _, name := range []string{"Authorization", "X-Api-Key"} {
					if v := h.Get(name); strings.Contains(v, "client-key") {
						t.Errorf("client credential reached the upstream in %s: %q", name, v)
					}
				}
				if strings.HasPrefix(tt.upstream, "/anth") {
					if h.Get("X-Api-Key") != "sk-ant-provider" || h.Get("Authorization") != "" {
						t.Errorf("anthropic auth: x-api-key=%q authorization=%q", h.Get("X-Api-Key"), h.Get("Authorization"))
					}
				} else if h.Get("Authorization") != "Bearer sk-provider-openai" {
					t.Errorf("openai auth = %q", h.Get("Authorization"))
				}
				if string(got[0].Body) != tt.body {
					t.Errorf("upstream body %q, want the client's %q", got[0].Body, tt.body)
				}
			}
			if strings.Contains(body, "sk-provider") || strings.Contains(body, "sk-ant-provider") {
				t.Error("a provider key reached the client")
			}
			recs := waitRecords(t, gw, 1)
			if len(recs) != 1 || recs[0].Status != tt.recStatus {
				t.Fatalf("records %+v, want one with status %d", recs, tt.recStatus)
			}
			switch d := recs[0].Decision; {
			case tt.recAllow == nil && d != nil:
				t.Errorf("record keeps a decision input %+v where no decision was made", d)
			case tt.recAllow != nil && (d == nil || d.Allow != *tt.recAllow):
				t.Errorf("record's decision input %+v, want allow %v", d, *tt.recAllow)
			}
		})
	}
}

func TestRecordCarriesUsageAndCost(t *testing.T) {
	gw := newGateway(t, pipelineConfig, "alice@example.com")
	gw.upstream.Handle("/anth/v1/messages", proxytest.Reply{ContentType: "application/json", Body: []byte(anthropicJSON)})
	post(t, gw.URL+"/v1/messages", nil, `{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`)
	rec := waitRecords(t, gw, 1)[0]
	if rec.Login != "alice@example.com" || rec.Provider != "anthropic" || rec.Model != "claude-sonnet-4-5" || rec.Format != "anthropic_messages" {
		t.Errorf("record identity/route = %+v", rec)
	}
	// Anthropic reports cache reads apart from input: 20 + 100 prompt tokens.
	if rec.Usage.Input.Value() != 120 || rec.Usage.Output.Value() != 4 || rec.Usage.CacheRead.Value() != 100 {
		t.Errorf("tokens in=%d out=%d cache_read=%d, want 120/4/100", rec.Usage.Input.Value(), rec.Usage.Output.Value(), rec.Usage.CacheRead.Value())
	}
	want := (20*3.0 + 100*0.30 + 4*15.0) / 1e6
	if !rec.CostKnown || diff(rec.CostUSD, want) > 1e-12 {
		t.Errorf("cost %v (known %v), want %v", rec.CostUSD, rec.CostKnown, want)
	}
	if rec.Latency <= 0 || rec.TTFB <= 0 || rec.TTFB > rec.Latency {
		t.Errorf("latency %v ttfb %v", rec.Latency, rec.TTFB)
	}
}

func diff(a, b float64) float64 {
	if a > b {
		return a - b
	}
	return b - a
}

func TestUpstreamFailures(t *testing.T) {
	tests := []struct {
		name       string
		reply      *proxytest.Reply
		closed     bool
		wantStatus int
		wantBody   string
	}{
		{name: "upstream 500 JSON passes through", reply: &proxytest.Reply{Status: 500, ContentType: "application/json", Body: []byte(`{"error":{"message":"boom","type":"server_error"}}`)},
			wantStatus: 500, wantBody: `"boom"`},
		{name: "upstream 502 HTML becomes a format error", reply: &proxytest.Reply{Status: 502, ContentType: "text/html", Body: []byte(`<html>bad gateway</html>`)},
			wantStatus: 502, wantBody: `"type":"server_error"`},
		{name: "upstream down", closed: true, wantStatus: 502, wantBody: `provider openai could not be reached`},
		{name: "upstream too slow for headers", reply: &proxytest.Reply{Delay: 2 * time.Second, ContentType: "application/json", Body: []byte(chatJSON)},
			wantStatus: 504, wantBody: `did not answer in time`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := newGateway(t, pipelineConfig, "alice@example.com", func(o *Options) { o.HeaderTimeout = 200 * time.Millisecond })
			if tt.reply != nil {
				gw.upstream.Handle("/v1/chat/completions", *tt.reply)
			}
			if tt.closed {
				gw.upstream.Close()
			}
			resp, body := post(t, gw.URL+"/v1/chat/completions", nil, `{"model":"gpt-5","messages":[]}`)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
				t.Errorf("got %d %s; want %d with %s", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			var e struct {
				Error struct{ Message string } `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Message == "" {
				t.Errorf("answer is not an OpenAI error: %s", body)
			}
			recs := waitRecords(t, gw, 1)
			if len(recs) != 1 || recs[0].Status != tt.wantStatus {
				t.Errorf("records %+v", recs)
			}
			if tt.wantStatus >= 502 && recs[0].Error == "" {
				t.Error("record of a failed upstream has no error")
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	gw := newGateway(t, pipelineConfig, "alice@example.com", func(o *Options) { o.MaxBodyBytes = 1024 })
	big := `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"` + strings.Repeat("x", 2048) + `"}]}`
	resp, body := post(t, gw.URL+"/v1/messages", nil, big)
	if resp.StatusCode != 413 || !strings.Contains(body, `"type":"error"`) || !strings.Contains(body, "1024 bytes") {
		t.Errorf("got %d %s, want 413 in Anthropic shape", resp.StatusCode, body)
	}
	if n := len(gw.upstream.Received()); n != 0 {
		t.Errorf("upstream got %d requests", n)
	}
}

func TestModelsList(t *testing.T) {
	tests := []struct {
		name      string
		login     string
		header    map[string]string
		wantIDs   []string
		anthropic bool
	}{
		{name: "alice sees every model once", login: "alice@example.com", wantIDs: []string{"gpt-5", "shared", "claude-sonnet-4-5"}},
		{name: "bob sees his grant only", login: "bob@example.com", wantIDs: []string{"claude-sonnet-4-5"}},
		{name: "carol sees nothing", login: "carol@example.com", wantIDs: []string{}},
		{name: "anthropic shape", login: "bob@example.com", header: map[string]string{"Anthropic-Version": "2023-06-01"}, wantIDs: []string{"claude-sonnet-4-5"}, anthropic: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := newGateway(t, pipelineConfig, tt.login)
			req, _ := http.NewRequest(http.MethodGet, gw.URL+"/v1/models", nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var list struct {
				Object string `json:"object"`
				Data   []struct {
					ID      string `json:"id"`
					Type    string `json:"type"`
					Pricing *struct {
						Input          string `json:"input"`
						InputCacheRead string `json:"input_cache_read"`
					} `json:"pricing"`
					ContextWindow int `json:"context_window"`
				} `json:"data"`
				HasMore *bool `json:"has_more"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
				t.Fatal(err)
			}
			ids := []string{}
			for _, m := range list.Data {
				ids = append(ids, m.ID)
			}
			if strings.Join(ids, ",") != strings.Join(tt.wantIDs, ",") {
				t.Errorf("models %v, want %v", ids, tt.wantIDs)
			}
			if tt.anthropic != (list.HasMore != nil) || tt.anthropic == (list.Object == "list") {
				t.Errorf("shape: object=%q has_more=%v, anthropic=%v", list.Object, list.HasMore, tt.anthropic)
			}
			for _, m := range list.Data {
				if m.ID == "claude-sonnet-4-5" && (m.Pricing == nil || m.Pricing.Input != "0.000003" || m.Pricing.InputCacheRead != "0.0000003" || m.ContextWindow != 200000) {
					t.Errorf("claude-sonnet-4-5 pricing %+v window %d", m.Pricing, m.ContextWindow)
				}
			}
		})
	}
}
