package proxy

// End-to-end tests with the providers' official Go SDKs as clients,
// unmodified, pointed at sluice in front of the mock provider. Every case
// asserts on both sides of the gateway: what the SDK parsed, what the
// provider received, and the record sluice kept. This file holds the
// configuration and the checks the sdk_*_test.go files share.

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/proxy/proxytest"
	"github.com/sluice-gateway/sluice/store"
)

// sdkLogin is the caller in every SDK test.
const sdkLogin = "alice@example.com"

// Provider keys sluice injects, one per provider so a key reaching the
// wrong provider is caught, with the three documented authorization types.
const (
	providerKeyOpenAI    = "sk-proj-provider-openai"
	providerKeyAnthropic = "sk-ant-provider-anthropic"
	providerKeyGemini    = "AIza-provider-gemini"
	providerKeyVertex    = "ya29.provider-vertex"
	providerKeyBedrock   = "ABSK-provider-bedrock"
)

// Credentials the SDKs present. None of them may reach a provider.
const (
	clientKeyOpenAI      = "sk-client-openai-c1"
	clientKeyAnthropic   = "sk-ant-client-c2"
	clientKeyGemini      = "AIza-client-gemini-c3"
	clientTokenVertex    = "ya29.client-vertex-c4"
	clientAWSAccessKeyID = "AKIACLIENTC5EXAMPLE"
	clientAWSSecret      = "client-aws-secret-c6"
	clientAWSSession     = "client-aws-session-c7"
)

// sdkConfig serves every format. Each provider lists a model the caller
// is not granted, for the 403 cases. Base URLs come with and without a
// trailing slash. The Vertex provider names the project and region that
// replace the placeholders clients may send.
const sdkConfig = `{
	"providers": {
		"openai": {"baseurl": "UPSTREAM", "apikey": "sk-proj-provider-openai",
			"models": ["gpt-4.1", "gpt-5-mini", "o3"],
			"compatibility": {"openai_chat": true, "openai_responses": true}},
		"anthropic": {"baseurl": "UPSTREAM/", "apikey": "sk-ant-provider-anthropic", "authorization": "x-api-key",
			"models": ["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1"],
			"compatibility": {"openai_chat": false, "anthropic_messages": true}},
		"gemini": {"baseurl": "UPSTREAM", "apikey": "AIza-provider-gemini", "authorization": "x-goog-api-key",
			"models": ["gemini-2.5-flash", "gemini-2.5-flash-lite"],
			"compatibility": {"openai_chat": false, "gemini_generate_content": true}},
		"vertex": {"baseurl": "UPSTREAM", "apikey": "ya29.provider-vertex",
			"project": "sluice-project", "region": "us-east5",
			"models": ["gemini-2.5-pro", "gemini-2.0-flash", "claude-sonnet-4-5@20250929", "claude-opus-4-1@20250805"],
			"compatibility": {"openai_chat": false, "google_generate_content": true, "google_raw_predict": true}},
		"bedrock": {"baseurl": "UPSTREAM", "apikey": "ABSK-provider-bedrock",
			"models": ["anthropic.claude-sonnet-4-5-20250929-v1:0", "us.amazon.nova-lite-v1:0", "meta.llama3-70b-instruct-v1:0",
				"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0"],
			"compatibility": {"openai_chat": false, "bedrock_model_invoke": true, "bedrock_converse": true}},
	},
	"temp_grants": [
		{"src": ["alice@example.com"], "grants": [
			{"role": "user"},
			{"providers": [
				{"provider": "openai", "model": "gpt-*"},
				{"provider": "anthropic", "model": "claude-sonnet-*"},
				{"provider": "anthropic", "model": "claude-haiku-*"},
				{"provider": "gemini", "model": "gemini-2.5-flash"},
				{"provider": "vertex", "model": "gemini-2.5-pro"},
				{"provider": "vertex", "model": "claude-sonnet-*"},
				{"provider": "bedrock", "model": "anthropic.*"},
				{"provider": "bedrock", "model": "us.amazon.*"},
				{"provider": "bedrock", "model": "arn:aws:bedrock:*"},
			]},
		]},
	],
}`

// sdkAnswer is what an SDK handed its caller, in one shape for every SDK:
// the text, the stop reason, the tool calls and the token counts, each in
// the provider's own convention.
type sdkAnswer struct {
	Text       string
	Stop       string
	ToolCalls  []sdkToolCall
	Input      int64 // prompt tokens as the provider reports them
	Output     int64
	Cached     int64 // prompt tokens read from the cache
	CacheWrite int64 // prompt tokens written to the cache
}

// sdkToolCall is one tool call; Args is canonical JSON.
type sdkToolCall struct {
	Name string
	Args string
}

// toolCall builds an sdkToolCall from arguments given as JSON text.
func toolCall(t *testing.T, name, args string) sdkToolCall {
	t.Helper()
	return sdkToolCall{Name: name, Args: canonicalJSON(t, args)}
}

// canonicalJSON re-encodes JSON text so that equal values compare equal.
func canonicalJSON(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("tool arguments %q are not JSON: %v", s, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// wantRecord is what the gateway's record of a request must say.
type wantRecord struct {
	Provider, Model, Format string
	Status                  int
	Stream                  bool
	// Tokens in sluice's convention: Input counts every prompt token,
	// cache reads and writes included.
	Input, Output, CacheRead, CacheWrite int64
	ToolCalls                            int
}

// sdkCase is one successful call through sluice.
type sdkCase struct {
	name string
	// upstreamPath is the escaped path the provider must receive; reply is
	// what the mock provider answers there.
	upstreamPath string
	reply        proxytest.Reply
	// call runs the SDK and reduces its result to an sdkAnswer.
	call func(t *testing.T, ctx context.Context, gw *gateway) (sdkAnswer, error)
	want sdkAnswer
	rec  wantRecord
	// upstream checks more of what the provider received, when set.
	upstream func(t *testing.T, got proxytest.Received)
}

// sdkAuth says which credential the provider must receive and which
// client credentials must not reach it.
type sdkAuth struct {
	header, value string
	secrets       []string
}

// runSDKCases runs each case against a fresh gateway.
func runSDKCases(t *testing.T, auth sdkAuth, cases []sdkCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gw := newGateway(t, sdkConfig, sdkLogin)
			gw.upstream.Handle(tc.upstreamPath, tc.reply)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			got, err := tc.call(t, ctx, gw)
			if err != nil {
				t.Fatalf("SDK call failed: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("the SDK got\n  %+v\nwant\n  %+v", got, tc.want)
			}

			up := onlyRequest(t, gw)
			if up.Path != tc.upstreamPath {
				t.Errorf("upstream path %s, want %s", up.Path, tc.upstreamPath)
			}
			checkUpstreamAuth(t, up, auth)
			if tc.upstream != nil {
				tc.upstream(t, up)
			}
			rec := waitRecord(t, gw)
			checkRecord(t, rec, tc.rec)
			if rec.Error != "" {
				t.Errorf("record of a successful request has error %q", rec.Error)
			}
		})
	}
}

// onlyRequest returns the one request the provider received.
func onlyRequest(t *testing.T, gw *gateway) proxytest.Received {
	t.Helper()
	got := gw.upstream.Received()
	if len(got) != 1 {
		paths := make([]string, len(got))
		for i, r := range got {
			paths[i] = r.Path
		}
		t.Fatalf("the provider received %d requests %v, want 1", len(got), paths)
	}
	if got[0].Method != "POST" {
		t.Errorf("upstream method %s, want POST", got[0].Method)
	}
	return got[0]
}

// credentialHeaders are the headers a provider credential travels in.
var credentialHeaders = []string{"Authorization", "X-Api-Key", "X-Goog-Api-Key"}

// checkUpstreamAuth asserts that the provider got its own key in the
// configured header, no other credential header, and no trace of a client
// credential in any header or in the query.
func checkUpstreamAuth(t *testing.T, up proxytest.Received, auth sdkAuth) {
	t.Helper()
	if got := up.Header.Get(auth.header); got != auth.value {
		t.Errorf("upstream %s = %q, want %q", auth.header, got, auth.value)
	}
	for _, name := range credentialHeaders {
		if !strings.EqualFold(name, auth.header) && up.Header.Get(name) != "" {
			t.Errorf("upstream got a %s header %q besides the provider's %s", name, up.Header.Get(name), auth.header)
		}
	}
	for _, secret := range auth.secrets {
		for name, values := range up.Header {
			for _, v := range values {
				if strings.Contains(v, secret) {
					t.Errorf("client credential %q reached the provider in header %s: %q", secret, name, v)
				}
			}
		}
		if strings.Contains(up.Query, secret) {
			t.Errorf("client credential %q reached the provider in the query %q", secret, up.Query)
		}
	}
}

// waitRecord returns the one record of the test's request. The record is
// written when the handler returns, which may be just after the client has
// read the whole answer, so it waits a bounded time for it.
func waitRecord(t *testing.T, gw *gateway) store.Record {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		recs := gw.sink.all()
		if len(recs) > 1 {
			t.Fatalf("%d records, want 1: %+v", len(recs), recs)
		}
		if len(recs) == 1 {
			return recs[0]
		}
		if time.Now().After(deadline) {
			t.Fatal("no record of the request")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// checkRecord compares the parts of rec that want names.
func checkRecord(t *testing.T, rec store.Record, want wantRecord) {
	t.Helper()
	got := wantRecord{
		Provider: rec.Provider, Model: rec.Model, Format: rec.Format,
		Status: rec.Status, Stream: rec.Stream,
		Input: rec.Usage.Input.Value(), Output: rec.Usage.Output.Value(),
		CacheRead: rec.Usage.CacheRead.Value(), CacheWrite: rec.Usage.CacheWrite.Value(),
		ToolCalls: rec.ToolCalls,
	}
	if got != want {
		t.Errorf("record\n  %+v\nwant\n  %+v", got, want)
	}
	if rec.Login != sdkLogin {
		t.Errorf("record login %q, want %q", rec.Login, sdkLogin)
	}
}

// sdkErrCase is a call sluice must refuse without reaching a provider.
type sdkErrCase struct {
	name string
	call func(t *testing.T, ctx context.Context, gw *gateway) error
	// wantStatus and wantMessage are what the SDK's typed error must
	// carry; rec is the record's provider, model, format and status.
	wantStatus  int
	wantMessage string
	rec         wantRecord
}

// typedError extracts the status and message from an SDK's own API error
// type; ok is false when err is not of that type.
type typedError func(t *testing.T, err error) (status int, message string, ok bool)

// runSDKErrors runs each error case against a fresh gateway.
func runSDKErrors(t *testing.T, typed typedError, cases []sdkErrCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gw := newGateway(t, sdkConfig, sdkLogin)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := tc.call(t, ctx, gw)
			if err == nil {
				t.Fatal("the SDK call succeeded; want an error")
			}
			status, msg, ok := typed(t, err)
			if !ok {
				t.Fatalf("error %T (%v) is not the SDK's API error type", err, err)
			}
			if status != tc.wantStatus {
				t.Errorf("status %d, want %d", status, tc.wantStatus)
			}
			if !strings.Contains(msg, tc.wantMessage) {
				t.Errorf("message %q lacks %q", msg, tc.wantMessage)
			}
			if n := len(gw.upstream.Received()); n != 0 {
				t.Errorf("the provider received %d requests, want none", n)
			}
			checkRecord(t, waitRecord(t, gw), tc.rec)
		})
	}
}

// Messages sluice answers with; the tests match on these parts.
func deniedMessage(model string) string {
	return sdkLogin + ` is not allowed to use model "` + model + `"`
}

func unknownMessage(model string) string {
	return `model "` + model + `" is not configured on this gateway`
}
