package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPolicyEvalCaps: --caps unions the tailnet policy file's grants with
// the config's, and the output says which side allowed.
func TestPolicyEvalCaps(t *testing.T) {
	config := filepath.Join("..", "..", "testdata", "rego", "grants-tailnet", "config.hujson")
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	anthropic := write("anthropic.json", `{"tailscale.com/cap/aperture": [{"models": "anthropic/**"}], "example.com/cap/x": [1]}`)
	type allowedBy struct {
		Grant  string `json:"grant"`
		Source string `json:"source"`
	}
	tests := []struct {
		name      string
		args      []string
		wantCode  int
		wantAllow bool
		wantBy    []allowedBy
	}{
		{"tailnet grant decides", []string{"--user", "alice@company.com", "--model", "claude-sonnet-4-5", "--caps", anthropic}, 0, true,
			[]allowedBy{{"tailnet:caps[0]", "tailnet"}}},
		{"without caps denied", []string{"--user", "alice@company.com", "--model", "claude-sonnet-4-5"}, 0, false, []allowedBy{}},
		{"config grant decides", []string{"--user", "alice@company.com", "--model", "gpt-5-mini", "--caps", anthropic}, 0, true,
			[]allowedBy{{"grants[0].app.tailscale.com/cap/aperture[1]", "config"}}},
		{"caps not a CapMap", []string{"--user", "a@b.c", "--model", "gpt-5", "--caps", write("bad.json", `[{"models": "**"}]`)}, 1, false, nil},
		{"caps not objects", []string{"--user", "a@b.c", "--model", "gpt-5", "--caps", write("bad2.json", `{"tailscale.com/cap/aperture": ["**"]}`)}, 1, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runPolicyCLI(t, append([]string{"eval", "--config", config}, tt.args...)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d: %s", code, tt.wantCode, stderr)
			}
			if code != 0 {
				return
			}
			var out struct {
				Decision struct {
					Allow bool `json:"allow"`
				} `json:"decision"`
				AllowedBy []allowedBy `json:"allowed_by"`
			}
			if err := json.Unmarshal([]byte(stdout), &out); err != nil {
				t.Fatal(err)
			}
			if out.Decision.Allow != tt.wantAllow {
				t.Errorf("allow %v, want %v", out.Decision.Allow, tt.wantAllow)
			}
			if diff := cmp.Diff(tt.wantBy, out.AllowedBy); diff != "" {
				t.Errorf("allowed_by (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzReadCaps: any file either parses to JSON objects or is refused.
func FuzzReadCaps(f *testing.F) {
	f.Add(`{"tailscale.com/cap/aperture": [{"models": "**"}]}`)
	f.Add(`[]`)
	f.Add(`{"tailscale.com/cap/aperture": [1]}`)
	f.Fuzz(func(t *testing.T, body string) {
		p := filepath.Join(t.TempDir(), "caps.json")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		caps, err := readCaps(p)
		if err != nil {
			return
		}
		for _, c := range caps {
			var obj map[string]any
			if json.Unmarshal(c, &obj) != nil {
				t.Fatalf("accepted non-object %s", c)
			}
		}
	})
}
