package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tailscale/hujson"
)

// TestInitWritesAValidConfig: `sluice init` writes a configuration that
// `config validate` accepts once the keys are in the environment, with
// keys as macros, the --admin login as the only admin and everyone else a
// user; it never overwrites a file.
func TestInitWritesAValidConfig(t *testing.T) {
	for _, p := range presets {
		t.Setenv(p.keyEnv, "sk-"+p.id)
	}
	out := filepath.Join(t.TempDir(), "sluice.hujson")
	code, _, stderr := runCLI(t, "init", "--provider", strings.Join(presetIDs(), ","), "--admin", "ops@example.com", "--out", out)
	if code != 0 {
		t.Fatalf("init: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "set OPENAI_API_KEY, ANTHROPIC_API_KEY") {
		t.Errorf("init does not say which variables to set: %s", stderr)
	}
	text, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	for _, want := range []string{`"apikey": "${OPENAI_API_KEY}"`, `"authorization": "x-api-key"`, `"baseurl": "https://api.anthropic.com"`, `"anthropic_messages": true`} {
		if !strings.Contains(string(text), want) {
			t.Errorf("config lacks %s:\n%s", want, text)
		}
	}
	if strings.Contains(string(text), "sk-openai") {
		t.Error("the key's value was written instead of its macro")
	}
	code, stdout, stderr := runCLI(t, "config", "validate", out)
	if code != 0 || strings.Contains(stderr, "warning") {
		t.Fatalf("config validate: exit %d\n%s%s\n%s", code, stdout, stderr, text)
	}
	for login, role := range map[string]string{"ops@example.com": "admin", "someone@example.com": "user"} {
		code, stdout, stderr := runCLI(t, "policy", "eval", "--config", out, "--user", login, "--model", "claude-sonnet-4-5")
		var x struct {
			Decision struct {
				Role  string `json:"role"`
				Allow bool   `json:"allow"`
			} `json:"decision"`
		}
		err := json.Unmarshal([]byte(stdout), &x)
		if d := x.Decision; code != 0 || err != nil || d.Role != role || !d.Allow {
			t.Errorf("%s: exit %d, %+v (%v) %s; want role %s, allowed", login, code, x.Decision, err, stderr, role)
		}
	}

	before, _ := os.ReadFile(out)
	code, _, stderr = runCLI(t, "init", "--provider", "openai", "--out", out)
	if after, _ := os.ReadFile(out); code != 1 || !strings.Contains(stderr, "not overwriting") || string(after) != string(before) {
		t.Errorf("init over an existing file: exit %d, %s", code, stderr)
	}
}

func TestInitErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no provider", args: []string{"init"}, want: "name at least one --provider"},
		{name: "unknown provider", args: []string{"init", "--provider", "openia"}, want: `unknown provider "openia"`},
		{name: "typo suggests", args: []string{"init", "--provider", "antropic"}, want: `did you mean "anthropic"?`},
		{name: "admin login not UTF-8", args: []string{"init", "--provider", "openai", "--admin", "\xd9"}, want: "not valid UTF-8"},
		{name: "stray argument", args: []string{"init", "--provider", "openai", "x"}, want: "takes no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tt.args...)
			if code != 2 || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tt.want)
			}
		})
	}
}

// FuzzStarterConfig: whatever the provider list and admin login, init
// either refuses the list or writes well-formed HuJSON whose admin grant
// names exactly that login.
func FuzzStarterConfig(f *testing.F) {
	f.Add("openai,anthropic", "ops@example.com")
	f.Add("gemini, bedrock ,openrouter,vercel", `we"ird\login`)
	f.Add("", "")
	f.Fuzz(func(t *testing.T, list, admin string) {
		chosen, err := choosePresets(list)
		if err != nil || !utf8.ValidString(admin) { // init refuses such a login
			return
		}
		text := starterConfig(chosen, admin)
		v, err := hujson.Parse(text)
		if err != nil {
			t.Fatalf("not HuJSON: %v\n%s", err, text)
		}
		v.Standardize()
		var doc struct {
			TempGrants []struct {
				Src []string `json:"src"`
			} `json:"temp_grants"`
		}
		if err := json.Unmarshal(v.Pack(), &doc); err != nil {
			t.Fatal(err)
		}
		if admin != "" && (len(doc.TempGrants) != 3 || len(doc.TempGrants[0].Src) != 1 || doc.TempGrants[0].Src[0] != admin) {
			t.Errorf("admin grant %+v, want [%q]", doc.TempGrants, admin)
		}
	})
}
