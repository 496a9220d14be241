package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/store"
	usagecount "github.com/sluice-gateway/sluice/usage"
)

// requestLog writes recs into a new SQLite request log in a state
// directory and returns the directory.
func requestLog(t *testing.T, recs ...store.Record) (string, store.Store) {
	t.Helper()
	state := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(state, "sluice.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Insert(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	return state, st
}

func logRecord(id, login, model string, age time.Duration, in, out int64, cost float64, status int) store.Record {
	return store.Record{ID: id, Time: time.Now().Add(-age).Truncate(time.Millisecond), Login: login, Provider: "openai", Model: model,
		Format: "openai_chat", Path: "/v1/chat/completions", Status: status, Latency: 1200 * time.Millisecond,
		Usage:   usagecount.Tokens{Input: usagecount.Of(in), Output: usagecount.Of(out)},
		CostUSD: cost, CostKnown: true, RawRequest: []byte(`{"secret prompt":1}`)}
}

// TestLogsAndUsage: `sluice logs` prints the request log oldest first,
// filtered by user, model and age, as a table or JSON lines without
// bodies; `sluice usage` sums requests, tokens and cost per user or model.
func TestLogsAndUsage(t *testing.T) {
	state, _ := requestLog(t,
		logRecord("r1", "alice@example.com", "gpt-5", 3*time.Hour, 100, 10, 0.5, 200),
		logRecord("r2", "bob@example.com", "gpt-5-mini", 30*time.Minute, 40, 4, 0.25, 200),
		logRecord("r3", "alice@example.com", "gpt-5-mini", 10*time.Minute, 7, 0, 0, 502),
	)

	code, stdout, stderr := runCLI(t, "logs", "--state-dir", state)
	if code != 0 {
		t.Fatalf("logs: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "TIME") ||
		!strings.Contains(lines[1], "alice@example.com") || !strings.Contains(lines[3], "502") {
		t.Errorf("logs table, want header then r1, r2, r3 oldest first:\n%s", stdout)
	}
	if !regexp.MustCompile(`alice@example\.com\s+openai\s+gpt-5\s+200\s+1\.2s\s+100\s+10\s+\$0\.500000`).MatchString(stdout) {
		t.Errorf("r1's row is not as expected:\n%s", stdout)
	}

	code, stdout, _ = runCLI(t, "logs", "--state-dir", state, "--user", "alice@example.com", "--since", "1h", "--json")
	var row logRow
	if err := json.Unmarshal([]byte(strings.TrimSpace(stdout)), &row); code != 0 || err != nil || row.ID != "r3" || row.Status != 502 {
		t.Errorf("logs --user alice --since 1h --json: exit %d, %q (%v); want r3 alone", code, stdout, err)
	}
	if strings.Contains(stdout, "secret prompt") {
		t.Error("logs printed a body")
	}

	code, stdout, _ = runCLI(t, "usage", "--state-dir", state)
	if code != 0 ||
		!regexp.MustCompile(`alice@example\.com\s+2\s+1\s+107\s+10\s+0\s+\$0\.5000`).MatchString(stdout) ||
		!regexp.MustCompile(`bob@example\.com\s+1\s+0\s+40\s+4\s+0\s+\$0\.2500`).MatchString(stdout) ||
		!regexp.MustCompile(`total\s+3\s+1\s+147\s+14\s+0\s+\$0\.7500`).MatchString(stdout) {
		t.Errorf("usage by user: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = runCLI(t, "usage", "--state-dir", state, "--by", "model", "--json")
	if code != 0 || !strings.Contains(stdout, `"model":"gpt-5-mini"`) || !strings.Contains(stdout, `"requests":2`) {
		t.Errorf("usage --by model --json: exit %d\n%s", code, stdout)
	}

	if code, _, stderr := runCLI(t, "logs", "--state-dir", t.TempDir()); code != 1 || !strings.Contains(stderr, "no request log at") {
		t.Errorf("logs without a log: exit %d, %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "usage", "--state-dir", state, "--by", "colour"); code != 2 || stderr == "" {
		t.Errorf("usage --by colour: exit %d, %s", code, stderr)
	}
}

// TestLogsFollow: --follow prints requests recorded after it started,
// each once.
func TestLogsFollow(t *testing.T) {
	state, st := requestLog(t, logRecord("old", "alice@example.com", "gpt-5", time.Minute, 1, 1, 0, 200))
	ctx, cancel := context.WithCancel(context.Background())
	var stdout syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"logs", "--state-dir", state, "--follow", "--poll", "20ms", "--json"}, &stdout, &bytes.Buffer{})
	}()
	time.Sleep(100 * time.Millisecond)
	if err := st.Insert(context.Background(), []store.Record{logRecord("new", "bob@example.com", "gpt-5", 0, 2, 2, 0, 200)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stdout.String(), `"id":"new"`) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // a few more polls: nothing printed twice
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d", code)
	}
	out := stdout.String()
	if strings.Count(out, `"id":"old"`) != 1 || strings.Count(out, `"id":"new"`) != 1 {
		t.Errorf("follow output, want old and new once each:\n%s", out)
	}
}
