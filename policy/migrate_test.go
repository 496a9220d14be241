package policy

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/migrate")

// MigrateCases are the configurations whose migration has a golden file in
// testdata/migrate; "default" is the embedded default. The engine's tests
// check that each migration decides as its original does.
var MigrateCases = []string{"default", "admin-precedence", "allow-all", "deny-by-default", "empty-grants", "hook-grants", "no-role", "restrict-users", "sources"}

func migrateInput(t *testing.T, name string) []byte {
	t.Helper()
	if name == "default" {
		return DefaultHuJSON
	}
	data, err := os.ReadFile(filepath.Join("..", "testdata", "rego", name, "config.hujson"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestMigrateGolden(t *testing.T) {
	for _, name := range MigrateCases {
		t.Run(name, func(t *testing.T) {
			out, _, err := MigrateGrants("config.hujson", migrateInput(t, name))
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("..", "testdata", "migrate", name+".hujson")
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(out, want) {
				t.Errorf("migration differs from %s (run go test -update and review):\n%s", golden, out)
			}
		})
	}
}

func TestMigrateKeepsComments(t *testing.T) {
	out, notes, err := MigrateGrants("default.hujson", DefaultHuJSON)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"// BE CAREFUL!", "// Default: allow all users", `"grants": [`, `"send_hooks"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("migrated default lacks %q", want)
		}
	}
	if strings.Contains(string(out), `"temp_grants"`) || len(notes) != 0 {
		t.Errorf("the default migrates whole; notes %q", notes)
	}
}

func TestMigrateRefuses(t *testing.T) {
	tests := []struct{ name, config, want string }{
		{"no temp_grants", `{"providers": {"p": {"baseurl": "https://p.example", "apikey": "k", "models": ["m"]}}}`, "no temp_grants section"},
		{"already grants", `{"providers": {"p": {"baseurl": "https://p.example", "apikey": "k", "models": ["m"]}},
			"temp_grants": [], "grants": []}`, "already has a grants section"},
		{"invalid", `{"temp_grants": []}`, "no providers configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := MigrateGrants("c.hujson", []byte(tt.config)); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// FuzzMigrateGrants: a migration either fails or loads.
func FuzzMigrateGrants(f *testing.F) {
	f.Add(DefaultHuJSON)
	f.Fuzz(func(t *testing.T, data []byte) {
		out, _, err := MigrateGrants("fuzz.hujson", data)
		if err != nil {
			return
		}
		if _, err := Parse("fuzz.hujson", out, func(k string) (string, bool) { return "${" + k + "}", true }); err != nil {
			t.Fatalf("migrated configuration does not load: %v", err)
		}
	})
}
