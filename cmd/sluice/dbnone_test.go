package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeWithoutRequestLog runs `sluice serve --db none`: requests are
// answered as usual, nothing is written to the state directory, and a
// configuration with quotas (whose balances need the database) is refused
// at start with an error that says why.
func TestServeWithoutRequestLog(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"c","object":"chat.completion","created":1,"model":"gpt-5","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`)
	}))
	defer upstream.Close()
	plain := `{"providers": {"openai": {"baseurl": "` + upstream.URL + `", "apikey": "k", "models": ["gpt-5"]}}}`
	withQuotas := strings.ReplaceAll(processQuotaConfig, "UPSTREAM", upstream.URL)

	tests := []struct {
		name    string
		config  string
		wantErr string // "" for a gateway that serves
	}{
		{name: "serves and records nothing", config: plain},
		{name: "quotas need a database", config: withQuotas, wantErr: "--db none: the configuration has quotas"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := t.TempDir()
			config := writeFile(t, tt.config)
			if tt.wantErr != "" {
				code, _, stderr := runCLI(t, "serve", "--config", config, "--db", "none", "--state-dir", state, "--listen", "127.0.0.1:0")
				if code != 1 || !strings.Contains(stderr, tt.wantErr) {
					t.Errorf("exit %d, stderr %q; want exit 1 and %q", code, stderr, tt.wantErr)
				}
				return
			}
			ctxState := filepath.Join(state, "s")
			addr, stderr, stop := startServe(t, "--config", config, "--db", "none", "--state-dir", ctxState, "--listen", "127.0.0.1:0", "--local-user", "dev@example.com")
			for range 3 {
				resp, err := http.Post(addr+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"gpt-5","messages":[]}`))
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !strings.Contains(string(body), `"content":"ok"`) {
					t.Fatalf("status %d, body %s", resp.StatusCode, body)
				}
			}
			if code := stop(); code != 0 {
				t.Fatalf("serve exited %d: %s", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), "database=none") {
				t.Errorf("startup log does not say the request log is off: %s", stderr.String())
			}
			for _, name := range []string{"sluice.db", "spool"} {
				if _, err := os.Stat(filepath.Join(ctxState, name)); !os.IsNotExist(err) {
					t.Errorf("%s exists with --db none (err %v)", name, err)
				}
			}
		})
	}
}
