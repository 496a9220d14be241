package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluice-gateway/sluice/policy"
)

// TestDecideGrants runs a grid of callers and models through the policies of
// the grants examples, checking the refusal code the gateway answers by
// and the grant that allowed.
func TestDecideGrants(t *testing.T) {
	perUser := newEngine(t, loadCase(t, "grants-per-user-models"))
	admin := newEngine(t, loadCase(t, "grants-admin-access"))
	tailnet := newEngine(t, loadCase(t, "grants-tailnet"))
	withCaps := func(in Input, caps ...string) Input {
		for _, c := range caps {
			in.Caps = append(in.Caps, json.RawMessage(c))
		}
		return in
	}
	tests := []struct {
		name       string
		e          *Engine
		in         Input
		wantAllow  bool
		wantCode   string
		wantGrants []string
	}{
		{"alice anthropic", perUser, in("alice@company.com", "anthropic", "claude-opus-4-5"), true, "", []string{"grants[1].app.tailscale.com/cap/aperture[0]"}},
		{"alice openai", perUser, in("alice@company.com", "openai", "gpt-4.1"), false, CodeNoModel, nil},
		{"bob gpt-4", perUser, in("bob@company.com", "openai", "gpt-4o"), true, "", []string{"grants[2].app.tailscale.com/cap/aperture[0]"}},
		{"bob sonnet via domain", perUser, in("bob@company.com", "anthropic", "claude-sonnet-4-5"), true, "", []string{"grants[3].app.tailscale.com/cap/aperture[0]"}},
		{"stranger", perUser, in("eve@else.org", "openai", "gpt-4o"), false, CodeNoModel, nil},
		{"ci openrouter", perUser, in("tag:ci", "openrouter", "meta/llama-4", "tag:ci"), true, "", []string{"grants[4].app.tailscale.com/cap/aperture[0]"}},
		{"group from WhoIs", perUser, Input{User: User{Login: "carol@else.org", Groups: []string{"group:research"}}, Request: Request{Provider: "openai", Model: "gpt-5"}}, true, "", []string{"grants[5].app.tailscale.com/cap/aperture[0]"}},
		{"SCIM group by email", admin, Input{User: User{Login: "carol@else.org", Groups: []string{"admin@company.com"}}, Request: Request{Provider: "openai", Model: "gpt-5"}}, true, "", []string{"grants[0].app.tailscale.com/cap/aperture[1]", "grants[1].app.tailscale.com/cap/aperture[1]"}},
		{"group absent", perUser, in("carol@else.org", "openai", "gpt-5"), false, CodeNoModel, nil},
		{"nobody", admin, in("", "openai", "gpt-5"), false, CodeNoRole, nil},
		{"admin", admin, in("admin@company.com", "openai", "gpt-5"), true, "", []string{"grants[0].app.tailscale.com/cap/aperture[1]", "grants[1].app.tailscale.com/cap/aperture[1]"}},
		{"config model", tailnet, in("bob@company.com", "openai", "gpt-5-mini"), true, "", []string{"grants[0].app.tailscale.com/cap/aperture[1]"}},
		{"tailnet model", tailnet, withCaps(in("alice@company.com", "anthropic", "claude-sonnet-4-5"), `{"models": "anthropic/**"}`), true, "", []string{"tailnet:caps[0]"}},
		{"tailnet model other caller", tailnet, in("bob@company.com", "anthropic", "claude-sonnet-4-5"), false, CodeNoModel, nil},
		{"tailnet quotas", tailnet, withCaps(in("alice@company.com", "openai", "gpt-5-mini"), `{"quotas": [{"bucket": "b"}]}`), false, CodeDenied, nil},
		{"tailnet garbage", tailnet, withCaps(in("alice@company.com", "anthropic", "claude-sonnet-4-5"), `not json`), false, CodeNoModel, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := tt.e.Decide(context.Background(), tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != tt.wantAllow || d.Code != tt.wantCode {
				t.Errorf("allow %v code %q, want %v %q (reasons %q)", d.Allow, d.Code, tt.wantAllow, tt.wantCode, d.Reasons)
			}
			if diff := cmp.Diff(tt.wantGrants, d.Grants); diff != "" {
				t.Errorf("grants (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDecideCapsAreKeyed: the cache never answers a caller with the
// decision of the same login under other tailnet capabilities.
func TestDecideCapsAreKeyed(t *testing.T) {
	e := newEngine(t, loadCase(t, "grants-tailnet"))
	base := in("alice@company.com", "anthropic", "claude-sonnet-4-5")
	granted := base
	granted.Caps = []json.RawMessage{json.RawMessage(`{"models": "anthropic/**"}`)}
	for i, tt := range []struct {
		in   Input
		want bool
	}{{granted, true}, {base, false}, {granted, true}} {
		d, err := e.Decide(context.Background(), tt.in)
		if err != nil || d.Allow != tt.want {
			t.Errorf("call %d: allow %v (%v), want %v", i, d.Allow, err, tt.want)
		}
	}
}

func TestDecideGrantsExtras(t *testing.T) {
	e := newEngine(t, parseConfig(t, `{
		"providers": {"openai": {"baseurl": "https://o.example", "apikey": "k", "models": ["gpt-5"]}},
		"hooks": {"audit": {"url": "https://a.example"}},
		"grants": [
			{"src": ["*"], "app": {
				"tailscale.com/cap/aperture": [{"role": "user"}, {"models": "openai/*", "add_headers": ["X-Project: blue"], "send_hooks": [{"name": "audit", "send": ["grants"]}]}],
				"example.com/cap/tier": [{"tier": "gold"}],
			}},
			{"src": ["ops@company.com"], "app": {"tailscale.com/cap/aperture": [{"read_metrics": true, "add_headers": ["X-Team: ops"]}]}},
		],
	}`))
	d, err := e.Decide(context.Background(), in("ops@company.com", "openai", "gpt-5"))
	if err != nil || !d.Allow {
		t.Fatalf("%+v %v", d, err)
	}
	if diff := cmp.Diff([]policy.Header{{Name: "X-Project", Value: "blue"}, {Name: "X-Team", Value: "ops"}}, d.Headers); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
	if !d.Metrics {
		t.Error("read_metrics grant gave no metrics")
	}
	if diff := cmp.Diff(map[string][]any{"example.com/cap/tier": {map[string]any{"tier": "gold"}}}, d.AppGrants); diff != "" {
		t.Errorf("app grants (-want +got):\n%s", diff)
	}
	if len(d.Hooks) != 1 || d.Hooks[0].Hook != "audit" || !d.Hooks[0].Wants(policy.EventToolCallEntireRequest) {
		t.Errorf("hooks = %+v", d.Hooks)
	}
	other, _ := e.Decide(context.Background(), in("bob@company.com", "openai", "gpt-5"))
	if other.Metrics || len(other.Headers) != 1 {
		t.Errorf("bob: metrics %v headers %v", other.Metrics, other.Headers)
	}
	// A header from the tailnet policy file is checked like the config's.
	tn := in("bob@company.com", "openai", "gpt-5")
	tn.Caps = []json.RawMessage{json.RawMessage(`{"add_headers": ["Authorization: Bearer stolen", "X-Ok: 1"]}`)}
	d, _ = e.Decide(context.Background(), tn)
	for _, h := range d.Headers {
		if strings.EqualFold(h.Name, "Authorization") {
			t.Errorf("tailnet cap set %s", h.Name)
		}
	}
	if len(d.Headers) != 2 {
		t.Errorf("headers = %v, want X-Project and X-Ok", d.Headers)
	}
}

// appGrantsConfig generates a grants section of n entries, each naming one
// login with a role and a models capability, plus a domain-wide hook.
func appGrantsConfig(tb testing.TB, n int) *policy.Config {
	tb.Helper()
	var b strings.Builder
	b.WriteString(`{"providers": {"p0": {"baseurl": "https://p.example", "apikey": "k", "models": ["model-1"]}},
	"hooks": {"audit": {"url": "https://hooks.example/audit"}},
	"grants": [{"src": ["*@example.com"], "app": {"tailscale.com/cap/aperture": [{"models": "*/model-*", "send_hooks": [{"name": "audit", "send": ["tools"]}]}]}}`)
	for i := range n - 1 {
		fmt.Fprintf(&b, `, {"src": ["user%d@example.com"], "app": {"tailscale.com/cap/aperture": [{"role": "user"}, {"models": "p%d/model-%d*"}]}}`, i, i%10, i)
	}
	b.WriteString(`]}`)
	return parseConfig(tb, b.String())
}

func TestAppGrantsConfigDecides(t *testing.T) {
	e := newEngine(t, appGrantsConfig(t, 1000))
	d, err := e.Decide(context.Background(), in("user250@example.com", "p0", "model-250-large"))
	if err != nil || !d.Allow || len(d.Hooks) != 1 {
		t.Fatalf("%+v %v", d, err)
	}
	d, _ = e.Decide(context.Background(), in("outsider@else.org", "p0", "model-250-large"))
	if d.Allow || d.Code != CodeNoRole {
		t.Errorf("outsider: %+v", d)
	}
}

// TestCapHooksMerge: a hook wired by several grants is one hook grant with
// the union of their events and fields.
func TestCapHooksMerge(t *testing.T) {
	e := newEngine(t, loadCase(t, "grants-hooks"))
	d, err := e.Decide(context.Background(), in("alice@company.com", "anthropic", "claude-sonnet-4-5"))
	if err != nil || !d.Allow {
		t.Fatalf("%+v %v", d, err)
	}
	type hook struct {
		Hook           string
		Events, Fields []string
	}
	var got []hook
	for _, h := range d.Hooks {
		got = append(got, hook{h.Hook, h.Events, h.Fields})
	}
	want := []hook{
		{"audit", []string{"entire_request", "tool_call_entire_request"}, []string{"user_message", "grants", "tools"}},
		{"guard", []string{"pre_request"}, []string{"request_body"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("hooks (-want +got):\n%s", diff)
	}
}

// TestDecideCORS: set_cors capabilities reach the decision in configuration
// order, the tailnet policy file's after the config's, whatever the model;
// a capability without set_cors gives none.
func TestDecideCORS(t *testing.T) {
	e := newEngine(t, parseConfig(t, `{
		"providers": {"openai": {"baseurl": "http://127.0.0.1:1", "models": ["gpt-5"]}},
		"grants": [
			{"src": ["*"], "app": {"tailscale.com/cap/aperture": [
				{"role": "user", "set_cors": false, "cors_paths": ["/**"], "Access-Control-Allow-Origin": "*"},
			]}},
			{"src": ["alice@example.com"], "app": {"tailscale.com/cap/aperture": [
				{"set_cors": true, "cors_paths": ["/v1/*"], "Access-Control-Allow-Origin": "https://b.example", "Access-Control-Allow-Methods": "GET"},
			]}},
			{"src": ["*@example.com"], "app": {"tailscale.com/cap/aperture": [
				{"set_cors": true, "cors_paths": "/v1/**", "Access-Control-Allow-Origin": "https://a.example", "Access-Control-Allow-Headers": "Content-Type"},
			]}},
		],
	}`))
	in := Input{User: User{Login: "alice@example.com"}, Request: Request{Provider: "openai", Model: "gpt-5"},
		Caps: []json.RawMessage{json.RawMessage(`{"set_cors": true, "cors_paths": ["/x"], "Access-Control-Allow-Origin": "https://c.example"}`)}}
	d, err := e.Decide(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	want := []CORSGrant{
		{Paths: []string{"/v1/*"}, Origin: "https://b.example", Methods: "GET", Grant: "grants[1].app.tailscale.com/cap/aperture[0]"},
		{Paths: []string{"/v1/**"}, Origin: "https://a.example", Headers: "Content-Type", Grant: "grants[2].app.tailscale.com/cap/aperture[0]"},
		{Paths: []string{"/x"}, Origin: "https://c.example", Grant: "tailnet:caps[0]"},
	}
	if diff := cmp.Diff(want, d.CORS); diff != "" {
		t.Errorf("CORS (-want +got):\n%s", diff)
	}
	d, err = e.Decide(context.Background(), Input{User: User{Login: "eve@else.org"}, Request: Request{Provider: "openai", Model: "gpt-5"}})
	if err != nil {
		t.Fatal(err)
	}
	if d.CORS != nil {
		t.Errorf("caller without set_cors got CORS %+v", d.CORS)
	}
}
