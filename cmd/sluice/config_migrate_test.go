package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigMigrate(t *testing.T) {
	hooks := filepath.Join("..", "..", "testdata", "rego", "hook-grants", "config.hujson")
	code, stdout, stderr := runCLI(t, "config", "migrate", hooks)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, `"grants": [`) || !strings.Contains(stdout, "// The reference's hook grant examples") {
		t.Errorf("output lacks grants or the file's comment:\n%s", stdout)
	}
	if !strings.Contains(stderr, "note: temp_grants[1].grants[1] stays in temp_grants") {
		t.Errorf("stderr lacks the note on the conditional hook grant: %q", stderr)
	}
	if code, _, _ := runCLI(t, "config", "migrate"); code != 2 {
		t.Errorf("no file: exit %d, want 2", code)
	}
	if code, _, stderr := runCLI(t, "config", "migrate", filepath.Join(t.TempDir(), "none.hujson")); code != 1 || !strings.Contains(stderr, "error:") {
		t.Errorf("missing file: exit %d %q", code, stderr)
	}
}
