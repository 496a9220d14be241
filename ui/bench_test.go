package ui_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/ui"
)

// benchRows is the size of the log the page benchmarks read.
const benchRows = 1_000_000

// seedLog writes n requests over the 30 days before now into the SQLite
// log at path, in one statement the database generates itself (the
// rollup triggers run for every row, as for the writer's inserts): 100
// users, each with their own client and three of six models, about 3%
// failures, a client session ID on half of them.
func seedLog(b *testing.B, path string, n int, now time.Time) {
	b.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, path, store.Options{}) // applies the migrations
	if err != nil {
		b.Fatal(err)
	}
	st.Close()
	db, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	span := int64(30 * 24 * time.Hour / time.Microsecond)
	end := now.UnixMicro()
	q := fmt.Sprintf(`WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < %d)
	INSERT INTO requests (id, time_us, login, provider, model, format, method, path, status, error,
		latency_us, ttfb_us, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
		cost_usd, cost_known, tool_calls, user_agent, session_id)
	SELECT printf('bench%%08d', i), %d - (i * %d / %d), printf('user%%02d@example.com', i %% 100),
		CASE WHEN (i / 100) %% 3 = 2 THEN 'anthropic' ELSE 'openai' END,
		CASE (i / 100) %% 3 WHEN 0 THEN CASE WHEN i %% 2 = 0 THEN 'gpt-5' ELSE 'gpt-5-mini' END
			WHEN 1 THEN CASE WHEN i %% 2 = 0 THEN 'gpt-4.1' ELSE 'o3' END
			ELSE CASE WHEN i %% 2 = 0 THEN 'claude-sonnet-4-5' ELSE 'claude-haiku-4-5' END END,
		'openai_chat', 'POST', '/v1/chat/completions',
		CASE WHEN i %% 50 = 7 THEN 429 WHEN i %% 97 = 3 THEN 500 ELSE 200 END,
		CASE WHEN i %% 97 = 3 THEN 'upstream failed' ELSE '' END,
		800000 + i %% 5000, 200000 + i %% 3000,
		1000 + i %% 7000, 50 + i %% 900, i %% 3000, 0, i %% 200,
		(1000 + i %% 7000) * 0.00000125 + (50 + i %% 900) * 0.00001, 1, i %% 4,
		CASE (i %% 100) %% 5 WHEN 0 THEN 'claude-cli/1.0.83 (external, cli)' WHEN 1 THEN 'codex_cli_rs/0.41.0'
			WHEN 2 THEN 'opencode/0.9.1' WHEN 3 THEN 'GeminiCLI/0.6.0' ELSE 'python-httpx/0.28.1' END,
		CASE WHEN i %% 2 = 0 THEN printf('s%%02d-%%d', i %% 100, i / 20000) ELSE '' END
	FROM seq`, n-1, end, span, n)
	start := time.Now()
	if _, err := db.ExecContext(ctx, q); err != nil {
		b.Fatal(err)
	}
	// The store sums the rollups of the rows it inserts; rows seeded in
	// SQL are summed here.
	for _, t := range []struct{ name, span string }{{"usage_hourly", "3600000000"}, {"usage_daily", "86400000000"}} {
		if _, err := db.ExecContext(ctx, `INSERT INTO `+t.name+`
			SELECT time_us - time_us % `+t.span+`, login, model, provider, user_agent,
				status, CASE WHEN status >= 400 OR error <> '' THEN 1 ELSE 0 END,
				COUNT(*), COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0),
				COALESCE(SUM(cache_read_tokens), 0), COALESCE(SUM(cache_write_tokens), 0), COALESCE(SUM(reasoning_tokens), 0),
				COALESCE(SUM(cost_usd), 0), SUM(CASE WHEN cost_known THEN 0 ELSE 1 END)
			FROM requests GROUP BY 1, 2, 3, 4, 5, 6, 7`); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("seeded %d requests in %s", n, time.Since(start).Round(time.Millisecond))
}

// BenchmarkPages renders each dashboard page over a log of a million
// requests in SQLite (seeded once per run), as the heaviest caller of
// each: an admin for /admin/, a user with 10,000 requests for /ui/.
func BenchmarkPages(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.db")
	now := time.Now()
	seedLog(b, path, benchRows, now)
	st, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	const user = "user07@example.com"
	caller := ui.Caller{Login: user}
	h := ui.New(ui.Options{
		Log: st,
		Who: func(r *http.Request) (ui.Caller, error) {
			if r.Header.Get("X-Bench-Admin") != "" {
				return ui.Caller{Login: "boss@example.com", Admin: true}, nil
			}
			return caller, nil
		},
		Models: func(*http.Request) ([]ui.Model, error) {
			return []ui.Model{{ID: "gpt-5", Provider: "openai", Priced: true, Input: 1.25, Output: 10, ContextWindow: 400_000}}, nil
		},
	})
	recent, err := st.Requests(context.Background(), store.Filter{Login: user}, store.Page{Limit: 1})
	if err != nil || len(recent.Records) == 0 {
		b.Fatalf("no request of %s: %v", user, err)
	}
	pages := []struct {
		name, path string
		admin      bool
	}{
		{"my-usage", "/ui/", false},
		{"my-logs", "/ui/logs", false},
		{"request", "/ui/requests/" + recent.Records[0].ID, false},
		{"models", "/ui/models", false},
		{"connect", "/ui/connect", false},
		{"adoption", "/admin/adoption", true},
		{"adoption-sorted-page2", "/admin/adoption?sort=tokens&dir=asc&page=2", true},
		{"adoption-filtered", "/admin/adoption?model=gpt-5&agent=claude-cli&status=200", true},
		{"adoption-csv", "/admin/adoption.csv", true},
		{"activity", "/admin/activity", true},
		{"activity-month", "/admin/activity?period=month&metric=cost", true},
		{"all-logs", "/admin/logs", true},
		{"all-logs-filtered", "/admin/logs?agent=opencode&status=429", true},
		{"user-page", "/ui/users/" + user, true},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, p.path, nil)
				if p.admin {
					req.Header.Set("X-Bench-Admin", "1")
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", p.path, rec.Code, rec.Body.String())
				}
			}
		})
	}
}
