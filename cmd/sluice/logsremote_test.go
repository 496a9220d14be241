package main

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

// TestLogsFromServer: `sluice logs` and `sluice usage` with --server read
// a running gateway's request log through /api/ and print exactly what
// they print from the database; a non-admin sees only their own rows;
// --follow prints a request made through the gateway after it started.
func TestLogsFromServer(t *testing.T) {
	state, _ := requestLog(t,
		logRecord("r1", "alice@example.com", "gpt-5", 3*time.Hour, 100, 10, 0.5, 200),
		logRecord("r2", "bob@example.com", "gpt-5-mini", 30*time.Minute, 40, 4, 0.25, 200),
		logRecord("r3", "alice@example.com", "gpt-5-mini", 10*time.Minute, 7, 0, 0, 502),
	)
	db := filepath.Join(state, "sluice.db")
	provider := proxytest.NewUpstream(t)
	provider.HandleAll(proxytest.Reply{ContentType: "application/json",
		Body: []byte(`{"id":"c","object":"chat.completion","model":"gpt-5","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`)})
	config := writeFile(t, `{"providers": {"openai": {"baseurl": "`+provider.URL+`", "apikey": "sk-x", "models": ["gpt-5", "gpt-5-mini"]}},
		"temp_grants": [{"src": ["ops@example.com"], "grants": [{"role": "admin"}]},
			{"src": ["*"], "grants": [{"role": "user"}, {"providers": [{"provider": "*", "model": "*"}]}]}]}`)
	admin, _, _ := startServe(t, "--config", config, "--db", db, "--listen", "127.0.0.1:0", "--local-user", "ops@example.com", "--access-log=false")
	alice, _, _ := startServe(t, "--config", config, "--db", db, "--listen", "127.0.0.1:0", "--local-user", "alice@example.com", "--access-log=false")

	same := []struct {
		name, want string
		args       []string
	}{
		{"logs table", "bob@example.com", []string{"logs"}},
		{"logs filtered json", `"id":"r3"`, []string{"logs", "--user", "alice@example.com", "--since", "1h", "--json"}},
		{"usage by user", "bob@example.com", []string{"usage"}},
		{"usage by model json", `"model":"gpt-5-mini"`, []string{"usage", "--by", "model", "--json"}},
	}
	for _, tc := range same {
		t.Run(tc.name, func(t *testing.T) {
			_, local, _ := runCLI(t, append(tc.args, "--db", db)...)
			code, remote, stderr := runCLI(t, append(tc.args, "--server", admin)...)
			if code != 0 || remote != local || !strings.Contains(remote, tc.want) {
				t.Errorf("exit %d (%s); from the server:\n%s\nfrom the database:\n%s", code, stderr, remote, local)
			}
		})
	}

	code, stdout, stderr := runCLI(t, "logs", "--server", alice, "--json")
	if code != 0 || !strings.Contains(stdout, `"id":"r1"`) || strings.Contains(stdout, "bob@example.com") {
		t.Errorf("alice's logs: exit %d (%s), want her rows only:\n%s", code, stderr, stdout)
	}
	if code, _, stderr := runCLI(t, "logs", "--server", alice, "--user", "bob@example.com"); code != 1 || !strings.Contains(stderr, "403") {
		t.Errorf("alice asking for bob's rows: exit %d, %s; want 1 and the gateway's 403", code, stderr)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var follow syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"logs", "--server", admin, "--follow", "--poll", "50ms", "--json", "--model", "gpt-5"}, &follow, &bytes.Buffer{})
	}()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(follow.String(), `"id":"r1"`) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Post(admin+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"gpt-5","messages":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Header.Get("X-Request-Id")
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(follow.String(), id) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a few more polls: nothing printed twice
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("follow exit %d", code)
	}
	if out := follow.String(); id == "" || strings.Count(out, id) != 1 || strings.Count(out, `"id":"r1"`) != 1 || strings.Contains(out, "gpt-5-mini") {
		t.Errorf("follow, want r1 then the new request %q once each, gpt-5 only:\n%s", id, out)
	}
}

// TestLogsServerFlagErrors: a --server that is no gateway URL, or given
// with --db, is refused with a message.
func TestLogsServerFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"logs", "--server", "ai:8080"}, "want the gateway's base URL"},
		{[]string{"usage", "--server", "http://127.0.0.1:8080/api"}, "want the gateway's base URL"},
		{[]string{"logs", "--server", "http://127.0.0.1:8080", "--db", "x.db"}, "--server and --db"},
		{[]string{"logs", "--server", "http://" + proxytest.RefusingAddr(t)}, "connection refused"},
	}
	for _, tc := range tests {
		if code, _, stderr := runCLI(t, tc.args...); code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 1 and %q", tc.args, code, stderr, tc.want)
		}
	}
}
