package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
	"github.com/sluice-gateway/sluice/store"
)

// newShadowAPIGateway is newConfigGateway with a decision log.
func newShadowAPIGateway(t *testing.T, log *lockedBuffer) *configGateway {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(dir, "sluice.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	file := filepath.Join(dir, "sluice.hujson")
	cg := &configGateway{file: file, store: st}
	cg.gateway = newGateway(t, configAPIText, "", func(o *Options) {
		o.Identity = identity.TrustedHeaders(identity.HeaderTrust{})
		o.Store = st
		o.ConfigFile = file
		o.EngineOptions = append(o.EngineOptions, engine.WithDecisionLog(log))
	})
	cg.upstream.HandleAll(proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
	if err := os.WriteFile(file, cg.srv.Config().Raw, 0o640); err != nil {
		t.Fatal(err)
	}
	return cg
}

// TestShadowAPI: a candidate set through the config API is decided next
// to the live policy without being enforced; its differences are counted,
// listed and written to the decision log with both results; promoting it
// makes it live with PUT /api/config's checks, and clears the shadow.
func TestShadowAPI(t *testing.T) {
	var dlog lockedBuffer
	cg := newShadowAPIGateway(t, &dlog)
	const admin = "boss@example.com"
	// The candidate: alice may use claude only, bob every model.
	candidate := cg.text(func(s string) string {
		s = strings.Replace(s, `{"src": ["alice@example.com", "tag:ci"], "grants": [{"providers": [{"provider": "*", "model": "*"}]}]}`,
			`{"src": ["alice@example.com", "tag:ci"], "grants": [{"providers": [{"provider": "anthropic", "model": "*"}]}]}`, 1)
		return strings.Replace(s, `{"provider": "anthropic", "model": "claude-*"}`, `{"provider": "*", "model": "*"}`, 1)
	})

	if code, body := call(t, cg.srv, admin, "GET", "/api/config/shadow", nil); code != 200 || decode[shadowJSON](t, body).Active {
		t.Fatalf("GET before any shadow: %d %s", code, body)
	}
	if code, body := call(t, cg.srv, admin, "PUT", "/api/config/shadow", map[string]any{"config": `{"providers": 1}`}); code != 422 || !strings.Contains(string(body), `"code":"invalid"`) {
		t.Fatalf("PUT of an invalid candidate: %d %s", code, body)
	}
	if code, body := call(t, cg.srv, admin, "PUT", "/api/config/shadow", map[string]any{"config": candidate}); code != 200 {
		t.Fatalf("PUT shadow: %d %s", code, body)
	}
	if code, _ := call(t, cg.srv, "alice@example.com", "PUT", "/api/config/shadow", map[string]any{"config": candidate}); code != 403 {
		t.Errorf("a user set the shadow: %d", code)
	}

	// The live policy decides; the shadow only watches.
	for _, c := range []struct {
		login, model string
		want         int
	}{
		{"alice@example.com", "gpt-5", 200}, // shadow denies
		{"bob@example.com", "gpt-5", 403},   // shadow allows
		{"alice@example.com", "gpt-5", 200}, // shadow denies again
	} {
		if got := cg.chatAs(t, c.login, c.model); got != c.want {
			t.Errorf("%s %s: %d, want the live %d", c.login, c.model, got, c.want)
		}
	}

	code, body := call(t, cg.srv, admin, "GET", "/api/config/shadow", nil)
	st := decode[shadowJSON](t, body)
	if code != 200 || !st.Active || st.Source != "api" || st.Hash != sha(candidate) || st.Config != candidate {
		t.Fatalf("GET shadow: %d active=%v source=%q", code, st.Active, st.Source)
	}
	if want := (shadowCounts{Total: 3, AllowToDeny: 2, DenyToAllow: 1}); st.Differences != want {
		t.Errorf("differences %+v, want %+v", st.Differences, want)
	}
	if len(st.Recent) != 3 || st.Recent[0].Login != "alice@example.com" || st.Recent[1].Login != "bob@example.com" ||
		st.Recent[1].Live != "deny" || st.Recent[1].Shadow != "allow" || st.Recent[1].Model != "gpt-5" {
		t.Errorf("recent differences, newest first: %+v", st.Recent)
	}

	// The decision log has each difference with both results.
	var shadowEvents int
	sc := bufio.NewScanner(strings.NewReader(dlog.String()))
	for sc.Scan() {
		var ev struct {
			Path   string `json:"path"`
			Result struct {
				Allow bool `json:"allow"`
			} `json:"result"`
			Custom struct {
				Shadow struct {
					Revision string `json:"revision"`
					Result   struct {
						Allow bool     `json:"allow"`
						Deny  []string `json:"deny"`
					} `json:"result"`
				} `json:"shadow"`
			} `json:"custom"`
			Input engine.Input `json:"input"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Path != engine.ShadowPath {
			continue
		}
		shadowEvents++
		if ev.Result.Allow == ev.Custom.Shadow.Result.Allow || ev.Custom.Shadow.Revision != st.Revision {
			t.Errorf("shadow event without both results: %s", sc.Bytes())
		}
		if ev.Input.User.Login == "alice@example.com" && len(ev.Custom.Shadow.Result.Deny) == 0 {
			t.Errorf("the shadow's denial has no reason: %s", sc.Bytes())
		}
	}
	if shadowEvents != 3 {
		t.Errorf("%d shadow events in the decision log, want 3:\n%s", shadowEvents, dlog.String())
	}

	// Promotion takes the live hash, as PUT /api/config does.
	live := sha(string(cg.srv.Config().Raw))
	if code, body := call(t, cg.srv, admin, "POST", "/api/config/shadow/promote", map[string]any{"hash": sha("stale")}); code != 409 || !strings.Contains(string(body), "stale_hash") {
		t.Errorf("promote with a stale hash: %d %s", code, body)
	}
	lockout := cg.text(func(s string) string { return strings.Replace(s, `{"role": "admin"}, `, "", 1) })
	call(t, cg.srv, admin, "PUT", "/api/config/shadow", map[string]any{"config": lockout})
	if code, body := call(t, cg.srv, admin, "POST", "/api/config/shadow/promote", map[string]any{"hash": live}); code != 422 || !strings.Contains(string(body), "admin_lockout") {
		t.Errorf("promote of a candidate that locks the admin out: %d %s", code, body)
	}
	call(t, cg.srv, admin, "PUT", "/api/config/shadow", map[string]any{"config": candidate})
	if code, body := call(t, cg.srv, admin, "POST", "/api/config/shadow/promote", map[string]any{"hash": live}); code != 200 || !strings.Contains(string(body), sha(candidate)) {
		t.Fatalf("promote: %d %s", code, body)
	}
	if got := cg.chatAs(t, "bob@example.com", "gpt-5"); got != 200 {
		t.Errorf("after promotion bob gets %d, want the candidate's 200", got)
	}
	if got := cg.chatAs(t, "alice@example.com", "gpt-5"); got != 403 {
		t.Errorf("after promotion alice gets %d, want the candidate's 403", got)
	}
	if saved, _ := os.ReadFile(cg.file); string(saved) != candidate {
		t.Error("the promoted candidate is not the configuration file")
	}
	if _, body := call(t, cg.srv, admin, "GET", "/api/config/shadow", nil); decode[shadowJSON](t, body).Active {
		t.Error("the shadow still runs after promotion")
	}
	if code, body := call(t, cg.srv, admin, "POST", "/api/config/shadow/promote", map[string]any{"hash": sha(candidate)}); code != 409 || !strings.Contains(string(body), "no_shadow") {
		t.Errorf("promote without a shadow: %d %s", code, body)
	}
	call(t, cg.srv, admin, "PUT", "/api/config/shadow", map[string]any{"config": lockout})
	if code, body := call(t, cg.srv, admin, "DELETE", "/api/config/shadow", nil); code != 200 || !strings.Contains(string(body), `"cleared":true`) {
		t.Errorf("DELETE shadow: %d %s", code, body)
	}
}

// TestPolicyReplayAPI: POST /api/policy/replay reports who gains which
// model over the request log, locates a candidate's problems, and refuses
// a bad since.
func TestPolicyReplayAPI(t *testing.T) {
	var dlog lockedBuffer
	cg := newShadowAPIGateway(t, &dlog)
	const admin = "boss@example.com"
	if got := cg.chatAs(t, "bob@example.com", "gpt-5"); got != 403 {
		t.Fatalf("bob gpt-5: %d", got)
	}
	// The gateway's sink is a memory sink: put its records in the store.
	for _, rec := range cg.sink.all() {
		if err := cg.store.Insert(context.Background(), []store.Record{rec}); err != nil {
			t.Fatal(err)
		}
	}
	widened := cg.text(func(s string) string {
		return strings.Replace(s, `{"provider": "anthropic", "model": "claude-*"}`, `{"provider": "*", "model": "*"}`, 1)
	})
	tests := []struct {
		name     string
		body     map[string]any
		wantCode int
		want     string
	}{
		{"gains", map[string]any{"config": widened, "since": "7d"}, 200, `"changes":[{"user":"bob@example.com","model":"gpt-5","change":"gained","requests":1}]`},
		{"no change", map[string]any{"config": cg.text(nil)}, 200, `"changes":[]`},
		{"candidate does not load", map[string]any{"config": `{"providers": 1}`}, 200, `"ok":false`},
		{"bad since", map[string]any{"config": widened, "since": "a week"}, 400, "not a duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := call(t, cg.srv, admin, "POST", "/api/policy/replay", tt.body)
			if code != tt.wantCode || !strings.Contains(string(body), tt.want) {
				t.Errorf("%d %s, want %d with %s", code, body, tt.wantCode, tt.want)
			}
		})
	}
}
