package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pipeStdin makes os.Stdin a pipe that holds input, as when a script
// pipes answers into sluice.
func pipeStdin(t *testing.T, input string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteString(input); err != nil {
		t.Fatal(err)
	}
	w.Close()
	old := os.Stdin
	os.Stdin = r
	t.Cleanup(func() { os.Stdin = old; r.Close() })
}

// TestInitInteractive: `sluice init --interactive` asks for the providers
// (by name or number), each key's variable, the admin and the file; it
// asks again after an answer it cannot use, and writes a configuration
// that loads with those variables and makes the operator admin.
func TestInitInteractive(t *testing.T) {
	out := filepath.Join(t.TempDir(), "sluice.hujson")
	answers := strings.Join([]string{
		"2,mistral",  // unknown: asked again
		"2, openai",  // anthropic and openai
		"1CLAUDE",    // not a variable name: asked again
		"CLAUDE_KEY", // anthropic's key
		"",           // openai's: the proposed OPENAI_API_KEY
		"me@example.com",
		out,
	}, "\n") + "\n"
	pipeStdin(t, answers)
	code, stdout, stderr := runCLI(t, "init", "--interactive")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"1. openai", `unknown provider "mistral"`, `"1CLAUDE" is not a variable name`,
		"Environment variable holding the OpenAI key [OPENAI_API_KEY]", "set CLAUDE_KEY, OPENAI_API_KEY"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("prompts lack %q:\n%s", want, stderr)
		}
	}
	if stdout != "" {
		t.Errorf("printed the configuration although it was written to a file:\n%s", stdout)
	}
	text, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"apikey": "${CLAUDE_KEY}"`, `"apikey": "${OPENAI_API_KEY}"`, `{"src": ["me@example.com"], "grants": [{"role": "admin"}]}`} {
		if !strings.Contains(string(text), want) {
			t.Errorf("configuration lacks %s:\n%s", want, text)
		}
	}
	t.Setenv("CLAUDE_KEY", "k")
	t.Setenv("OPENAI_API_KEY", "k")
	if code, stdout, stderr := runCLI(t, "policy", "eval", "--config", out, "--user", "me@example.com", "--model", "claude-sonnet-4-5"); code != 0 || !strings.Contains(stdout, `"role": "admin"`) {
		t.Errorf("policy eval for the operator: exit %d\n%s%s", code, stdout, stderr)
	}
}

// TestInitInteractiveDefaults: flags beside --interactive are the
// proposed answers; "-" prints the configuration; input that ends before
// the last answer is an error, not a half-written file.
func TestInitInteractiveDefaults(t *testing.T) {
	pipeStdin(t, "\n\n\n-\n")
	code, stdout, stderr := runCLI(t, "init", "--interactive", "--provider", "gemini", "--admin", "ops@example.com")
	if code != 0 || !strings.Contains(stdout, `"apikey": "${GEMINI_API_KEY}"`) || !strings.Contains(stdout, `"ops@example.com"`) {
		t.Errorf("exit %d\n%s\n%s", code, stdout, stderr)
	}

	dir := t.TempDir()
	pipeStdin(t, "openai\n")
	code, _, stderr = runCLI(t, "init", "--interactive", "--out", filepath.Join(dir, "c.hujson"))
	if code != 1 || !strings.Contains(stderr, "no answer to") {
		t.Errorf("input ended early: exit %d, %s", code, stderr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("a file was written: %v", entries)
	}
}
