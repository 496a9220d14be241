package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/policy"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.hujson")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name       string
		config     string
		env        map[string]string
		wantCode   int
		wantStderr []string
		wantStdout string
	}{
		{name: "valid", config: `{"providers": {"p": {"baseurl": "https://p.example", "apikey": "k", "models": ["m"]}}}`,
			wantCode: 0, wantStdout: "ok (1 providers, 1 models"},
		{name: "no providers", config: `{}`, wantCode: 1, wantStderr: []string{"no providers configured"}},
		{name: "no base URL", config: `{"providers": {"p": {"apikey": "k", "models": ["m"]}}}`,
			wantCode: 1, wantStderr: []string{"config.hujson:1:21: provider p has no base URL configured"}},
		{name: "no models", config: `{"providers": {"p": {"baseurl": "https://p.example"}}}`,
			wantCode: 1, wantStderr: []string{"provider p has no models configured"}},
		{name: "invalid authorization", config: `{"providers": {"p": {"baseurl": "https://p.example", "models": ["m"], "authorization": "digest"}}}`,
			wantCode: 1, wantStderr: []string{"provider p has invalid authorization type: digest"}},
		{name: "unsubstituted macro", config: `{"providers": {"p": {"baseurl": "https://p.example", "apikey": "${SLUICE_TEST_UNSET_KEY}", "models": ["m"]}}}`,
			wantCode: 1, wantStderr: []string{"unsubstituted macros: [SLUICE_TEST_UNSET_KEY]"}},
		{name: "macro from environment", config: `{"providers": {"p": {"baseurl": "https://p.example", "apikey": "${SLUICE_TEST_KEY}", "models": ["m"]}}}`,
			env: map[string]string{"SLUICE_TEST_KEY": "secret"}, wantCode: 0, wantStdout: "ok"},
		{name: "missing apikey warns", config: `{"providers": {"p": {"baseurl": "https://p.example", "models": ["m"]}}}`,
			wantCode: 0, wantStderr: []string{"warning:", "provider p has no API key configured"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			path := writeFile(t, tt.config)
			code, stdout, stderr := runCLI(t, "config", "validate", path)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.wantCode, stderr)
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr %q lacks %q", stderr, want)
				}
			}
			if !strings.Contains(stdout, tt.wantStdout) {
				t.Errorf("stdout %q lacks %q", stdout, tt.wantStdout)
			}
		})
	}
}

func TestConfigDefaultRoundTrips(t *testing.T) {
	code, stdout, _ := runCLI(t, "config", "default")
	if code != 0 || stdout != string(policy.DefaultHuJSON) {
		t.Fatalf("config default: exit %d, %d bytes", code, len(stdout))
	}
	code, _, stderr := runCLI(t, "config", "validate", writeFile(t, stdout))
	if code != 0 {
		t.Errorf("the printed default does not validate: %s", stderr)
	}
}

func TestUnknownCommand(t *testing.T) {
	if code, _, stderr := runCLI(t, "frobnicate"); code != 2 || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if code, _, _ := runCLI(t, "config", "validate"); code != 2 {
		t.Errorf("validate without FILE: exit %d, want 2", code)
	}
}

func TestConfigValidateCompilesConditions(t *testing.T) {
	path := writeFile(t, `{
		"providers": {"p": {"baseurl": "https://p.example", "apikey": "k", "models": ["m"]}},
		"hooks": {"h": {"url": "https://h.example"}},
		"temp_grants": [{"src": ["*"], "grants": [{"hook": {"hook": "h", "condition": "request.modle == 'm'"}}]}],
	}`)
	code, _, stderr := runCLI(t, "config", "validate", path)
	if code != 1 || !strings.Contains(stderr, "temp_grants[0].grants[0].condition") {
		t.Errorf("exit %d, stderr %q; want the CEL error at its place", code, stderr)
	}
}
