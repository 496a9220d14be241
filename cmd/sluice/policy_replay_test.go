package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/replay"
	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/store/storetest"
)

const replayLive = "testdata/replay/live.hujson"

// seedReplayLog writes a request log decided under the live policy, as
// the gateway records it, in a SQLite file, and returns its path.
func seedReplayLog(t *testing.T) string {
	t.Helper()
	return seedReplayDB(t, filepath.Join(t.TempDir(), "sluice.db"))
}

// seedReplayDB seeds the request log at dsn and returns dsn.
func seedReplayDB(t *testing.T, dsn string) string {
	t.Helper()
	ctx := context.Background()
	cfg, err := policy.Load(replayLive)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reqs := []struct {
		login, model, format string
		n                    int
		caps                 string // the caller's tailnet capability, if any
	}{
		{"developer@company.com", "gpt-5", "openai_chat", 3, ""},
		{"developer@company.com", "claude-sonnet-4-5", "anthropic_messages", 2, ""},
		{"developer@company.com", "gpt-5-mini", "openai_chat", 1, ""},
		{"admin@company.com", "gpt-4.1", "openai_chat", 1, ""},
		{"eve@company.com", "gpt-5", "openai_chat", 2, ""},
		// Allowed by the tailnet policy file alone: replay must use the
		// recorded capability, or it reports a loss.
		{"capuser@company.com", "gpt-4.1", "openai_chat", 1, `{"role": "user", "models": "openai/gpt-4.1"}`},
	}
	now := time.Now().Add(-time.Hour)
	var recs []store.Record
	for _, q := range reqs {
		for range q.n {
			r := store.Record{Time: now, Login: q.login, Tailnet: "company.com", Model: q.model, Format: q.format, Path: "/v1/x", Status: 200}
			rec := r
			rec.Decision = &store.DecisionInput{}
			if q.caps != "" {
				rec.Decision.Caps = []json.RawMessage{json.RawMessage(q.caps)}
			}
			// Decided as the gateway does, on its own input (not
			// replay's), by the model's one provider.
			provider := cfg.ProvidersFor(q.model)[0].ID
			d, err := eng.Decide(ctx, engine.Input{
				User: engine.User{Login: q.login, Tailnet: "company.com"}, Caps: rec.Decision.Caps,
				Request: engine.Request{Provider: provider, Model: q.model, Format: q.format, Path: "/v1/x"},
			})
			if err != nil {
				t.Fatal(err)
			}
			rec.Decision.Allow = d.Allow
			recs = append(recs, rec)
			now = now.Add(time.Second)
		}
	}
	// A row written before decision inputs were kept: skipped, not
	// guessed at.
	recs = append(recs, store.Record{Time: now, Login: "developer@company.com", Model: "claude-sonnet-4-5", Format: "anthropic_messages", Status: 200})
	if err := st.Insert(ctx, recs); err != nil {
		t.Fatal(err)
	}
	return dsn
}

func TestPolicyReplay(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testPolicyReplay(t, seedReplayLog(t)) })
	t.Run("postgres", func(t *testing.T) { testPolicyReplay(t, seedReplayDB(t, storetest.PostgresDSN(t))) })
}

func testPolicyReplay(t *testing.T, db string) {
	tests := []struct {
		name     string
		config   string
		wantCode int
		want     []replay.Change
	}{
		{"same policy", replayLive, 0, []replay.Change{}},
		{"comment and reordering refactor", "testdata/replay/refactored.hujson", 0, []replay.Change{}},
		{"narrowed grant", "testdata/replay/narrowed.hujson", 1, []replay.Change{
			{User: "developer@company.com", Model: "claude-sonnet-4-5", Change: "lost", Requests: 2},
		}},
		{"widened grant", "testdata/replay/widened.hujson", 1, []replay.Change{
			{User: "developer@company.com", Model: "gpt-5-mini", Change: "gained", Requests: 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runPolicyCLI(t, "replay", "--config", tt.config, "--db", db, "--json")
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.wantCode, stderr)
			}
			var rep replay.Report
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
				t.Fatalf("--json output %q: %v", stdout, err)
			}
			if diff := cmp.Diff(tt.want, rep.Changes); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			if rep.Replayed != 10 || rep.Skipped != 1 {
				t.Errorf("replayed %d, skipped %d; want 10 and 1", rep.Replayed, rep.Skipped)
			}
		})
	}
}

func TestPolicyReplayTable(t *testing.T) {
	db := seedReplayLog(t)
	code, stdout, _ := runPolicyCLI(t, "replay", "--config", "testdata/replay/narrowed.hujson", "--db", db)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "CHANGE") ||
		strings.Join(strings.Fields(lines[1]), " ") != "lost developer@company.com claude-sonnet-4-5 2" {
		t.Errorf("table:\n%s", stdout)
	}
	code, stdout, _ = runPolicyCLI(t, "replay", "--config", replayLive, "--db", db, "--since", "7d")
	if code != 0 || !strings.Contains(stdout, "no access changes (10 requests replayed") {
		t.Errorf("exit %d:\n%s", code, stdout)
	}
	// Requests older than --since are not replayed.
	code, stdout, _ = runPolicyCLI(t, "replay", "--config", "testdata/replay/narrowed.hujson", "--db", db, "--since", "1m")
	if code != 0 || !strings.Contains(stdout, "no access changes (0 requests replayed") {
		t.Errorf("--since 1m: exit %d:\n%s", code, stdout)
	}
}

func TestPolicyReplayErrors(t *testing.T) {
	db := seedReplayLog(t)
	bad := filepath.Join(t.TempDir(), "bad.hujson")
	writeRego(t, filepath.Dir(bad), "bad.hujson", `{"providers": {"x": {"baseurl": 7}}}`)
	tests := []struct {
		name string
		args []string
	}{
		{"no config", []string{"--db", db}},
		{"invalid candidate", []string{"--config", bad, "--db", db}},
		{"no request log", []string{"--config", replayLive, "--state-dir", t.TempDir()}},
		{"bad since", []string{"--config", replayLive, "--db", db, "--since", "a week"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runPolicyCLI(t, append([]string{"replay"}, tt.args...)...)
			if code != 2 || stderr == "" {
				t.Errorf("exit %d, stderr %q; want 2 and a message", code, stderr)
			}
		})
	}
}

// BenchmarkReplay measures replaying a request log of 10,000 rows (100
// callers, 4 models) under a candidate policy, per row.
func BenchmarkReplay(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "sluice.db")
	st, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	models := []struct{ model, format string }{{"gpt-5", "openai_chat"}, {"gpt-5-mini", "openai_chat"}, {"claude-sonnet-4-5", "anthropic_messages"}, {"gpt-4.1", "openai_chat"}}
	const rows = 10000
	recs := make([]store.Record, 0, rows)
	t0 := time.Now().Add(-time.Hour)
	for i := range rows {
		m := models[i%len(models)]
		login := fmt.Sprintf("user%d@company.com", i%100)
		if i%100 == 0 {
			login = "developer@company.com"
		}
		recs = append(recs, store.Record{Time: t0.Add(time.Duration(i) * time.Millisecond), Login: login, Model: m.model, Format: m.format,
			Path: "/v1/x", Status: 200, Decision: &store.DecisionInput{Allow: i%2 == 0}})
	}
	if err := st.Insert(ctx, recs); err != nil {
		b.Fatal(err)
	}
	cfg, err := policy.Load("testdata/replay/narrowed.hujson")
	if err != nil {
		b.Fatal(err)
	}
	eng, err := engine.New(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		rep, err := replay.Run(ctx, st, eng, store.Filter{})
		if err != nil || rep.Replayed != rows {
			b.Fatalf("%+v %v", rep.Replayed, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
}
