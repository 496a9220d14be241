package proxy

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

// receiver is a real hook endpoint that records what it was sent and
// answers pre_request calls as told.
type receiver struct {
	*httptest.Server
	mu  sync.Mutex
	got []delivery
	// answer decides what a hook at path answers; delay slows the hook
	// at delayPath, and hold, when set, keeps it from answering until
	// hold is closed.
	answer    func(path string, payload map[string]any) (status int, body string)
	delay     time.Duration
	delayPath string
	hold      chan struct{}
}

type delivery struct {
	Path    string
	Header  http.Header
	Payload map[string]any
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p map[string]any
		json.Unmarshal(b, &p)
		rc.mu.Lock()
		rc.got = append(rc.got, delivery{Path: r.URL.Path, Header: r.Header.Clone(), Payload: p})
		answer, delay, hold := rc.answer, rc.delay, rc.hold
		if r.URL.Path != rc.delayPath {
			delay, hold = 0, nil
		}
		rc.mu.Unlock()
		if delay > 0 {
			time.Sleep(delay)
		}
		if hold != nil {
			select {
			case <-hold:
			case <-r.Context().Done():
			}
		}
		status, body := 200, `{"action":"allow"}`
		if answer != nil {
			status, body = answer(r.URL.Path, p)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// events returns the deliveries of one event.
func (rc *receiver) events(event string) []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []delivery
	for _, d := range rc.got {
		if d.Payload["event"] == event {
			out = append(out, d)
		}
	}
	return out
}

const hookConfig = `{
	"providers": {
		"openai": {"baseurl": "UPSTREAM", "apikey": "sk-openai-secret", "models": ["gpt-5"],
			"compatibility": {"openai_chat": true, "openai_responses": true}},
		"anthropic": {"baseurl": "UPSTREAM", "apikey": "sk-ant-secret", "authorization": "x-api-key", "models": ["claude-sonnet-4-5"],
			"compatibility": {"openai_chat": false, "anthropic_messages": true}},
		"gemini": {"baseurl": "UPSTREAM", "apikey": "gm-secret", "authorization": "x-goog-api-key", "models": ["gemini-2.5-flash"],
			"compatibility": {"openai_chat": false, "gemini_generate_content": true}},
		"vertex": {"baseurl": "UPSTREAM", "apikey": "vx-secret", "project": "proj-1", "region": "us-east5",
			"models": ["gemini-2.5-pro", "claude-opus-4-5@20251101"],
			"compatibility": {"openai_chat": false, "google_generate_content": true, "google_raw_predict": true}},
		"bedrock": {"baseurl": "UPSTREAM", "apikey": "br-secret",
			"models": ["us.anthropic.claude-sonnet-4-5-20250929-v1:0", "amazon.nova-lite-v1:0"],
			"compatibility": {"openai_chat": false, "bedrock_model_invoke": true, "bedrock_converse": true}},
	},
	"hooks": {
		"audit": {"url": "HOOK/audit", "apikey": "hook-secret"},
		"tools": {"url": "HOOK/tools", "authorization": "x-api-key", "apikey": "tools-secret"},
		"guard": {"url": "HOOK/guard", "timeout": "200ms", "fail_policy": "FAIL_POLICY", "preference": 10},
		"rewrite": {"url": "HOOK/rewrite", "timeout": "200ms", "preference": 1},
	},
	"temp_grants": [
		{"src": ["*"], "grants": [{"role": "user"}, {"providers": [{"provider": "*", "model": "*"}]}]},
		{"src": ["ops@example.com"], "grants": [{"role": "admin"}]},
		{"src": ["*"], "grants": [
			{"hook": {"match": {"events": ["entire_request"]}, "hook": "audit", "fields": ["request_body", "user_message", "response_body"]}},
			{"hook": {"match": {"providers": ["*"], "models": ["*"], "events": ["tool_call_entire_request"]}, "hook": "tools", "fields": ["tools", "raw_responses"]}},
			{"hook": {"match": {"events": ["pre_request"]}, "hook": "guard", "fields": ["request_body", "user_message"],
				"condition": "request.format != 'bedrock_converse' || user.login.endsWith('@example.com')"}},
			{"hook": {"match": {"events": ["pre_request"], "models": ["gpt-*"]}, "hook": "rewrite", "fields": ["request_body"]}},
		]},
	],
}`

// formatCase is one request of one API format with the upstream answer it
// gets.
type formatCase struct {
	name     string
	path     string
	body     string
	fixture  string
	ctype    string
	wantTool string // name of the tool call in the answer; "" for none
}

const ask = "What is the weather in Paris?"

var formatCases = []formatCase{
	{"openai_chat json", "/v1/chat/completions", `{"model":"gpt-5","messages":[{"role":"user","content":"` + ask + `"}]}`, "openai_chat/text.json", "application/json", ""},
	{"openai_chat json tools", "/v1/chat/completions", `{"model":"gpt-5","messages":[{"role":"user","content":"` + ask + `"}]}`, "openai_chat/tool_calls.json", "application/json", "get_weather"},
	{"openai_chat sse tools", "/v1/chat/completions", `{"model":"gpt-5","stream":true,"messages":[{"role":"user","content":"` + ask + `"}]}`, "openai_chat/tool_calls.sse", "text/event-stream", "get_weather"},
	{"openai_responses json", "/v1/responses", `{"model":"gpt-5","input":"` + ask + `"}`, "openai_responses/text.json", "application/json", ""},
	{"openai_responses sse tools", "/v1/responses", `{"model":"gpt-5","stream":true,"input":"` + ask + `"}`, "openai_responses/tool_call.sse", "text/event-stream", "get_weather"},
	{"anthropic json", "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":100,"messages":[{"role":"user","content":"` + ask + `"}]}`, "anthropic_messages/text.json", "application/json", ""},
	{"anthropic sse tools", "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"` + ask + `"}]}`, "anthropic_messages/tool_use.sse", "text/event-stream", "get_weather"},
	{"gemini json", "/v1beta/models/gemini-2.5-flash:generateContent", `{"contents":[{"role":"user","parts":[{"text":"` + ask + `"}]}]}`, "gemini_generate_content/text.json", "application/json", ""},
	{"gemini sse tools", "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", `{"contents":[{"role":"user","parts":[{"text":"` + ask + `"}]}]}`, "gemini_generate_content/function_call.sse", "text/event-stream", "get_weather"},
	{"vertex gemini json tools", "/v1/projects/proj-1/locations/us-east5/publishers/google/models/gemini-2.5-pro:generateContent", `{"contents":[{"role":"user","parts":[{"text":"` + ask + `"}]}]}`, "google_generate_content/tool_call.json", "application/json", "search_flights"},
	{"vertex anthropic sse tools", "/v1/projects/proj-1/locations/us-east5/publishers/anthropic/models/claude-opus-4-5@20251101:streamRawPredict", `{"anthropic_version":"vertex-2023-10-16","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"` + ask + `"}]}`, "google_raw_predict/tool_use.sse", "text/event-stream", "get_weather"},
	{"bedrock invoke json", "/bedrock/model/amazon.nova-lite-v1:0/invoke", `{"messages":[{"role":"user","content":[{"text":"` + ask + `"}]}]}`, "bedrock_model_invoke/nova_text.json", "application/json", ""},
	{"bedrock invoke stream tools", "/bedrock/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke-with-response-stream", `{"anthropic_version":"bedrock-2023-05-31","max_tokens":100,"messages":[{"role":"user","content":"` + ask + `"}]}`, "bedrock_model_invoke/claude_tool_use.eventstream", "application/vnd.amazon.eventstream", "get_weather"},
	{"bedrock converse json tools", "/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/converse", `{"messages":[{"role":"user","content":[{"text":"` + ask + `"}]}]}`, "bedrock_converse/tool_use.json", "application/json", "get_weather"},
	{"bedrock converse stream tools", "/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/converse-stream", `{"messages":[{"role":"user","content":[{"text":"` + ask + `"}]}]}`, "bedrock_converse/tool_use.eventstream", "application/vnd.amazon.eventstream", "get_weather"},
}

func newHookGateway(t *testing.T, failPolicy string, mutate ...func(*Options)) (*gateway, *receiver) {
	t.Helper()
	rc := newReceiver(t)
	cfg := strings.ReplaceAll(hookConfig, "HOOK", rc.URL)
	cfg = strings.ReplaceAll(cfg, "FAIL_POLICY", failPolicy)
	return newGateway(t, cfg, "alice@example.com", mutate...), rc
}

// drain waits until every queued hook delivery was made.
func drain(t *testing.T, gw *gateway) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := gw.srv.Shutdown(ctx); err != nil {
		t.Fatalf("draining hooks: %v", err)
	}
}

func TestHooksAcrossFormats(t *testing.T) {
	for _, tc := range formatCases {
		t.Run(tc.name, func(t *testing.T) {
			gw, rc := newHookGateway(t, "fail_open")
			gw.upstream.HandleAll(proxytest.Reply{ContentType: tc.ctype, Body: proxytest.Fixture(t, tc.fixture)})
			resp, body := post(t, gw.URL+tc.path, map[string]string{"Authorization": "Bearer client-secret", "User-Agent": "hooktest/1"}, tc.body)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			drain(t, gw)

			audit := rc.events("entire_request")
			if len(audit) != 1 {
				t.Fatalf("entire_request deliveries = %d, want 1", len(audit))
			}
			p := audit[0].Payload
			meta, _ := p["metadata"].(map[string]any)
			if meta["login_name"] != "alice@example.com" || meta["user_agent"] != "hooktest/1" || meta["request_id"] != resp.Header.Get("X-Request-Id") {
				t.Errorf("metadata = %v", meta)
			}
			if um, _ := p["user_message"].(string); !strings.Contains(um, "weather in Paris") {
				t.Errorf("user_message = %q", p["user_message"])
			}
			if p["response_body"] == nil {
				t.Error("response_body missing from the audit payload")
			}
			if got := audit[0].Header.Get("Authorization"); got != "Bearer hook-secret" {
				t.Errorf("audit hook auth = %q", got)
			}

			tools := rc.events("tool_call_entire_request")
			if tc.wantTool == "" {
				if len(tools) != 0 {
					t.Errorf("tool hook fired %d times for an answer without tool calls", len(tools))
				}
			} else {
				if len(tools) != 1 {
					t.Fatalf("tool_call_entire_request deliveries = %d, want 1", len(tools))
				}
				calls, _ := tools[0].Payload["tool_calls"].([]any)
				if len(calls) == 0 || calls[0].(map[string]any)["name"] != tc.wantTool {
					t.Errorf("tool_calls = %v, want %s", tools[0].Payload["tool_calls"], tc.wantTool)
				}
				if raws, _ := tools[0].Payload["raw_responses"].([]any); len(raws) == 0 {
					t.Error("raw_responses empty")
				}
				if tools[0].Header.Get("X-Api-Key") != "tools-secret" {
					t.Errorf("tools hook auth header = %q", tools[0].Header.Get("X-Api-Key"))
				}
			}
			for _, d := range rc.events("") {
				t.Errorf("delivery without event: %v", d.Payload)
			}
			rc.mu.Lock()
			for _, d := range rc.got {
				b, _ := json.Marshal(d.Payload)
				for _, secret := range []string{"client-secret", "sk-openai-secret", "sk-ant-secret", "gm-secret", "vx-secret", "br-secret"} {
					if strings.Contains(string(b), secret) || strings.Contains(strings.Join(d.Header.Values("Authorization"), ""), secret) {
						t.Errorf("a hook delivery carries credential %q", secret)
					}
				}
			}
			rc.mu.Unlock()
		})
	}
}

func TestPreRequestHooks(t *testing.T) {
	chat := `{"model":"gpt-5","messages":[{"role":"user","content":"` + ask + `"}]}`
	tests := []struct {
		name       string
		failPolicy string
		path       string
		body       string
		guard      func(map[string]any) (int, string)
		rewrite    func(map[string]any) (int, string)
		guardDelay time.Duration
		wantStatus int
		wantBody   string
		wantUp     string // substring of the body the upstream got; "" = not called
	}{
		{name: "allow", failPolicy: "fail_open", path: "/v1/chat/completions", body: chat,
			wantStatus: 200, wantUp: ask},
		{name: "block answers in the OpenAI shape", failPolicy: "fail_open", path: "/v1/chat/completions", body: chat,
			guard: func(map[string]any) (int, string) {
				return 200, `{"action":"block","status_code":451,"message":"no weather talk"}`
			},
			wantStatus: 451, wantBody: `"code":"guardrail_blocked"`},
		{name: "block answers in the Anthropic shape", failPolicy: "fail_open", path: "/v1/messages",
			body:       `{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`,
			guard:      func(map[string]any) (int, string) { return 200, `{"action":"block","message":"no"}` },
			wantStatus: 403, wantBody: `"type":"error"`},
		{name: "block answers in the Gemini shape", failPolicy: "fail_open", path: "/v1beta/models/gemini-2.5-flash:generateContent",
			body:       `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`,
			guard:      func(map[string]any) (int, string) { return 200, `{"action":"block","message":"no"}` },
			wantStatus: 403, wantBody: `PERMISSION_DENIED`},
		{name: "modify rewrites the body, next hook sees it", failPolicy: "fail_open", path: "/v1/chat/completions", body: chat,
			guard: func(map[string]any) (int, string) {
				return 200, `{"action":"modify","request_body":{"model":"gpt-5","messages":[{"role":"user","content":"REDACTED"}]}}`
			},
			rewrite: func(p map[string]any) (int, string) {
				b, _ := json.Marshal(p["request_body"])
				if !strings.Contains(string(b), "REDACTED") {
					return 200, `{"action":"block","message":"rewrite hook saw the old body"}`
				}
				return 200, `{"action":"allow"}`
			},
			wantStatus: 200, wantUp: "REDACTED"},
		{name: "fail_open skips a slow hook", failPolicy: "fail_open", path: "/v1/chat/completions", body: chat,
			guardDelay: time.Second, wantStatus: 200, wantUp: ask},
		{name: "fail_closed refuses on a slow hook", failPolicy: "fail_closed", path: "/v1/chat/completions", body: chat,
			guardDelay: time.Second, wantStatus: 503, wantBody: `guard`},
		{name: "fail_closed refuses on a 500", failPolicy: "fail_closed", path: "/v1/chat/completions", body: chat,
			guard:      func(map[string]any) (int, string) { return 500, `oops` },
			wantStatus: 503},
		{name: "fail_open passes a 500", failPolicy: "fail_open", path: "/v1/chat/completions", body: chat,
			guard:      func(map[string]any) (int, string) { return 500, `oops` },
			wantStatus: 200, wantUp: ask},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw, rc := newHookGateway(t, tt.failPolicy)
			gw.upstream.HandleAll(proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
			rc.answer = func(path string, p map[string]any) (int, string) {
				switch {
				case path == "/guard" && tt.guard != nil:
					return tt.guard(p)
				case path == "/rewrite" && tt.rewrite != nil:
					return tt.rewrite(p)
				}
				return 200, `{"action":"allow"}`
			}
			rc.delay, rc.delayPath = tt.guardDelay, "/guard"
			resp, body := post(t, gw.URL+tt.path, nil, tt.body)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("got %d %s; want %d with %q", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			up := gw.upstream.Received()
			if tt.wantUp == "" {
				if len(up) != 0 {
					t.Errorf("upstream called %d times, want none", len(up))
				}
				return
			}
			if len(up) != 1 || !strings.Contains(string(up[0].Body), tt.wantUp) {
				t.Errorf("upstream got %v, want a body with %q", up, tt.wantUp)
			}
		})
	}
}

// TestToolHookFiresWhenClientHangsUpAtTheEnd: a client that closes the
// connection as soon as it reads [DONE] got the whole answer, so the
// after-response hooks still fire.
func TestToolHookFiresWhenClientHangsUpAtTheEnd(t *testing.T) {
	gw, rc := newHookGateway(t, "fail_open")
	gw.upstream.HandleAll(proxytest.Reply{ContentType: "text/event-stream",
		Body: proxytest.Fixture(t, "openai_chat/tool_calls.sse"), Gap: 2 * time.Millisecond})
	for range 5 {
		req, _ := http.NewRequest(http.MethodPost, gw.URL+"/v1/chat/completions",
			strings.NewReader(`{"model":"gpt-5","stream":true,"messages":[{"role":"user","content":"`+ask+`"}]}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		buf := make([]byte, 512)
		for !strings.Contains(string(got), "[DONE]") {
			n, err := resp.Body.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		resp.Body.Close()
	}
	waitRecords(t, gw, 5) // hooks are queued before the record is written
	drain(t, gw)
	if n := len(rc.events("tool_call_entire_request")); n != 5 {
		t.Errorf("tool hook fired %d times for 5 complete answers", n)
	}
}

// TestHookMetadataFields: a hook grant asking for estimated_cost, grants
// and quotas gets the cost at the provider's cost_basis after the
// response, and empty grants and quotas (no custom capabilities, no
// quota bucket charges the request); a pre_request call gets no cost.
func TestHookMetadataFields(t *testing.T) {
	rc := newReceiver(t)
	cfg := `{
		"providers": {"anthropic": {"baseurl": "UPSTREAM/anth/", "apikey": "sk-ant-provider", "authorization": "x-api-key",
			"models": ["claude-sonnet-4-5"], "cost_basis": "bedrock-eu",
			"compatibility": {"openai_chat": false, "anthropic_messages": true}}},
		"hooks": {"meter": {"url": "HOOK/meter"}},
		"temp_grants": [{"src": ["*"], "grants": [
			{"role": "user"}, {"providers": [{"provider": "*", "model": "*"}]},
			{"hook": {"match": {"events": ["pre_request", "entire_request"]}, "hook": "meter", "fields": ["estimated_cost", "grants", "quotas"]}},
		]}],
	}`
	gw := newGateway(t, strings.ReplaceAll(cfg, "HOOK", rc.URL), "alice@example.com")
	gw.upstream.Handle("/anth/v1/messages", proxytest.Reply{ContentType: "application/json", Body: []byte(anthropicJSON)})
	resp, body := post(t, gw.URL+"/v1/messages", nil, `{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	drain(t, gw)

	metadata := func(event string) map[string]any {
		t.Helper()
		got := rc.events(event)
		if len(got) != 1 {
			t.Fatalf("%d %s deliveries, want 1", len(got), event)
		}
		return got[0].Payload["metadata"].(map[string]any)
	}
	pre := metadata("pre_request")
	if _, ok := pre["estimated_cost"]; ok {
		t.Errorf("pre_request carries estimated_cost %v; nothing has been used yet", pre["estimated_cost"])
	}
	after := metadata("entire_request")
	for _, m := range []map[string]any{pre, after} {
		for _, k := range []string{"grants", "quotas"} {
			if v, ok := m[k].(map[string]any); !ok || len(v) != 0 {
				t.Errorf("metadata.%s = %#v, want {}", k, m[k])
			}
		}
	}
	cost, _ := json.Marshal(after["estimated_cost"])
	// 20 uncached + 100 cached input and 4 output tokens at Bedrock EU's
	// regional price for claude-sonnet-4-5 (list +10%): $3.30, $0.33 and
	// $16.50 per million.
	const want = `{"cost_basis":"bedrock-eu/claude-sonnet-4-5","dollars":0.000165,"usage":{"cached_tokens":100,"input_tokens":120,"output_tokens":4}}`
	if string(cost) != want {
		t.Errorf("estimated_cost = %s\nwant %s", cost, want)
	}
}

// paths lists the URL paths of the deliveries so far.
func (rc *receiver) paths() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for _, d := range rc.got {
		out = append(out, d.Path)
	}
	return out
}
