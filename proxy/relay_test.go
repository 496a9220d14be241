package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

const relayConfig = `{
	"providers": {"openai": {"baseurl": "UPSTREAM", "apikey": "sk-openai", "models": ["gpt-5"]}},
	"temp_grants": [{"src": ["*"], "grants": [{"role": "user"}, {"providers": [{"provider": "*", "model": "*"}]}]}],
}`

// TestRelayDropsHopByHopHeaders: headers that describe one connection
// stay on it, both ways, including those a Connection header names, while
// the others pass.
func TestRelayDropsHopByHopHeaders(t *testing.T) {
	gw := newGateway(t, relayConfig, "alice@example.com")
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "application/json",
		Header: http.Header{
			"Connection":           {"X-Upstream-Internal"},
			"X-Upstream-Internal":  {"secret"},
			"Keep-Alive":           {"timeout=5"},
			"Openai-Processing-Ms": {"12"},
		},
		Body: proxytest.Fixture(t, "openai_chat/text.json")})
	req, _ := http.NewRequest("POST", gw.URL+"/v1/chat/completions", strings.NewReader(`{"model":"gpt-5","messages":[]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Connection", "Openai-Beta")
	req.Header.Set("Openai-Beta", "assistants=v2")
	req.Header.Set("Idempotency-Key", "k1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, name := range []string{"X-Upstream-Internal", "Keep-Alive"} {
		if v := resp.Header.Get(name); v != "" {
			t.Errorf("the client got the provider's hop-by-hop header %s: %q", name, v)
		}
	}
	if v := resp.Header.Get("Openai-Processing-Ms"); v != "12" {
		t.Errorf("Openai-Processing-Ms = %q, want the provider's 12", v)
	}
	got := gw.upstream.Last(t).Header
	if v := got.Get("Openai-Beta"); v != "" {
		t.Errorf("the provider got Openai-Beta %q, which the client's Connection header named", v)
	}
	if v := got.Get("Idempotency-Key"); v != "k1" {
		t.Errorf("the provider got Idempotency-Key %q, want k1", v)
	}
}

// TestRelayPassesTrailers: trailers a provider announces reach the
// client as trailers, after the whole body.
func TestRelayPassesTrailers(t *testing.T) {
	body := proxytest.Fixture(t, "openai_chat/text.json")
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Trailer", "X-Checksum")
		w.Write(body)
		w.Header().Set("X-Checksum", "abc123")
	}))
	defer up.Close()
	gw := newGateway(t, strings.ReplaceAll(relayConfig, "UPSTREAM", up.URL), "alice@example.com")
	resp, err := http.Post(gw.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"gpt-5","messages":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(got) != string(body) {
		t.Fatalf("body %q, %v; want the provider's", got, err)
	}
	if v := resp.Trailer.Get("X-Checksum"); v != "abc123" {
		t.Errorf("trailer X-Checksum = %q, want abc123 (trailers %v)", v, resp.Trailer)
	}
}
