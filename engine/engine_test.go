package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/rego"
)

func loadCase(t testing.TB, name string) *policy.Config {
	t.Helper()
	return loadConfigFile(t, filepath.Join("..", "testdata", "rego", name, "config.hujson"))
}

// loadConfigFile parses the configuration at path, with no environment.
func loadConfigFile(t testing.TB, path string) *policy.Config {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := policy.Parse("config.hujson", data, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func parseConfig(t testing.TB, src string) *policy.Config {
	t.Helper()
	cfg, err := policy.Parse("config.hujson", []byte(src), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newEngine(t testing.TB, cfg *policy.Config, opts ...Option) *Engine {
	t.Helper()
	e, err := New(context.Background(), cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func in(login, provider, model string, tags ...string) Input {
	return Input{
		User:    User{Login: login, NodeID: "n1", Tailnet: "company.com", Tags: tags},
		Request: Request{Provider: provider, Model: model, Format: policy.FormatOpenAIChat, Path: "/v1/chat/completions"},
	}
}

func TestDecide(t *testing.T) {
	restrict := newEngine(t, loadCase(t, "restrict-users"))
	sources := newEngine(t, loadCase(t, "sources"))
	tests := []struct {
		name       string
		e          *Engine
		in         Input
		wantRole   string
		wantAllow  bool
		wantReason string
	}{
		{"developer granted model", restrict, in("developer@company.com", "openai", "gpt-5"), RoleUser, true, ""},
		{"developer second granted model", restrict, in("developer@company.com", "anthropic", "claude-sonnet-4-5"), RoleUser, true, ""},
		{"developer other model", restrict, in("developer@company.com", "openai", "gpt-5-mini"), RoleUser, false,
			`developer@company.com may not use model "gpt-5-mini" of provider "openai": no provider grant in temp_grants matches`},
		{"developer model through another provider", restrict, in("developer@company.com", "anthropic", "gpt-5"), RoleUser, false, "may not use model"},
		{"admin anything", restrict, in("admin@company.com", "gemini", "gemini-2.5-pro"), RoleAdmin, true, ""},
		{"stranger", restrict, in("intern@company.com", "openai", "gpt-5"), RoleNone, false,
			"intern@company.com has no access: no role grant in temp_grants names them (access is denied by default)"},
		{"empty login", restrict, in("", "openai", "gpt-5"), RoleNone, false, "an unidentified caller has no access"},
		{"domain", sources, in("alice@company.com", "anthropic", "claude-opus-4-5"), RoleUser, true, ""},
		{"domain wrong model", sources, in("alice@company.com", "openai", "gpt-5"), RoleUser, false, "may not use model"},
		{"subdomain glob", sources, in("bob@eu.company.com", "gemini", "gemini-2.5-pro"), RoleUser, true, ""},
		{"tag", sources, in("tagged-devices", "openai", "gpt-5-mini", "tag:ci"), RoleUser, true, ""},
		{"tag glob", sources, in("tagged-devices", "openai", "gpt-5-mini", "tag:build-x"), RoleUser, true, ""},
		{"other tag", sources, in("tagged-devices", "openai", "gpt-5-mini", "tag:prod"), RoleNone, false, "has no access"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := tt.e.Decide(context.Background(), tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Role != tt.wantRole || d.Allow != tt.wantAllow || d.Admin != (tt.wantRole == RoleAdmin) {
				t.Errorf("got role %q admin %v allow %v, want role %q allow %v", d.Role, d.Admin, d.Allow, tt.wantRole, tt.wantAllow)
			}
			if d.ReadMetrics != (tt.wantRole == RoleAdmin) {
				t.Errorf("read_metrics %v for role %q; only admins read metrics", d.ReadMetrics, d.Role)
			}
			if tt.wantReason == "" && len(d.Reasons) != 0 {
				t.Errorf("reasons %q on an allowed request", d.Reasons)
			}
			if tt.wantReason != "" && (len(d.Reasons) != 1 || !strings.Contains(d.Reasons[0], tt.wantReason)) {
				t.Errorf("reasons %q, want one containing %q", d.Reasons, tt.wantReason)
			}
			if d.Revision != tt.e.Revision() || d.ID == "" {
				t.Errorf("decision ID %q revision %q (engine revision %q)", d.ID, d.Revision, tt.e.Revision())
			}
		})
	}
}

func TestDecideDenyByDefault(t *testing.T) {
	tests := []struct {
		name     string
		cfg      *policy.Config
		wantRole string
	}{
		{"temp_grants empty", loadCase(t, "empty-grants"), RoleNone},
		{"no role grant", loadCase(t, "no-role"), RoleNone},
		{"no provider grant", loadCase(t, "deny-by-default"), RoleAdmin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, tt.cfg)
			for _, login := range []string{"example-user@example.com", "admin@company.com", ""} {
				d, err := e.Decide(context.Background(), in(login, "openai", "gpt-5", "tag:ci"))
				if err != nil {
					t.Fatal(err)
				}
				if d.Allow || d.Role != tt.wantRole || len(d.Reasons) != 1 {
					t.Errorf("%q: role %q allow %v reasons %q; want role %q, denied with one reason", login, d.Role, d.Allow, d.Reasons, tt.wantRole)
				}
			}
		})
	}
}

func TestDecideDefaultGrants(t *testing.T) {
	cfg := parseConfig(t, `{"providers": {"openai": {"baseurl": "https://api.openai.com", "apikey": "k", "models": ["gpt-5"]}}}`)
	if !cfg.GrantsDefaulted {
		t.Fatal("configuration without temp_grants did not get the defaults")
	}
	d, err := newEngine(t, cfg).Decide(context.Background(), in("someone@example.com", "openai", "gpt-5"))
	if err != nil {
		t.Fatal(err)
	}
	if !d.Allow || d.Role != RoleAdmin || len(d.Hooks) != 0 {
		t.Errorf("default grants: %+v, want an admin allowed, no hooks", d)
	}
}

const denyModule = `package sluice.authz

deny contains msg if {
	input.request.model == "gpt-5"
	msg := sprintf("%s: gpt-5 is blocked this week", [input.user.login])
}
`

func TestUserModules(t *testing.T) {
	dir := t.TempDir()
	writeModule(t, dir, "block.rego", denyModule)
	writeModule(t, dir, "ignored_test.rego", "package x_test\n\ntest_nothing if false\n")
	tests := []struct {
		name       string
		opts       []Option
		in         Input
		wantAllow  bool
		wantReason string
	}{
		{"deny from dir", []Option{WithModulesDir(dir)}, in("admin@company.com", "openai", "gpt-5"), false, "admin@company.com: gpt-5 is blocked this week"},
		{"other model from dir", []Option{WithModulesDir(dir)}, in("admin@company.com", "openai", "gpt-5-mini"), true, ""},
		{"deny as text", []Option{WithModules(rego.Module{Name: "block.rego", Text: []byte(denyModule)})}, in("developer@company.com", "openai", "gpt-5"), false, "gpt-5 is blocked"},
		{"allow cannot widen", []Option{WithModules(rego.Module{Name: "widen.rego", Text: []byte("package sluice.authz\n\nallow if input.user.login == \"intern@company.com\"\n")})},
			in("intern@company.com", "openai", "gpt-5"), false, "has no access"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, loadCase(t, "restrict-users"), tt.opts...)
			d, err := e.Decide(context.Background(), tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != tt.wantAllow {
				t.Errorf("allow = %v, want %v (reasons %q)", d.Allow, tt.wantAllow, d.Reasons)
			}
			if tt.wantReason != "" && !slices.ContainsFunc(d.Reasons, func(r string) bool { return strings.Contains(r, tt.wantReason) }) {
				t.Errorf("reasons %q lack %q", d.Reasons, tt.wantReason)
			}
		})
	}
}

func writeModule(t *testing.T, dir, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCompileError(t *testing.T) {
	tests := []struct {
		name string
		text string
		want string
	}{
		{"parse error", "package sluice.authz\n\ndeny contains msg if {\n\tmsg := \n}\n", "bad.rego:5:1: rego_parse_error"},
		{"unsafe var", "package sluice.authz\n\ndeny contains msg if {\n\tx == 1\n}\n", "bad.rego:3:15: rego_unsafe_var_error"},
		{"type error", "package sluice.authz\n\ndeny contains msg if {\n\tmsg := concat(1, 2)\n}\n", "bad.rego:4:9: rego_type_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(context.Background(), loadCase(t, "restrict-users"), WithModules(rego.Module{Name: "bad.rego", Text: []byte(tt.text)}))
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *CompileError", err)
			}
			var astErrs ast.Errors
			if !errors.As(err, &astErrs) || len(astErrs) == 0 {
				t.Errorf("error does not unwrap to ast.Errors")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
		})
	}
}

func TestErrorsNeverAllow(t *testing.T) {
	conflict := rego.Module{Name: "conflict.rego", Text: []byte("package sluice.authz\n\nrole := \"superuser\" if input.user.login == \"admin@company.com\"\n")}
	badHooks := rego.Module{Name: "hooks.rego", Text: []byte("package sluice.authz\n\nhooks contains 42 if input.user.login == \"admin@company.com\"\n")}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		opts []Option
	}{
		{"conflicting role", context.Background(), []Option{WithModules(conflict)}},
		{"malformed hooks", context.Background(), []Option{WithModules(badHooks)}},
		{"canceled context", canceled, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, loadCase(t, "restrict-users"), tt.opts...)
			d, err := e.Decide(tt.ctx, in("admin@company.com", "openai", "gpt-5"))
			if err == nil {
				t.Fatal("no error")
			}
			if d.Allow || d.Role != RoleNone || len(d.Reasons) == 0 || d.ID == "" {
				t.Errorf("decision with error %v: %+v; want a denial with a reason and an ID", err, d)
			}
		})
	}
}

func TestUpdate(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, loadCase(t, "restrict-users"))
	first := e.Revision()
	dev := in("developer@company.com", "gemini", "gemini-2.5-pro")
	if d, _ := e.Decide(ctx, dev); d.Allow {
		t.Fatal("developer allowed gemini before the update")
	}

	// The same configuration is a no-op that keeps the cache.
	if err := e.Update(ctx, loadCase(t, "restrict-users")); err != nil {
		t.Fatal(err)
	}
	if e.Revision() != first || e.cur.Load().cache.len() != 1 {
		t.Errorf("same configuration: revision %s (was %s), %d cached", e.Revision(), first, e.cur.Load().cache.len())
	}

	// A bad condition is refused and the running revision kept.
	bad := loadCase(t, "hook-grants")
	bad.TempGrants[1].Grants[1].Hook.Condition = "response.statuss > 1"
	err := e.Update(ctx, bad)
	var diags policy.Errors
	if !errors.As(err, &diags) || !diags.Has(policy.CodeBadCondition) {
		t.Fatalf("bad condition: %v", err)
	}
	if e.Revision() != first {
		t.Fatal("a refused update replaced the running revision")
	}

	// A new configuration swaps in with an empty cache.
	if err := e.Update(ctx, loadCase(t, "allow-all")); err != nil {
		t.Fatal(err)
	}
	if e.Revision() == first || e.cur.Load().cache.len() != 0 {
		t.Errorf("revision %s unchanged or cache not empty (%d)", e.Revision(), e.cur.Load().cache.len())
	}
	if d, _ := e.Decide(ctx, dev); !d.Allow || d.Revision != e.Revision() {
		t.Errorf("after the update: %+v", d)
	}
}

func TestUpdateRefusesBadModule(t *testing.T) {
	dir := t.TempDir()
	writeModule(t, dir, "block.rego", denyModule)
	e := newEngine(t, loadCase(t, "restrict-users"), WithModulesDir(dir))
	first := e.Revision()
	writeModule(t, dir, "block.rego", "package sluice.authz\n\ndeny contains msg if {\n")
	var ce *CompileError
	if err := e.Update(context.Background(), loadCase(t, "restrict-users")); !errors.As(err, &ce) {
		t.Fatalf("update with a broken module: %v", err)
	}
	d, err := e.Decide(context.Background(), in("admin@company.com", "openai", "gpt-5"))
	if err != nil || d.Allow || e.Revision() != first {
		t.Errorf("running revision not kept: %+v %v", d, err)
	}
	writeModule(t, dir, "block.rego", strings.ReplaceAll(denyModule, "gpt-5", "gpt-5-mini"))
	if err := e.Update(context.Background(), loadCase(t, "restrict-users")); err != nil {
		t.Fatal(err)
	}
	if d, _ := e.Decide(context.Background(), in("admin@company.com", "openai", "gpt-5")); !d.Allow {
		t.Errorf("module change not picked up by Update: %+v", d)
	}
}

// Decisions made while Update swaps revisions each come from one whole
// revision: the answer always matches the revision it names.
func TestConcurrentDecideAndUpdate(t *testing.T) {
	ctx := context.Background()
	restrict, allowAll := loadCase(t, "restrict-users"), loadCase(t, "allow-all")
	e := newEngine(t, restrict, WithCacheSize(8))
	restrictRev := e.Revision()
	if err := e.Update(ctx, allowAll); err != nil {
		t.Fatal(err)
	}
	allowRev := e.Revision()
	done := make(chan struct{})
	errs := make(chan error, 4)
	for w := range 4 {
		go func() {
			for i := range 5000 {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				d, err := e.Decide(ctx, in(fmt.Sprintf("dev%d-%d@company.com", w, i%16), "openai", "gpt-5"))
				if err != nil {
					errs <- err
					return
				}
				if (d.Revision == allowRev) != d.Allow || (d.Revision != allowRev && d.Revision != restrictRev) {
					errs <- fmt.Errorf("decision %+v does not match its revision", d)
					return
				}
			}
			errs <- nil
		}()
	}
	for i := range 20 {
		cfg := restrict
		if i%2 == 1 {
			cfg = allowAll
		}
		if err := e.Update(ctx, cfg); err != nil {
			t.Error(err)
		}
	}
	close(done)
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestReadMetricsRuleBeside: a rule of one's own that gives read_metrics
// (what grant-derived rules will do) adds to the admins' right without
// taking it from them, and a rule that is not boolean is an error, never a
// right.
func TestReadMetricsRuleBeside(t *testing.T) {
	scraper := rego.Module{Name: "scraper.rego", Text: []byte("package sluice.authz\n\nread_metrics if \"tag:monitoring\" in input.user.tags\n")}
	e := newEngine(t, loadCase(t, "restrict-users"), WithModules(scraper))
	tests := []struct {
		name string
		in   Input
		want bool
	}{
		{"admin", in("admin@company.com", "", ""), true},
		{"user", in("developer@company.com", "", ""), false},
		{"monitoring device without a role", in("tag:monitoring", "", "", "tag:monitoring"), true},
		{"other device", in("tag:ci", "", "", "tag:ci"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := e.Decide(context.Background(), tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.ReadMetrics != tt.want {
				t.Errorf("read_metrics = %v, want %v (role %q)", d.ReadMetrics, tt.want, d.Role)
			}
		})
	}

	bad := rego.Module{Name: "bad.rego", Text: []byte("package sluice.authz\n\nread_metrics := \"yes\" if input.user.login == \"admin@company.com\"\n")}
	if e, err := New(context.Background(), loadCase(t, "restrict-users"), WithModules(bad)); err == nil {
		d, err := e.Decide(context.Background(), in("admin@company.com", "", ""))
		if err == nil || d.ReadMetrics {
			t.Errorf("non-boolean read_metrics: decision %+v, error %v; want an error and no right", d, err)
		}
	}
}
