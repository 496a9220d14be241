package proxy

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/sluice-gateway/sluice/compat"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
	"github.com/sluice-gateway/sluice/store"
)

// What reaches the provider: the body policy judged, decoded, with only
// the headers the format's allow-list names, on the provider's own Vertex
// project and region.

// postRaw sends body as is with the given headers and returns the answer.
func postRaw(t *testing.T, url string, header http.Header, body []byte) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultTransport.(*http.Transport).Clone().RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestAmbiguousBodiesRefused: a body whose model or stream flag upstream
// decoders could read differently from policy is refused with 400 in the
// caller's format, and never forwarded.
func TestAmbiguousBodiesRefused(t *testing.T) {
	const vertexPath = "/v1/projects/sluice-project/locations/us-east5/publishers/google/models/gemini-2.5-pro:generateContent"
	tests := []struct {
		name, path, body string
		wantShape        string // a fragment of the caller's error shape
		wantMsg          string
	}{
		{name: "openai duplicate model", path: "/v1/chat/completions",
			body:      `{"model":"gpt-5-mini","messages":[{"role":"user","content":"hi"}],"model":"o3"}`,
			wantShape: `"type":"invalid_request_error"`, wantMsg: `ambiguous request: request body has two \"model\" members`},
		{name: "responses capitalised model", path: "/v1/responses", body: `{"model":"gpt-5-mini","Model":"o3","input":"hi"}`,
			wantShape: `"type":"invalid_request_error"`, wantMsg: `written \"Model\", which case-insensitive decoders read as \"model\"`},
		{name: "anthropic escaped model", path: "/v1/messages", body: `{"mod\u0065l":"claude-opus-4-1","max_tokens":5,"messages":[]}`,
			wantShape: `"type":"error"`, wantMsg: `written \"mod\\u0065l\"`},
		{name: "anthropic duplicate stream", path: "/v1/messages", body: `{"model":"claude-sonnet-4-5","stream":false,"max_tokens":5,"messages":[],"stream":true}`,
			wantShape: `"type":"error"`, wantMsg: `two \"stream\" members`},
		{name: "openai case-folded stream_options", path: "/v1/chat/completions",
			body:      `{"model":"gpt-5-mini","stream":true,"Stream_Options":{"include_usage":false},"messages":[]}`,
			wantShape: `"type":"invalid_request_error"`, wantMsg: `\"stream_options\"`},
		{name: "openai second object", path: "/v1/chat/completions", body: `{"model":"gpt-5-mini","messages":[]} {"model":"o3"}`,
			wantShape: `"type":"invalid_request_error"`, wantMsg: "data follows the JSON object"},
		{name: "gemini body names another model", path: "/v1beta/models/gemini-2.5-flash:generateContent",
			body:      `{"model":"models/gemini-2.5-pro","contents":[{"parts":[{"text":"hi"}]}]}`,
			wantShape: `"status":"INVALID_ARGUMENT"`, wantMsg: `the path names \"gemini-2.5-flash\" and the body names \"models/gemini-2.5-pro\"`},
		{name: "gemini query names another model", path: "/v1beta/models/gemini-2.5-flash:generateContent?model=gemini-2.5-pro",
			body: `{"contents":[]}`, wantShape: `"status":"INVALID_ARGUMENT"`, wantMsg: `the query names \"gemini-2.5-pro\"`},
		{name: "vertex duplicate modelId", path: vertexPath, body: `{"modelId":"gemini-2.5-pro","contents":[],"modelId":"gemini-2.0-flash"}`,
			wantShape: `"status":"INVALID_ARGUMENT"`, wantMsg: `two \"modelId\" members`},
		{name: "bedrock body modelId names another model", path: "/model/us.amazon.nova-lite-v1:0/converse",
			body:      `{"modelId":"anthropic.claude-sonnet-4-5-20250929-v1:0","messages":[]}`,
			wantShape: `{"message":`, wantMsg: "request names two different models"},
	}
	gw := newGateway(t, sdkConfig, "alice@example.com")
	gw.upstream.HandleAll(proxytest.Reply{ContentType: "application/json", Body: []byte(`{}`)})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, gw.URL+tt.path, nil, tt.body)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, tt.wantShape) || !strings.Contains(body, tt.wantMsg) {
				t.Errorf("got %d %s\nwant 400 with %s and %s", resp.StatusCode, body, tt.wantShape, tt.wantMsg)
			}
		})
	}
	if n := len(gw.upstream.Received()); n != 0 {
		t.Errorf("the upstream received %d requests", n)
	}
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zlibbed(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func deflated(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zstded(t testing.TB, b []byte) []byte {
	t.Helper()
	w, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	return w.EncodeAll(b, nil)
}

// TestRequestContentEncoding: compressed bodies are decoded before policy
// reads them, bounded after decoding, and forwarded decoded.
func TestRequestContentEncoding(t *testing.T) {
	plain := []byte(`{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`)
	// Compressed, the model a caller is denied: policy must see it.
	denied := []byte(`{"model":"claude-opus-4-1","max_tokens":5,"messages":[]}`)
	bomb := []byte(`{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[{"role":"user","content":"` + strings.Repeat("A", 64<<10) + `"}]}`)
	tests := []struct {
		name       string
		encoding   string
		body       []byte
		wantStatus int
		wantMsg    string
	}{
		{name: "gzip", encoding: "gzip", body: gzipped(t, plain), wantStatus: 200},
		{name: "x-gzip", encoding: "x-gzip", body: gzipped(t, plain), wantStatus: 200},
		{name: "deflate (zlib)", encoding: "deflate", body: zlibbed(t, plain), wantStatus: 200},
		{name: "raw deflate", encoding: "Deflate", body: deflated(t, plain), wantStatus: 200},
		{name: "zstd", encoding: "zstd", body: zstded(t, plain), wantStatus: 200},
		{name: "identity", encoding: "identity", body: plain, wantStatus: 200},
		{name: "stacked gzip then zstd", encoding: "gzip, zstd", body: zstded(t, gzipped(t, plain)), wantStatus: 200},
		{name: "policy sees the decoded model", encoding: "gzip", body: gzipped(t, denied), wantStatus: 403,
			wantMsg: `not allowed to use model \"claude-opus-4-1\"`},
		{name: "brotli unsupported", encoding: "br", body: plain, wantStatus: 415,
			wantMsg: `request Content-Encoding \"br\" is not supported; send the body uncompressed or as gzip, deflate or zstd`},
		{name: "unknown encoding", encoding: "compress", body: plain, wantStatus: 415, wantMsg: `\"compress\" is not supported`},
		{name: "too many layers", encoding: "gzip, gzip, gzip, gzip", body: plain, wantStatus: 415, wantMsg: "is not supported"},
		{name: "labelled gzip but plain", encoding: "gzip", body: plain, wantStatus: 400,
			wantMsg: "request body is labelled Content-Encoding gzip but is not valid gzip data"},
		{name: "labelled zstd but plain", encoding: "zstd", body: plain, wantStatus: 400, wantMsg: "is not valid zstd data"},
		{name: "truncated gzip", encoding: "gzip", body: gzipped(t, plain)[:30], wantStatus: 400, wantMsg: "is not valid gzip data"},
		{name: "gzip bomb", encoding: "gzip", body: gzipped(t, bomb), wantStatus: 413, wantMsg: "limit of 4096 bytes"},
		{name: "zstd bomb", encoding: "zstd", body: zstded(t, bomb), wantStatus: 413, wantMsg: "limit of 4096 bytes"},
		{name: "stacked bomb", encoding: "gzip, gzip", body: gzipped(t, gzipped(t, bomb)), wantStatus: 413, wantMsg: "limit of 4096 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := newGateway(t, sdkConfig, "alice@example.com", func(o *Options) { o.MaxBodyBytes = 4096 })
			gw.upstream.HandleAll(proxytest.Reply{ContentType: "application/json", Body: []byte(anthropicJSON)})
			resp, body := postRaw(t, gw.URL+"/v1/messages", http.Header{"Content-Encoding": {tt.encoding}}, tt.body)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(body, tt.wantMsg) {
				t.Fatalf("got %d %s\nwant %d with %s", resp.StatusCode, body, tt.wantStatus, tt.wantMsg)
			}
			got := gw.upstream.Received()
			if tt.wantStatus != 200 {
				if len(got) != 0 {
					t.Errorf("the upstream received %d requests", len(got))
				}
				if !strings.Contains(body, `"type":"error"`) {
					t.Errorf("error not in the Anthropic shape: %s", body)
				}
				return
			}
			up := gw.upstream.Last(t)
			if !bytes.Equal(up.Body, plain) {
				t.Errorf("upstream body %q, want the decoded %q", up.Body, plain)
			}
			if ce := up.Header.Get("Content-Encoding"); ce != "" {
				t.Errorf("upstream Content-Encoding %q, want none", ce)
			}
			if cl := up.Header.Get("Content-Length"); cl != strconv.Itoa(len(plain)) {
				t.Errorf("upstream Content-Length %s, want %d", cl, len(plain))
			}
		})
	}
}

// TestUpstreamHeaderAllowList sends every header a client may send and
// checks, per format, exactly which reach the provider.
func TestUpstreamHeaderAllowList(t *testing.T) {
	sent := http.Header{
		// Forwarded in every format.
		"Accept":                   {"application/json"},
		"User-Agent":               {"sdk/1.0"},
		"Traceparent":              {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
		"Tracestate":               {"vendor=1"},
		"Baggage":                  {"k=v"},
		"X-Amzn-Trace-Id":          {"Root=1-5759e988-bd862e3fe1be46a994272793"},
		"X-Claude-Code-Session-Id": {"session-1"},
		// Per format.
		"Anthropic-Version":                        {"2023-06-01"},
		"Anthropic-Beta":                           {"prompt-caching-2024-07-31"},
		"Openai-Beta":                              {"assistants=v2"},
		"Idempotency-Key":                          {"idem-1"},
		"X-Stainless-Lang":                         {"go"},
		"X-Stainless-Retry-Count":                  {"0"},
		"X-Goog-Api-Client":                        {"google-genai-sdk/1.0 gl-go/1.26"},
		"X-Amzn-Bedrock-Trace":                     {"ENABLED"},
		"X-Amzn-Bedrock-Guardrailidentifier":       {"gr-1"},
		"X-Amzn-Bedrock-Guardrailversion":          {"1"},
		"X-Amzn-Bedrock-Performanceconfig-Latency": {"optimized"},
		"X-Amzn-Bedrock-Accept":                    {"application/json"},
		"Amz-Sdk-Invocation-Id":                    {"inv-1"},
		// Never forwarded: credentials, billing, identity, unknown.
		"Authorization":             {"Bearer client-secret"},
		"X-Api-Key":                 {"client-secret"},
		"Api-Key":                   {"client-secret"},
		"Api_key":                   {"client-secret"},
		"X_api_key":                 {"client-secret"},
		"X-Goog-Api-Key":            {"client-secret"},
		"Ocp-Apim-Subscription-Key": {"client-secret"},
		"Openai-Organization":       {"org-client"},
		"Openai-Project":            {"proj-client"},
		"X-Goog-User-Project":       {"client-billing-project"},
		"X-Amz-Security-Token":      {"client-secret"},
		"X-Amz-Date":                {"20261205T000000Z"},
		"Cookie":                    {"session=client-secret"},
		"Tailscale-User-Login":      {"mallory@example.com"},
		"X-Forwarded-For":           {"10.0.0.1"},
		"X-Request-Id":              {"client-request-id"},
		"X-Custom-Header":           {"anything"},
	}
	common := []string{"Accept", "User-Agent", "Traceparent", "Tracestate", "Baggage", "X-Amzn-Trace-Id", "X-Claude-Code-Session-Id"}
	tests := []struct {
		format, path, body string
		want               []string // beyond common, Content-Type and Content-Length
	}{
		{compat.OpenAIChat, "/v1/chat/completions", `{"model":"gpt-5-mini","messages":[]}`,
			[]string{"Openai-Beta", "Idempotency-Key", "X-Stainless-Lang", "X-Stainless-Retry-Count"}},
		{compat.OpenAIResponses, "/v1/responses", `{"model":"gpt-5-mini","input":"hi"}`,
			[]string{"Openai-Beta", "Idempotency-Key", "X-Stainless-Lang", "X-Stainless-Retry-Count"}},
		{compat.AnthropicMessages, "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[]}`,
			[]string{"Anthropic-Version", "Anthropic-Beta", "Idempotency-Key", "X-Stainless-Lang", "X-Stainless-Retry-Count"}},
		{compat.GeminiGenerateContent, "/v1beta/models/gemini-2.5-flash:generateContent", `{"contents":[]}`,
			[]string{"X-Goog-Api-Client"}},
		{compat.GoogleGenerateContent, "/v1/projects/sluice-project/locations/us-east5/publishers/google/models/gemini-2.5-pro:generateContent",
			`{"contents":[]}`, []string{"X-Goog-Api-Client"}},
		{compat.GoogleRawPredict, "/v1/projects/sluice-project/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict",
			`{"anthropic_version":"vertex-2023-10-16","max_tokens":5,"messages":[]}`,
			[]string{"Anthropic-Beta", "X-Goog-Api-Client", "X-Stainless-Lang", "X-Stainless-Retry-Count"}},
		{compat.BedrockModelInvoke, "/model/anthropic.claude-sonnet-4-5-20250929-v1:0/invoke",
			`{"anthropic_version":"bedrock-2023-05-31","max_tokens":5,"messages":[]}`,
			[]string{"X-Amzn-Bedrock-Trace", "X-Amzn-Bedrock-Guardrailidentifier", "X-Amzn-Bedrock-Guardrailversion",
				"X-Amzn-Bedrock-Performanceconfig-Latency", "X-Amzn-Bedrock-Accept", "Amz-Sdk-Invocation-Id"}},
		{compat.BedrockConverse, "/model/us.amazon.nova-lite-v1:0/converse", `{"messages":[]}`,
			[]string{"X-Amzn-Bedrock-Trace", "X-Amzn-Bedrock-Guardrailidentifier", "X-Amzn-Bedrock-Guardrailversion",
				"X-Amzn-Bedrock-Performanceconfig-Latency", "X-Amzn-Bedrock-Accept", "Amz-Sdk-Invocation-Id"}},
	}
	gw := newGateway(t, sdkConfig, "alice@example.com")
	gw.upstream.HandleAll(proxytest.Reply{ContentType: "application/json", Body: []byte(`{}`)})
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			resp, body := postRaw(t, gw.URL+tt.path, sent, []byte(tt.body))
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			up := gw.upstream.Last(t)
			// Sluice-Loop is the gateway's own mark against forwarding loops.
			want := append(append([]string{"Content-Type", "Content-Length", "Accept-Encoding", "Sluice-Loop"}, common...), tt.want...)
			// The provider's own credential, set by the gateway.
			for name, vs := range up.Header {
				if isAuth(name) {
					if strings.Contains(strings.Join(vs, ","), "client-secret") {
						t.Errorf("the client's %s reached the upstream", name)
					}
					want = append(want, name)
				}
			}
			var got []string
			for name := range up.Header {
				got = append(got, name)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("upstream headers\n got %v\nwant %v", got, want)
			}
			for name, vs := range up.Header {
				if sentVs, ok := sent[name]; ok && !isAuth(name) && !slices.Equal(vs, sentVs) {
					t.Errorf("%s: upstream got %q, client sent %q", name, vs, sentVs)
				}
			}
		})
	}
}

// isAuth names the headers the gateway sets to the provider's credential.
func isAuth(name string) bool {
	return name == "Authorization" || name == "X-Api-Key" || name == "X-Goog-Api-Key"
}

// TestSessionHeadersForwarded: the session headers sluice reads are in
// the allow-list of every format, so a client's session survives.
func TestSessionHeadersForwarded(t *testing.T) {
	for _, format := range compat.Formats() {
		for _, name := range store.SessionHeaders {
			if !compat.ForwardedHeader(format, name) {
				t.Errorf("%s does not forward the session header %s", format, name)
			}
		}
	}
}

// TestVertexPathPinned: the provider's project and region are the only
// ones a Vertex request reaches, whatever the client's path names.
func TestVertexPathPinned(t *testing.T) {
	const models = "/publishers/google/models/gemini-2.5-pro:generateContent"
	const pinned = "/v1/projects/sluice-project/locations/us-east5" + models
	tests := []struct {
		name, path string
		wantStatus int
		wantMsg    string
	}{
		{name: "placeholders", path: "/v1/projects/" + compat.VertexProjectPlaceholder + "/locations/" + compat.VertexRegionPlaceholder + models,
			wantStatus: 200},
		{name: "the provider's own project and region", path: pinned, wantStatus: 200},
		{name: "project placeholder, own region", path: "/v1/projects/" + compat.VertexProjectPlaceholder + "/locations/us-east5" + models,
			wantStatus: 200},
		{name: "another project", path: "/v1/projects/victim-project/locations/us-east5" + models, wantStatus: 403,
			wantMsg: `the path names the Vertex AI project \"victim-project\", which is not the one this gateway's provider serves; write _aperture_auto_vertex_project_id_ in the path`},
		{name: "another region", path: "/v1/projects/" + compat.VertexProjectPlaceholder + "/locations/europe-west4" + models, wantStatus: 403,
			wantMsg: `the Vertex AI region \"europe-west4\"`},
		{name: "an escaped path in the project", path: "/v1/projects/sluice-project%2F..%2Fvictim/locations/us-east5" + models, wantStatus: 403,
			wantMsg: `project \"sluice-project/../victim\"`},
	}
	gw := newGateway(t, sdkConfig, "alice@example.com")
	gw.upstream.HandleAll(proxytest.Reply{ContentType: "application/json", Body: proxytest.Fixture(t, "google_generate_content/tool_call.json")})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(gw.upstream.Received())
			resp, body := post(t, gw.URL+tt.path, nil, `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(body, tt.wantMsg) {
				t.Fatalf("got %d %s\nwant %d with %s", resp.StatusCode, body, tt.wantStatus, tt.wantMsg)
			}
			got := gw.upstream.Received()[before:]
			if tt.wantStatus != 200 {
				if len(got) != 0 {
					t.Errorf("the upstream received %v", got)
				}
				if !strings.Contains(body, `"status":"PERMISSION_DENIED"`) || strings.Contains(body, "sluice-project\\\"") {
					t.Errorf("want the Google shape without the provider's project: %s", body)
				}
				return
			}
			if len(got) != 1 || got[0].Path != pinned {
				t.Errorf("upstream got %v, want one request to %s", got, pinned)
			}
		})
	}
}
