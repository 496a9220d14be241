package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var updateGolden = flag.Bool("update-matrix", false, "rewrite the golden files under testdata/matrix and testdata/diff")

// fragmentProviders and fragmentHooks complete the reference examples
// that are fragments (no providers, hooks named but not defined), so that
// every example has a matrix.
const (
	fragmentProviders = `"providers": {
		"openai": {"baseurl": "https://api.openai.com", "apikey": "k", "models": ["gpt-5", "gpt-5-mini"]},
		"anthropic": {"baseurl": "https://api.anthropic.com", "apikey": "k", "models": ["claude-sonnet-4-5"]},
	},
`
	fragmentHooks = `"hooks": {"oso": {"url": "http://127.0.0.1:9/oso"}, "my-webhook": {"url": "http://127.0.0.1:9/hook"}},
`
)

var firstBrace = regexp.MustCompile(`(?m)^\{`)

// referenceExample returns the path of a reference example ready to load:
// the file itself, or for a fragment a completed copy.
func referenceExample(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join("..", "..", "testdata", "configs", name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	if strings.Contains(text, `"providers": {`) {
		return path
	}
	add := fragmentProviders
	if !strings.Contains(text, `"hooks"`) {
		add += fragmentHooks
	}
	loc := firstBrace.FindStringIndex(text)
	text = text[:loc[1]] + "\n" + add + text[loc[1]:]
	out := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(out, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update-matrix to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

// TestPolicyMatrixGolden computes the matrix of every reference example,
// as a table and as JSON.
func TestPolicyMatrixGolden(t *testing.T) {
	names, err := filepath.Glob(filepath.Join("..", "..", "testdata", "configs", "*.hujson"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no reference examples: %v", err)
	}
	for _, p := range names {
		name := filepath.Base(p)
		t.Run(name, func(t *testing.T) {
			cfg := referenceExample(t, name)
			base := filepath.Join("testdata", "matrix", strings.TrimSuffix(name, ".hujson"))
			for _, format := range []struct{ ext, flag string }{{".txt", ""}, {".json", "--json"}} {
				args := []string{"matrix", "--config", cfg}
				if format.flag != "" {
					args = append(args, format.flag)
				}
				code, stdout, stderr := runPolicyCLI(t, args...)
				if code != 0 {
					t.Fatalf("exit %d: %s", code, stderr)
				}
				golden(t, base+format.ext, stdout)
			}
		})
	}
}

// TestPolicyDiffGolden compares reference examples that differ in access.
func TestPolicyDiffGolden(t *testing.T) {
	pairs := []struct {
		name     string
		old, new string
		code     int
	}{
		{"default-to-restrict-users", "reference-grants-default.hujson", "reference-grants-restrict-users.hujson", diffDifferent},
		{"allow-all-to-restrict-users", "reference-grants-allow-all.hujson", "reference-grants-restrict-users.hujson", diffDifferent},
		{"minimal-to-provider-anthropic", "reference-minimal.hujson", "reference-provider-anthropic.hujson", diffDifferent},
		{"default-to-complete", "reference-default.hujson", "reference-complete.hujson", diffDifferent},
		{"restrict-users-to-itself", "reference-grants-restrict-users.hujson", "reference-grants-restrict-users.hujson", diffEqual},
	}
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			old, new := referenceExample(t, p.old), referenceExample(t, p.new)
			base := filepath.Join("testdata", "diff", p.name)
			for _, format := range []struct{ ext, flag string }{{".txt", ""}, {".json", "--json"}} {
				args := []string{"diff", old, new}
				if format.flag != "" {
					args = append([]string{"diff", format.flag}, old, new)
				}
				code, stdout, stderr := runPolicyCLI(t, args...)
				if code != p.code {
					t.Fatalf("exit %d, want %d: %s", code, p.code, stderr)
				}
				golden(t, base+format.ext, stdout)
			}
		})
	}
}

// TestPolicyDiffExit: comments and order mean nothing to access; a moved
// grant that changes nothing is equal, one more model is a difference,
// and a file that does not load is trouble.
func TestPolicyDiffExit(t *testing.T) {
	const before = `{
	"providers": {"openai": {"baseurl": "https://api.openai.com", "apikey": "k", "models": ["gpt-5", "gpt-5-mini"]}},
	"temp_grants": [
		{"src": ["alice@example.com"], "grants": [{"role": "admin"}, {"providers": [{"provider": "openai", "model": "*"}]}]},
		{"src": ["*@example.com"], "grants": [{"role": "user"}, {"providers": [{"provider": "openai", "model": "gpt-5"}]}]},
	],
}`
	const reordered = `// Same access, other order, new comments.
{
	"temp_grants": [
		// everyone at the company
		{"src": ["*@example.com"], "grants": [{"providers": [{"provider": "openai", "model": "gpt-5"}]}, {"role": "user"}]},
		{"src": ["alice@example.com"], "grants": [{"providers": [{"provider": "openai", "model": "*"}]}, {"role": "admin"}]},
	],
	"providers": {"openai": {"baseurl": "https://api.openai.com", "apikey": "k", "models": ["gpt-5-mini", "gpt-5"]}},
}`
	widened := strings.Replace(before, `"model": "gpt-5"}`, `"model": "gpt-5*"}`, 1)
	tests := []struct {
		name, old, new string
		code           int
		out            string
	}{
		{"same file", before, before, diffEqual, "no access changes\n"},
		{"reordered and commented", before, reordered, diffEqual, "no access changes\n"},
		{"widened", before, widened, diffDifferent, "*@example.com (domain): role user\n  + openai/gpt-5-mini\n"},
		{"narrowed", widened, before, diffDifferent, "*@example.com (domain): role user\n  - openai/gpt-5-mini\n"},
		{"new class", before, strings.Replace(before, `"alice@example.com"`, `"bob@other.org"`, 1), diffDifferent,
			"alice@example.com (login): role admin -> user\n  - openai/gpt-5-mini\nbob@other.org (login): role none -> admin\n  + openai/gpt-5\n  + openai/gpt-5-mini\n"},
		{"broken", before, `{"providers": 1}`, diffTrouble, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runPolicyCLI(t, "diff", writeFile(t, tt.old), writeFile(t, tt.new))
			if code != tt.code {
				t.Fatalf("exit %d, want %d (stdout %q, stderr %q)", code, tt.code, stdout, stderr)
			}
			if diff := cmp.Diff(tt.out, stdout); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
	if code, _, _ := runPolicyCLI(t, "diff", writeFile(t, before)); code != diffTrouble {
		t.Errorf("one file: exit %d, want %d", code, diffTrouble)
	}
}
