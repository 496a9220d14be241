package proxy

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

// disabledConfig declares a disabled provider first: by declaration order
// it would serve gpt-5, and every caller is granted every provider.
const disabledConfig = `{
	"providers": {
		"old": {"baseurl": "UPSTREAM/old", "apikey": "sk-old", "models": ["gpt-5", "only-old"], "disabled": true},
		"azure": {"baseurl": "UPSTREAM", "apikey": "sk-azure", "models": ["gpt-5"], "cost_basis": "azure-eu"},
	},
	"temp_grants": [{"src": ["*"], "grants": [{"role": "user"}, {"providers": [{"provider": "*", "model": "*"}]}]}],
}`

// TestDisabledProviderGetsNoTraffic: a disabled provider, first in
// declaration order and granted by a wildcard, gets no request and is not
// listed; the next provider of the same model serves it.
func TestDisabledProviderGetsNoTraffic(t *testing.T) {
	gw := newGateway(t, disabledConfig, "alice@example.com")
	gw.upstream.HandleAll(proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})

	resp, body := post(t, gw.URL+"/v1/chat/completions", nil, `{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("gpt-5: status %d, body %s", resp.StatusCode, body)
	}
	resp, body = post(t, gw.URL+"/v1/chat/completions", nil, `{"model":"only-old","messages":[]}`)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("only-old (served by the disabled provider only): status %d, want 404; body %s", resp.StatusCode, body)
	}
	got := gw.upstream.Received()
	if len(got) != 1 || got[0].Path != "/v1/chat/completions" || got[0].Header.Get("Authorization") != "Bearer sk-azure" {
		t.Fatalf("upstream received %+v; want one request, to the enabled provider", got)
	}
	recs := waitRecords(t, gw, 2)
	if recs[0].Provider != "azure" {
		t.Errorf("record provider %q, want azure", recs[0].Provider)
	}
	// 12 prompt and 3 completion tokens at Azure EU's gpt-5 price (list
	// +10%: $1.375 and $11 per million).
	if want := (12*1.375 + 3*11.0) / 1e6; !recs[0].CostKnown || diff(recs[0].CostUSD, want) > 1e-12 {
		t.Errorf("cost %v, want %v by the provider's cost_basis", recs[0].CostUSD, want)
	}

	req, _ := http.NewRequest(http.MethodGet, gw.URL+"/v1/models", nil)
	mresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer mresp.Body.Close()
	raw, _ := io.ReadAll(mresp.Body)
	var list struct {
		Data []struct {
			ID      string `json:"id"`
			OwnedBy string `json:"owned_by"`
			Pricing struct {
				Input string `json:"input"`
			} `json:"pricing"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatalf("models: %v: %s", err, raw)
	}
	if len(list.Data) != 1 || list.Data[0].ID != "gpt-5" || list.Data[0].OwnedBy != "azure" || list.Data[0].Pricing.Input != "0.000001375" {
		t.Errorf("/v1/models = %s; want only gpt-5, of azure, at its cost_basis price", raw)
	}
}

// TestGeminiCLIVertexCompat: a provider with only the Gemini CLI Vertex
// flag serves Gemini CLI's Vertex-mode path (v1beta1, as the CLI's SDK
// sends it), and the flag grants nothing: a caller without a provider
// grant is still refused.
func TestGeminiCLIVertexCompat(t *testing.T) {
	const config = `{
		"providers": {"vertex": {"baseurl": "UPSTREAM", "apikey": "vx-key", "project": "p1", "region": "us-central1",
			"models": ["gemini-2.5-pro"], "compatibility": {"openai_chat": false, "experimental_gemini_cli_vertex_compat": true}}},
		"temp_grants": [{"src": ["*"], "grants": [{"role": "user"}]},
			{"src": ["alice@example.com"], "grants": [{"providers": [{"provider": "vertex", "model": "*"}]}]}],
	}`
	const path = "/v1beta1/projects/p1/locations/us-central1/publishers/google/models/gemini-2.5-pro:generateContent"
	for _, tt := range []struct {
		login  string
		status int
	}{{"alice@example.com", http.StatusOK}, {"bob@example.com", http.StatusForbidden}} {
		gw := newGateway(t, config, tt.login)
		gw.upstream.HandleAll(proxytest.Reply{ContentType: "application/json", Body: proxytest.Fixture(t, "google_generate_content/tool_call.json")})
		resp, body := post(t, gw.URL+path, nil, `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`)
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d; body %s", tt.login, resp.StatusCode, tt.status, body)
		}
		if n := len(gw.upstream.Received()); (n == 1) != (tt.status == http.StatusOK) {
			t.Errorf("%s: upstream received %d requests", tt.login, n)
		}
	}
}
