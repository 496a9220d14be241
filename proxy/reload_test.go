package proxy

import (
	"context"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

// TestReload: a new configuration takes effect at once; one that fails to
// compile is refused and the running one kept.
func TestReload(t *testing.T) {
	gw := newGateway(t, pipelineConfig, "bob@example.com")
	gw.upstream.HandleAll(proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
	chat := `{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`
	if resp, _ := post(t, gw.URL+"/v1/chat/completions", nil, chat); resp.StatusCode != 403 {
		t.Fatalf("before reload: bob got %d, want 403", resp.StatusCode)
	}
	parse := func(text string) *policy.Config {
		t.Helper()
		cfg, err := policy.Parse("reload.hujson", []byte(strings.ReplaceAll(text, "UPSTREAM", gw.upstream.URL)), nil)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	open := parse(`{"providers": {"openai": {"baseurl": "UPSTREAM", "apikey": "k", "models": ["gpt-5"]}}}`)
	if err := gw.srv.Reload(context.Background(), open); err != nil {
		t.Fatal(err)
	}
	if resp, body := post(t, gw.URL+"/v1/chat/completions", nil, chat); resp.StatusCode != 200 {
		t.Fatalf("after reload: bob got %d %s, want 200", resp.StatusCode, body)
	}
	broken := parse(`{"providers": {"openai": {"baseurl": "UPSTREAM", "apikey": "k", "models": ["gpt-5"]}},
		"hooks": {"h": {"url": "http://127.0.0.1:9"}},
		"temp_grants": [{"src": ["*"], "grants": [{"hook": {"hook": "h", "condition": "request.no_such_field"}}]}]}`)
	if err := gw.srv.Reload(context.Background(), broken); err == nil {
		t.Fatal("a configuration whose condition does not compile was accepted")
	}
	if gw.srv.Config() != open {
		t.Error("the running configuration was replaced by a refused one")
	}
	if resp, _ := post(t, gw.URL+"/v1/chat/completions", nil, chat); resp.StatusCode != 200 {
		t.Errorf("after a refused reload: bob got %d, want 200 as before", resp.StatusCode)
	}
}
