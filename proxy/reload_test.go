package proxy

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
	"github.com/sluice-gateway/sluice/store"
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

// reloadBase is the running configuration of TestReloadFieldClasses; each
// case replaces one of its parts.
var reloadBase = map[string]string{
	"providers":   `"providers": {"openai": {"baseurl": "UPSTREAM", "apikey": "k", "models": ["gpt-5"]}}`,
	"temp_grants": `"temp_grants": [{"src": ["*"], "grants": [{"role": "user"}, {"providers": [{"provider": "*", "model": "*"}]}, {"hook": {"match": {"events": ["entire_request"]}, "hook": "audit", "fields": []}}]}]`,
	"hooks":       `"hooks": {"audit": {"url": "HOOK/first"}}`,
	"database":    `"database": {"retention": "720h"}`,
	"pricing":     `"pricing": {"gpt-5": {"input": 1, "output": 1}}`,
}

func reloadText(parts map[string]string) string {
	var b strings.Builder
	b.WriteString("{")
	for _, k := range []string{"providers", "temp_grants", "hooks", "database", "pricing"} {
		b.WriteString(parts[k] + ",\n")
	}
	b.WriteString("}")
	return b.String()
}

// TestReloadFieldClasses reloads a change to each class of configuration
// field: each is applied whole, or refused whole with a restart-required
// error and the running configuration kept, never half.
func TestReloadFieldClasses(t *testing.T) {
	const chat = `{"model":"MODEL","messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name    string
		change  map[string]string
		refused []string // fields named in the restart-required error
		check   func(t *testing.T, gw *gateway, rc *receiver, call func(model string) store.Record)
	}{
		{name: "providers: a new model", change: map[string]string{
			"providers": `"providers": {"openai": {"baseurl": "UPSTREAM", "apikey": "k", "models": ["gpt-5", "gpt-5-mini"]}}`},
			check: func(t *testing.T, gw *gateway, rc *receiver, call func(string) store.Record) {
				if r := call("gpt-5-mini"); r.Status != 200 {
					t.Errorf("new model: status %d, want 200", r.Status)
				}
			}},
		{name: "grants: caller no longer granted", change: map[string]string{
			"temp_grants": `"temp_grants": [{"src": ["*"], "grants": [{"role": "user"}]}]`},
			check: func(t *testing.T, gw *gateway, rc *receiver, call func(string) store.Record) {
				if r := call("gpt-5"); r.Status != 403 {
					t.Errorf("after revoking the grant: status %d, want 403", r.Status)
				}
			}},
		{name: "hooks: new URL, same policy revision", change: map[string]string{
			"hooks": `"hooks": {"audit": {"url": "HOOK/second"}}`},
			check: func(t *testing.T, gw *gateway, rc *receiver, call func(string) store.Record) {
				call("gpt-5")
				drain(t, gw)
				if got := rc.paths(); len(got) != 1 || got[0] != "/second" {
					t.Errorf("hook delivered to %v, want the new URL /second", got)
				}
			}},
		{name: "database: save_raws on", change: map[string]string{
			"database": `"database": {"retention": "720h", "save_raws": true}`},
			check: func(t *testing.T, gw *gateway, rc *receiver, call func(string) store.Record) {
				if r := call("gpt-5"); len(r.RawRequest) == 0 {
					t.Error("save_raws turned on by reload: raw request not kept")
				}
			}},
		{name: "database: retention", change: map[string]string{
			"database": `"database": {"retention": "24h"}`},
			check: func(t *testing.T, gw *gateway, rc *receiver, call func(string) store.Record) {
				if got := gw.srv.Config().Database.Retention; got != 24*time.Hour {
					t.Errorf("retention %v, want 24h", got)
				}
			}},
		{name: "pricing", change: map[string]string{
			"pricing": `"pricing": {"gpt-5": {"input": 1000000, "output": 1000000}}`},
			check: func(t *testing.T, gw *gateway, rc *receiver, call func(string) store.Record) {
				if r := call("gpt-5"); !r.CostKnown || r.CostUSD < 1 {
					t.Errorf("cost %v (known %v) after a price rise, want at least $1", r.CostUSD, r.CostKnown)
				}
			}},
		{name: "database: keep_encrypted_blobs with save_raws", change: map[string]string{
			"database": `"database": {"retention": "720h", "save_raws": true, "keep_encrypted_blobs": true}`},
			refused: []string{"database.keep_encrypted_blobs"},
			check: func(t *testing.T, gw *gateway, rc *receiver, call func(string) store.Record) {
				if r := call("gpt-5"); len(r.RawRequest) != 0 {
					t.Error("a refused reload turned on save_raws: prompts stored without the encryption asked for")
				}
			}},
		{name: "mixed: pricing with a restart-only field", change: map[string]string{
			"pricing":  `"pricing": {"gpt-5": {"input": 1000000, "output": 1000000}}`,
			"database": `"database": {"retention": "720h", "keep_encrypted_blobs": true}`},
			refused: []string{"database.keep_encrypted_blobs"},
			check: func(t *testing.T, gw *gateway, rc *receiver, call func(string) store.Record) {
				if r := call("gpt-5"); r.CostUSD >= 1 {
					t.Errorf("cost %v: the price of a refused reload was applied", r.CostUSD)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t)
			text := strings.ReplaceAll(reloadText(reloadBase), "HOOK", rc.URL)
			gw := newGateway(t, text, "alice@example.com")
			gw.upstream.HandleAll(proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
			call := func(model string) store.Record {
				t.Helper()
				before := len(gw.sink.all())
				post(t, gw.URL+"/v1/chat/completions", nil, strings.ReplaceAll(chat, "MODEL", model))
				return waitRecords(t, gw, before+1)[before]
			}
			running := gw.srv.Config()
			revision := gw.srv.state.Load().engine.Revision()

			parts := maps.Clone(reloadBase)
			maps.Copy(parts, tt.change)
			next, err := policy.Parse("test.hujson", []byte(strings.ReplaceAll(strings.ReplaceAll(reloadText(parts), "UPSTREAM", gw.upstream.URL), "HOOK", rc.URL)), nil)
			if err != nil {
				t.Fatal(err)
			}
			err = gw.srv.Reload(context.Background(), next)
			var restart *RestartRequiredError
			switch {
			case tt.refused == nil && err != nil:
				t.Fatalf("reload refused: %v", err)
			case tt.refused != nil && !errors.As(err, &restart):
				t.Fatalf("reload error %v, want a restart-required refusal", err)
			case tt.refused != nil:
				if !slices.Equal(restart.Fields, tt.refused) || !strings.Contains(err.Error(), "restart") {
					t.Errorf("refusal names %v (%q), want %v and a restart", restart.Fields, err, tt.refused)
				}
				if gw.srv.Config() != running {
					t.Error("a refused reload replaced the running configuration")
				}
			default:
				if gw.srv.Config() != next {
					t.Error("an accepted reload did not replace the running configuration")
				}
			}
			if strings.HasPrefix(tt.name, "hooks") && gw.srv.state.Load().engine.Revision() != revision {
				t.Error("a reload that changed only a hook URL changed the policy revision")
			}
			tt.check(t, gw, rc, call)
		})
	}
}

// TestReloadUnchangedIsNoop: reloading the same file keeps the running
// configuration and engine.
func TestReloadUnchangedIsNoop(t *testing.T) {
	gw := newGateway(t, pipelineConfig, "alice@example.com")
	running := gw.srv.state.Load()
	same, err := policy.Parse("test.hujson", running.cfg.Raw, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.srv.Reload(context.Background(), same); err != nil {
		t.Fatal(err)
	}
	if now := gw.srv.state.Load(); now != running {
		t.Error("reloading an unchanged file swapped the snapshot")
	}
}
