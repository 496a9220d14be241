package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
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

// TestServeAccessLinesFlushed: access lines gathered for
// --access-log-flush reach stderr while sluice keeps serving, in the
// order they were logged, and the lines a stop leaves held are written
// before serve returns.
func TestServeAccessLinesFlushed(t *testing.T) {
	config := writeFile(t, `{"providers": {"openai": {"baseurl": "http://127.0.0.1:1", "apikey": "sk-x", "models": ["gpt-5"]}}}`)
	tests := []struct {
		name      string
		flush     string
		whileOpen bool // the lines arrive before the stop
	}{
		{"short interval", "20ms", true},
		{"each line at once", "0", true},
		{"written on stop", "1h", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, stderr, stop := startServe(t, "--config", config, "--listen", "127.0.0.1:0", "--local-user", "dev@example.com",
				"--log-format", "json", "--access-log-flush", tt.flush)
			const requests = 5
			for i := range requests {
				resp, err := http.Post(addr+"/v1/chat/completions", "application/json", strings.NewReader(fmt.Sprintf(`{"model":"nope-%d","messages":[]}`, i)))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
			models := func() []string {
				var got []string
				for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
					var m map[string]any
					if json.Unmarshal([]byte(l), &m) == nil && m["log"] == "access" {
						got = append(got, fmt.Sprint(m["model"]))
					}
				}
				return got
			}
			if tt.whileOpen {
				deadline := time.Now().Add(10 * time.Second)
				for len(models()) < requests && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
			} else if got := models(); len(got) != 0 {
				t.Fatalf("access lines %q written before the interval or the stop", got)
			}
			stop()
			want := []string{"nope-0", "nope-1", "nope-2", "nope-3", "nope-4"}
			if got := models(); !slices.Equal(got, want) {
				t.Errorf("access lines for models %q, want %q:\n%s", got, want, stderr.String())
			}
		})
	}
}

func TestServeRefusesNegativeAccessLogFlush(t *testing.T) {
	code, _, stderr := runCLI(t, "serve", "--access-log-flush", "-1s", "--state-dir", t.TempDir())
	if code != 2 || !strings.Contains(stderr, "--access-log-flush -1s") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
