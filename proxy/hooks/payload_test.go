package hooks

import (
	"bytes"
	"encoding/json"
	"flag"
	"maps"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/compat"
	"github.com/sluice-gateway/sluice/policy"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// fullData carries every kind of data a payload may select.
var fullData = Data{
	RequestBody: json.RawMessage(`{"model":"gpt-5","messages":[{"role":"user","content":"What is the weather in Paris?"}]}`),
	UserMessage: "What is the weather in Paris?",
	ToolCalls: []ToolCall{
		{ID: "call_1", Name: "get_weather", Params: json.RawMessage(`"{\"city\":\"Paris\"}"`)},
		{ID: "toolu_2", Name: "get_time", Params: json.RawMessage(`{"tz":"Europe/Paris"}`)},
	},
	ResponseBody: json.RawMessage(`{"id":"chatcmpl-1","choices":[{"message":{"role":"assistant","tool_calls":[]}}]}`),
	RawResponses: []json.RawMessage{
		json.RawMessage(`{"id":"chatcmpl-1","choices":[{"delta":{"role":"assistant"}}]}`),
		json.RawMessage(`[DONE]`),
	},
	EstimatedCost: &EstimatedCost{Dollars: 0.0000495, CostBasis: "openai/gpt-5",
		Usage: CostUsage{InputTokens: 12, OutputTokens: 3, CachedTokens: 4}},
}

var metadataKeys = []string{"login_name", "user_agent", "url", "model", "provider", "tailnet_name", "stable_node_id", "request_id", "session_id"}

func decode(t *testing.T, p Payload) map[string]json.RawMessage {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("payload is not a JSON object: %v\n%s", err, b)
	}
	return m
}

func TestNewPayloadFields(t *testing.T) {
	tests := []struct {
		name   string
		event  string
		fields []string
		want   []string // top-level keys besides event and metadata
		meta   []string // metadata keys besides the ones every call has
	}{
		{"none", policy.EventEntireRequest, nil, nil, nil},
		{"tools", policy.EventToolCallEntireRequest, []string{"tools"}, []string{"tool_calls"}, nil},
		{"request_body", policy.EventEntireRequest, []string{"request_body"}, []string{"request_body"}, nil},
		{"user_message", policy.EventEntireRequest, []string{"user_message"}, []string{"user_message"}, nil},
		{"response_body", policy.EventEntireRequest, []string{"response_body"}, []string{"response_body"}, nil},
		{"raw_responses", policy.EventEntireRequest, []string{"raw_responses"}, []string{"raw_responses"}, nil},
		{"documented example", policy.EventToolCallEntireRequest,
			[]string{"user_message", "tools", "request_body", "response_body"},
			[]string{"request_body", "response_body", "tool_calls", "user_message"}, nil},
		{"all", policy.EventEntireRequest, policy.HookFields,
			[]string{"raw_responses", "request_body", "response_body", "tool_calls", "user_message"},
			[]string{"estimated_cost", "grants", "quotas"}},
		{"estimated_cost", policy.EventEntireRequest, []string{"estimated_cost"}, nil, []string{"estimated_cost"}},
		{"grants and quotas", policy.EventToolCallEntireRequest, []string{"grants", "quotas"}, nil, []string{"grants", "quotas"}},
		{"unknown and repeated names", policy.EventEntireRequest, []string{"secrets", "tools", "tools"}, []string{"tool_calls"}, nil},
		{"pre_request has no response yet", policy.EventPreRequest, policy.HookFields, []string{"request_body", "user_message"},
			[]string{"grants", "quotas"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := decode(t, NewPayload(tt.event, tt.fields, testMetadata, fullData))
			var event string
			if err := json.Unmarshal(m["event"], &event); err != nil || event != tt.event {
				t.Errorf("event = %s, want %q", m["event"], tt.event)
			}
			var meta map[string]any
			if err := json.Unmarshal(m["metadata"], &meta); err != nil {
				t.Fatalf("metadata: %v", err)
			}
			if got, want := slices.Sorted(maps.Keys(meta)), slices.Sorted(slices.Values(append(tt.meta, metadataKeys...))); !slices.Equal(got, want) {
				t.Errorf("metadata keys = %v, want %v", got, want)
			}
			if meta["login_name"] != testMetadata.LoginName || meta["session_id"] != testMetadata.SessionID {
				t.Errorf("metadata = %v, want values of %+v", meta, testMetadata)
			}
			delete(m, "event")
			delete(m, "metadata")
			if got := slices.Sorted(maps.Keys(m)); !slices.Equal(got, tt.want) {
				t.Errorf("fields = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestPayloadGolden pins the wire format of a payload with every field.
func TestPayloadGolden(t *testing.T) {
	b, err := json.MarshalIndent(NewPayload(policy.EventToolCallEntireRequest, policy.HookFields, testMetadata, fullData), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	path := filepath.Join("testdata", "payload_all_fields.golden.json")
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("payload differs from %s (run with -update after review):\n%s", path, b)
	}
}

func TestPayloadValues(t *testing.T) {
	tests := []struct {
		name  string
		field string
		data  Data
		want  string // the field's JSON
	}{
		{"request body as sent", "request_body", Data{RequestBody: json.RawMessage(`{"a":[1,2]}`)}, `{"a":[1,2]}`},
		{"missing body is null", "request_body", Data{}, `null`},
		{"body that is not JSON becomes a string", "request_body", Data{RequestBody: json.RawMessage(`{"a":`)}, `"{\"a\":"`},
		{"empty user message", "user_message", Data{}, `""`},
		{"no tool calls is an empty list", "tools", Data{}, `[]`},
		{"string-encoded arguments are unwrapped", "tools",
			Data{ToolCalls: []ToolCall{{ID: "c1", Name: "f", Params: json.RawMessage(`"{\"x\":1}"`)}}},
			`[{"id":"c1","name":"f","params":{"x":1}}]`},
		{"missing arguments are an empty object", "tools",
			Data{ToolCalls: []ToolCall{{Name: "f"}, {Name: "g", Params: json.RawMessage(`""`)}}},
			`[{"name":"f","params":{}},{"name":"g","params":{}}]`},
		{"arguments that are not JSON become a string", "tools",
			Data{ToolCalls: []ToolCall{{Name: "f", Params: json.RawMessage(`{"x":`)}}},
			`[{"name":"f","params":"{\"x\":"}]`},
		{"no raw responses is an empty list", "raw_responses", Data{}, `[]`},
		{"raw SSE markers become strings", "raw_responses",
			Data{RawResponses: []json.RawMessage{json.RawMessage(`{"n":1}`), json.RawMessage(`[DONE]`)}},
			`[{"n":1},"[DONE]"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := decode(t, NewPayload(policy.EventEntireRequest, []string{tt.field}, testMetadata, tt.data))
			key := tt.field
			if key == policy.FieldTools {
				key = "tool_calls"
			}
			if got := string(m[key]); got != tt.want {
				t.Errorf("%s = %s, want %s", key, got, tt.want)
			}
		})
	}
}

func TestPayloadHas(t *testing.T) {
	p := NewPayload(policy.EventPreRequest, []string{"tools", "user_message"}, Metadata{}, Data{})
	if !p.Has("user_message") || p.Has("tools") || p.Has("bogus") {
		t.Errorf("Has: user_message=%v tools=%v bogus=%v, want true false false", p.Has("user_message"), p.Has("tools"), p.Has("bogus"))
	}
	if got := p.Fields(); !slices.Equal(got, []string{"user_message"}) {
		t.Errorf("Fields() = %v, want [user_message]", got)
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "http://ai/v1/chat/completions", "http://ai/v1/chat/completions"},
		{"gemini key", "http://ai/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse&key=AIzaSECRET",
			"http://ai/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"},
		{"case-insensitive names", "http://ai/x?API_KEY=s1&Access_Token=s2&keep=1", "http://ai/x?keep=1"},
		{"others kept as written", "http://ai/x?b=%2F&key=s&a=1+2", "http://ai/x?b=%2F&a=1+2"},
		{"badly escaped value", "http://ai/x?key=%zz&a=1", "http://ai/x?a=1"},
		{"escaped name", "http://ai/x?%6Bey=s&a=1", "http://ai/x?a=1"},
		{"presigned aws", "http://ai/model/m/invoke?X-Amz-Signature=abc&X-Amz-Credential=AKIA", "http://ai/model/m/invoke"},
		{"user info", "http://bob:hunter2@ai/v1/messages", "http://ai/v1/messages"},
		{"path only", "/v1/messages?key=s", "/v1/messages"},
		{"unparsable keeps no query", "http://ai/%zz?key=secret", "http://ai/%zz"},
		{"unparsable keeps no user info", "http://bob:pw@ai/%zz?x=1", "http://ai/%zz"},
		{"at sign in the path stays", "http://ai/%zz/users/a@b", "http://ai/%zz/users/a@b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RedactURL(tt.in); got != tt.want {
				t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestPayloadCarriesNoCredentials builds a payload the way the proxy does,
// from a client request that carries credentials in every usual place, and
// checks that what the hook receives holds none of them.
func TestPayloadCarriesNoCredentials(t *testing.T) {
	secrets := map[string]string{
		"Authorization":       "Bearer sk-proj-CLIENTSECRET1",
		"X-Api-Key":           "sk-ant-api03-CLIENTSECRET2",
		"X-Goog-Api-Key":      "AIzaCLIENTSECRET3",
		"Proxy-Authorization": "Basic Q0xJRU5UU0VDUkVUNA==",
		"Cookie":              "session=CLIENTSECRET5",
		"Api-Key":             "CLIENTSECRET6",
	}
	body := `{"model":"gpt-5","messages":[{"role":"user","content":"hello"}]}`
	r := httptest.NewRequest("POST", "http://user:CLIENTSECRET7@ai/v1/chat/completions?key=CLIENTSECRET8&alt=sse", strings.NewReader(body))
	for k, v := range secrets {
		r.Header.Set(k, v)
	}
	r.Header.Set("User-Agent", "openai-python/1.0")
	m := RequestMetadata(r)
	m.LoginName, m.Model, m.Provider = "alice@example.com", "gpt-5", "openai"

	rc := newReceiver(t, nil)
	d, logs := newTestDispatcher(t, Options{})
	hook := rc.hook("audit")
	hook.APIKey = "hook-key-of-the-receiver"
	p := NewPayload(policy.EventEntireRequest, policy.HookFields, m, Data{RequestBody: json.RawMessage(body), UserMessage: "hello"})
	if !d.Enqueue(hook, p) {
		t.Fatal("Enqueue refused")
	}
	drain(t, d)
	got := rc.requests()
	if len(got) != 1 {
		t.Fatalf("hook got %d calls, want 1", len(got))
	}
	var all strings.Builder
	all.Write(got[0].Body)
	for k, vs := range got[0].Header {
		all.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
	}
	all.WriteString(logs.String())
	for i := 1; i <= 8; i++ {
		if s := "CLIENTSECRET" + string(rune('0'+i)); strings.Contains(all.String(), s) {
			t.Errorf("client credential %s reached the hook or the log:\n%s", s, all.String())
		}
	}
	if a := got[0].Header.Get("Authorization"); a != "Bearer hook-key-of-the-receiver" {
		t.Errorf("Authorization = %q, want the hook's own key", a)
	}
	var pl struct {
		Metadata    Metadata        `json:"metadata"`
		RequestBody json.RawMessage `json:"request_body"`
	}
	if err := json.Unmarshal(got[0].Body, &pl); err != nil {
		t.Fatal(err)
	}
	if pl.Metadata.URL != "http://ai/v1/chat/completions?alt=sse" || pl.Metadata.UserAgent != "openai-python/1.0" {
		t.Errorf("metadata url, user_agent = %q, %q", pl.Metadata.URL, pl.Metadata.UserAgent)
	}
	if string(pl.RequestBody) != body {
		t.Errorf("request_body = %s, want the client's body as sent", pl.RequestBody)
	}
}

func TestMerge(t *testing.T) {
	a := &policy.Hook{Name: "a"}
	b := &policy.Hook{Name: "b"}
	got := Merge([]Call{
		{Hook: a, Fields: []string{"tools"}},
		{Hook: nil, Fields: []string{"request_body"}},
		{Hook: b, Fields: []string{"user_message"}},
		{Hook: a, Fields: []string{"request_body", "tools"}},
	})
	if len(got) != 2 || got[0].Hook != a || got[1].Hook != b {
		t.Fatalf("Merge = %+v, want a then b", got)
	}
	if !slices.Equal(got[0].Fields, []string{"tools", "request_body"}) {
		t.Errorf("merged fields = %v, want [tools request_body]", got[0].Fields)
	}
}

// FuzzPayloadJSON checks that whatever bytes a client or upstream sent,
// the payload is one valid JSON document that keeps its metadata, so a
// delivery never fails on encoding.
func FuzzPayloadJSON(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "bodies", "*.json"))
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seeds in testdata/bodies: %v", err)
	}
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, string(b), []byte(`"{\"x\":1}"`))
	}
	f.Fuzz(func(t *testing.T, body []byte, text string, params []byte) {
		data := Data{
			RequestBody:  body,
			UserMessage:  text,
			ToolCalls:    []ToolCall{{Name: text, Params: params}},
			ResponseBody: body,
			RawResponses: []json.RawMessage{body, params},
		}
		m := testMetadata
		m.LoginName = text
		b, err := json.Marshal(NewPayload(policy.EventEntireRequest, policy.HookFields, m, data))
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		var back struct {
			Metadata  Metadata `json:"metadata"`
			ToolCalls []struct {
				Params json.RawMessage `json:"params"`
			} `json:"tool_calls"`
		}
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("payload is not valid JSON: %v\n%s", err, b)
		}
		if want := strings.ToValidUTF8(text, "\uFFFD"); back.Metadata.LoginName != want {
			t.Errorf("login_name = %q, want %q", back.Metadata.LoginName, want)
		}
		if len(back.ToolCalls) != 1 || len(back.ToolCalls[0].Params) == 0 {
			t.Errorf("tool call lost: %s", b)
		}
	})
}

// FuzzRedactURL checks that no URL keeps user info or a credential
// parameter after redaction.
func FuzzRedactURL(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "urls.txt"))
	if err != nil {
		f.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f.Add(line)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got := RedactURL(raw)
		u, err := url.Parse(got)
		if err != nil {
			return // unparsable output carries no query and no user info by construction
		}
		if u.User != nil {
			t.Errorf("RedactURL(%q) = %q keeps user info", raw, got)
		}
		for pair := range strings.SplitSeq(u.RawQuery, "&") {
			name, _, _ := strings.Cut(pair, "=")
			if n, err := url.QueryUnescape(name); err == nil {
				name = n
			}
			if compat.IsCredentialParam(name) {
				t.Errorf("RedactURL(%q) = %q keeps parameter %q", raw, got, name)
			}
		}
	})
}

// TestMetadataFields pins the values of the fields a grant adds to
// metadata: the cost (null when the model has no price, absent before a
// response exists), and grants and quotas, empty in this version.
func TestMetadataFields(t *testing.T) {
	tests := []struct {
		name  string
		event string
		field string
		data  Data
		want  string // the metadata key's JSON; "" means absent
	}{
		{"estimated cost", policy.EventEntireRequest, "estimated_cost", fullData,
			`{"dollars":0.0000495,"cost_basis":"openai/gpt-5","usage":{"input_tokens":12,"output_tokens":3,"cached_tokens":4}}`},
		{"unpriced model is null, not free", policy.EventEntireRequest, "estimated_cost", Data{}, `null`},
		{"no cost before the response", policy.EventPreRequest, "estimated_cost", fullData, ``},
		{"grants are empty", policy.EventEntireRequest, "grants", fullData, `{}`},
		{"grants before the response", policy.EventPreRequest, "grants", fullData, `{}`},
		{"quotas are empty", policy.EventToolCallEntireRequest, "quotas", fullData, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var meta map[string]json.RawMessage
			if err := json.Unmarshal(decode(t, NewPayload(tt.event, []string{tt.field}, testMetadata, tt.data))["metadata"], &meta); err != nil {
				t.Fatal(err)
			}
			got, ok := meta[tt.field]
			if tt.want == "" {
				if ok {
					t.Errorf("metadata.%s = %s, want it absent", tt.field, got)
				}
				return
			}
			if string(got) != tt.want {
				t.Errorf("metadata.%s = %s, want %s", tt.field, got, tt.want)
			}
		})
	}
}

func TestPayloadTruncated(t *testing.T) {
	tests := []struct {
		name   string
		event  string
		fields []string
		data   Data
		want   string // "truncated" member, "" when absent
	}{
		{"cut response body", policy.EventEntireRequest, []string{policy.FieldResponseBody}, Data{Truncated: true}, "true"},
		{"cut raw responses", policy.EventEntireRequest, []string{policy.FieldRawResponses}, Data{Truncated: true}, "true"},
		{"whole response", policy.EventEntireRequest, []string{policy.FieldResponseBody}, Data{}, ""},
		{"no response fields asked", policy.EventEntireRequest, []string{policy.FieldUserMessage}, Data{Truncated: true}, ""},
		{"pre_request carries no response", policy.EventPreRequest, []string{policy.FieldResponseBody}, Data{Truncated: true}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := decode(t, NewPayload(tt.event, tt.fields, testMetadata, tt.data))
			if got := string(m["truncated"]); got != tt.want {
				t.Errorf("truncated = %q, want %q", got, tt.want)
			}
		})
	}
}
