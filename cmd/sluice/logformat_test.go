package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestServeRefusesUnknownLogFormat(t *testing.T) {
	code, _, stderr := runCLI(t, "serve", "--log-format", "xml", "--state-dir", t.TempDir())
	if code != 2 || !strings.Contains(stderr, `--log-format "xml"`) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestServeLogFormatJSON: with --log-format json every line on stderr is
// one JSON object, and each request leaves one access line unless
// --access-log=false.
func TestServeLogFormatJSON(t *testing.T) {
	config := writeFile(t, `{"providers": {"openai": {"baseurl": "http://127.0.0.1:1", "apikey": "sk-x", "models": ["gpt-5"]}}}`)
	for _, tc := range []struct {
		name  string
		flags []string
		lines int
	}{
		{"access log on by default", nil, 1},
		{"access log off", []string{"--access-log=false"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, stderr, stop := startServe(t, append([]string{"--config", config, "--listen", "127.0.0.1:0", "--local-user", "dev@example.com", "--log-format", "json"}, tc.flags...)...)
			resp, err := http.Post(addr+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"nope","messages":[]}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			stop()
			access := 0
			for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
				var m map[string]any
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Errorf("not a JSON line: %q", l)
					continue
				}
				if m["log"] == "access" {
					access++
					if m["msg"] != "access" || m["login"] != "dev@example.com" || m["status"] != float64(404) || m["request_id"] == "" {
						t.Errorf("access line %v", m)
					}
				}
			}
			if access != tc.lines {
				t.Errorf("%d access lines, want %d:\n%s", access, tc.lines, stderr.String())
			}
		})
	}
}
