package store_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/store/storetest"
)

// TestToolCalls stores tool calls and lists them back, per caller and in
// all, on SQLite and (when SLUICE_TEST_POSTGRES is set) PostgreSQL; the
// retention janitor deletes old ones with the requests.
func TestToolCalls(t *testing.T) {
	dsns := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "tc.db") },
		"postgres": func(t *testing.T) string { return storetest.PostgresDSN(t) }, // a schema of its own, dropped at the end
	}
	for name, dsnOf := range dsns {
		t.Run(name, func(t *testing.T) {
			if name == "postgres" && os.Getenv(storetest.EnvTestPostgres) == "" {
				t.Skip("SLUICE_TEST_POSTGRES not set")
			}
			dsn := dsnOf(t)
			ctx := context.Background()
			st, err := Open(ctx, dsn, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			log := st.(ToolCallLog)
			base := time.Now().Add(-time.Hour).Truncate(time.Microsecond)
			calls := []ToolCall{
				{Time: base, Login: "alice@example.com", Connector: "docs", Tool: "search", ArgsBytes: 17, Outcome: ToolOK, Latency: 3 * time.Millisecond},
				{Time: base.Add(time.Second), Login: "bob@example.com", Connector: "docs", Tool: "delete", Outcome: ToolDenied},
				{Time: base.Add(2 * time.Second), Login: "alice@example.com", Connector: "tracker", Tool: "get", Outcome: ToolFailed, Error: "connector tracker is unreachable"},
			}
			for _, c := range calls {
				if err := log.InsertToolCall(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			got, err := log.ToolCalls(ctx, "alice@example.com", 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) < 2 || got[0].Tool != "get" || got[1].Tool != "search" || got[1].ArgsBytes != 17 || got[1].Latency != 3*time.Millisecond || got[0].Error == "" {
				t.Fatalf("alice's calls = %+v; want get (failed) then search (17 bytes, 3ms)", got)
			}
			for _, c := range got {
				if c.Login != "alice@example.com" {
					t.Errorf("a call of %s listed for alice", c.Login)
				}
			}
			if _, err := st.DeleteOlderThan(ctx, base.Add(1500*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			all, err := log.ToolCalls(ctx, "", 1000)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range all {
				if c.Time.Before(base.Add(1500 * time.Millisecond)) {
					t.Errorf("retention kept %+v", c)
				}
			}
		})
	}
}
