package proxy

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

// TestReloadRefusesFailingAssertions: a configuration whose tests section
// the new policy does not satisfy is refused like an invalid one, with the
// failed assertion located, and the running configuration keeps serving.
func TestReloadRefusesFailingAssertions(t *testing.T) {
	gw := newGateway(t, pipelineConfig, "bob@example.com")
	gw.upstream.HandleAll(proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
	chat := `{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`
	parse := func(text string) *policy.Config {
		t.Helper()
		cfg, err := policy.Parse("reload.hujson", []byte(strings.ReplaceAll(text, "UPSTREAM", gw.upstream.URL)), nil)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	const providers = `"providers": {"openai": {"baseurl": "UPSTREAM", "apikey": "k", "models": ["gpt-5"]}},`
	holding := parse(`{` + providers + `
		"temp_grants": [{"src": ["bob@example.com"], "grants": [{"role": "user"}, {"providers": [{"provider": "openai", "model": "*"}]}]}],
		"tests": [{"src": "bob@example.com", "allow": ["openai/gpt-5"]}, {"src": "eve@example.com", "deny": ["**"]}]}`)
	if err := gw.srv.Reload(context.Background(), holding); err != nil {
		t.Fatalf("assertions that hold were refused: %v", err)
	}
	if resp, body := post(t, gw.URL+"/v1/chat/completions", nil, chat); resp.StatusCode != 200 {
		t.Fatalf("after reload: bob got %d %s, want 200", resp.StatusCode, body)
	}
	// The new grants would let everyone in, which the tests forbid.
	failing := parse(`{` + providers + `
		"temp_grants": [{"src": ["*"], "grants": [{"role": "user"}, {"providers": [{"provider": "openai", "model": "*"}]}]}],
		"tests": [{"src": "bob@example.com", "allow": ["openai/gpt-5"]},
			{"src": "eve@example.com", "deny": ["**"]}]}`)
	err := gw.srv.Reload(context.Background(), failing)
	var errs policy.Errors
	if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Code != policy.CodeTestFailed {
		t.Fatalf("reload error = %v, want one %s", err, policy.CodeTestFailed)
	}
	if want := "reload.hujson:4:40: tests[1]: eve@example.com: expected openai/gpt-5 to be refused (deny \"**\"), but the policy allows it"; !strings.HasPrefix(errs[0].String(), want) {
		t.Errorf("error = %q, want it to start with %q", errs[0], want)
	}
	if gw.srv.Config() != holding {
		t.Error("the running configuration was replaced by a refused one")
	}
	if resp, body := post(t, gw.URL+"/v1/chat/completions", nil, chat); resp.StatusCode != 200 {
		t.Errorf("after a refused reload: bob got %d %s, want 200 as before", resp.StatusCode, body)
	}
}
