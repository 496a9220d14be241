package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/proxy/proxytest"
	"github.com/sluice-gateway/sluice/store"
)

// TestDoctor: doctor lists each provider's models with its key and says
// which key works, which the provider rejects, which is a placeholder and
// which provider cannot be reached; it checks the request log database
// and exits 1 when anything failed. No key appears in its output.
func TestDoctor(t *testing.T) {
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok := r.Header.Get("Authorization") == "Bearer sk-good" ||
			r.Header.Get("X-Api-Key") == "sk-ant-good" && r.Header.Get("anthropic-version") != ""
		if r.Method != http.MethodGet || r.URL.Path != "/v1/models" || !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"data":[]}`))
	}))
	defer provider.Close()
	closed := "http://" + proxytest.RefusingAddr(t)
	t.Setenv("SLUICE_TEST_DOCTOR_GOOD", "sk-good")
	t.Setenv("SLUICE_TEST_DOCTOR_BAD", "sk-bad")
	config := writeFile(t, `{"providers": {
		"good": {"baseurl": "`+provider.URL+`", "apikey": "${SLUICE_TEST_DOCTOR_GOOD}", "models": ["a"]},
		"claude": {"baseurl": "`+provider.URL+`/", "apikey": "sk-ant-good", "authorization": "x-api-key", "models": ["b"],
			"compatibility": {"openai_chat": false, "anthropic_messages": true}},
		"rejected": {"baseurl": "`+provider.URL+`", "apikey": "${SLUICE_TEST_DOCTOR_BAD}", "models": ["c"]},
		"placeholder": {"baseurl": "`+provider.URL+`", "apikey": "YOUR_OPENAI_API_KEY", "models": ["d"]},
		"down": {"baseurl": "`+closed+`", "apikey": "sk-good", "models": ["e"]},
		"off": {"baseurl": "`+closed+`", "apikey": "sk-good", "models": ["f"], "disabled": true},
	}}`)

	state := t.TempDir()
	code, stdout, stderr := runCLI(t, "doctor", "--config", config, "--state-dir", state)
	if code != 1 {
		t.Errorf("exit %d, want 1 (some checks fail); stderr %s", code, stderr)
	}
	want := map[string]string{
		"provider good":        `ok\s+key accepted`,
		"provider claude":      `ok\s+key accepted`,
		"provider rejected":    `FAIL\s+API key rejected \(401\)`,
		"provider placeholder": `FAIL\s+placeholder API key`,
		"provider down":        `FAIL\s+unreachable: connection refused`,
		"provider off":         `skipped\s+disabled`,
		"config":               `ok\s+` + regexp.QuoteMeta(config),
		"database":             `skipped\s+.*does not exist yet`,
		"tailnet":              `skipped`,
	}
	for what, re := range want {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(what) + `\s+` + re).MatchString(stdout) {
			t.Errorf("no row %q matching %q:\n%s", what, re, stdout)
		}
	}
	for _, secret := range []string{"sk-good", "sk-bad", "sk-ant-good"} {
		if strings.Contains(stdout+stderr, secret) {
			t.Errorf("output shows %q:\n%s", secret, stdout)
		}
	}

	// With a request log in place and only working providers, all is well.
	st, err := store.Open(context.Background(), filepath.Join(state, "sluice.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	goodOnly := writeFile(t, `{"providers": {"good": {"baseurl": "`+provider.URL+`", "apikey": "sk-good", "models": ["a"]}}}`)
	code, stdout, stderr = runCLI(t, "doctor", "--config", goodOnly, "--state-dir", state)
	if code != 0 || !regexp.MustCompile(`(?m)^database\s+ok\s+.*readable`).MatchString(stdout) {
		t.Errorf("exit %d, want 0 with the database readable:\n%s%s", code, stdout, stderr)
	}
}
