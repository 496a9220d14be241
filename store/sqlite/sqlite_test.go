package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/store/migrate"
	"github.com/sluice-gateway/sluice/store/sqlite"
	"github.com/sluice-gateway/sluice/store/storetest"
	"github.com/sluice-gateway/sluice/usage"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) string {
		return "sqlite:" + filepath.Join(t.TempDir(), "sluice.db")
	})
}

func TestOpenSetsUpDatabase(t *testing.T) {
	// A bare file path, in a directory that does not exist yet.
	path := filepath.Join(t.TempDir(), "state", "sluice.db")
	ctx := context.Background()
	for range 2 { // the second open finds the migrations applied
		db, closeDB, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		var mode string
		if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("journal_mode = %q, %v; want wal", mode, err)
		}
		var temp int
		if err := db.QueryRowContext(ctx, "PRAGMA temp_store").Scan(&temp); err != nil || temp != 2 {
			t.Errorf("temp_store = %d, %v; want 2 (memory)", temp, err)
		}
		var busy int
		if err := db.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil || busy != sqlite.BusyTimeoutMS {
			t.Errorf("busy_timeout = %d, %v; want %d", busy, err, sqlite.BusyTimeoutMS)
		}
		var ckpt int
		if err := db.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&ckpt); err != nil || ckpt != sqlite.WALCheckpointPages {
			t.Errorf("wal_autocheckpoint = %d, %v; want %d", ckpt, err, sqlite.WALCheckpointPages)
		}
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil {
			t.Fatal(err)
		}
		ms, _ := sqlite.Migrations()
		if n != len(ms) {
			t.Errorf("schema_migrations has %d rows, want %d", n, len(ms))
		}
		db.Close()
		closeDB()
	}
	st := storetest.Open(t, path, store.Options{})
	if _, err := st.Requests(ctx, store.Filter{}, store.Page{}); err != nil {
		t.Fatalf("Requests through a plain-path DSN: %v", err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sluice.db")
	ctx := context.Background()
	db, closeDB, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO schema_migrations (version, name) VALUES (9999, 'future')"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	closeDB()
	if _, _, err := sqlite.Open(ctx, path); err == nil {
		t.Fatal("Open of a database from a newer sluice succeeded")
	}
}

func TestOpenRejectsQueryInPath(t *testing.T) {
	if _, _, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "x.db?mode=ro")); err == nil {
		t.Fatal("path with '?' accepted")
	}
}

// TestWALStaysBounded: the write-ahead log is checkpointed and reused, so
// the file does not grow with the log of requests: after about three
// times WALCheckpointPages pages of inserts it is no larger than
// WALCheckpointPages pages and one batch's.
func TestWALStaysBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sluice.db")
	st := storetest.Open(t, path, store.Options{})
	ctx := context.Background()
	const batches, per = 40, 1000
	t0 := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	for b := range batches {
		recs := make([]store.Record, per)
		for i := range recs {
			at := t0.Add(time.Duration(b*per+i) * time.Millisecond)
			recs[i] = store.Record{ID: store.NewID(at), Time: at, Login: fmt.Sprintf("user%d@example.com", i%50), Model: "gpt-5",
				Provider: "openai", Path: "/v1/chat/completions", UserAgent: "curl/8.5.0", Status: 200}
		}
		if err := st.Insert(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	db, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after %d rows: log %d bytes, database %d bytes", batches*per, fi.Size(), db.Size())
	const frame = 4096 + 24
	if limit := int64(sqlite.WALCheckpointPages+1000) * frame; fi.Size() > limit {
		t.Errorf("write-ahead log is %d bytes after %d rows (database %d bytes), want at most %d", fi.Size(), batches*per, db.Size(), limit)
	}
	// Before its first checkpoint the database file holds only the
	// schema's pages; every page since is in the log.
	if db.Size() < sqlite.WALCheckpointPages*4096/2 {
		t.Errorf("database file is %d bytes after %d rows: the log was not checkpointed into it", db.Size(), batches*per)
	}
}

func BenchmarkWriter(b *testing.B) {
	storetest.BenchmarkWriter(b, "sqlite:"+filepath.Join(b.TempDir(), "bench.db"))
}

func BenchmarkWriterVaried(b *testing.B) {
	storetest.BenchmarkWriterVaried(b, "sqlite:"+filepath.Join(b.TempDir(), "bench.db"))
}

// atMigration creates a database at path with only the first n
// migrations applied: a database an older sluice wrote.
func atMigration(t *testing.T, path string, n int) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := sqlite.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.Apply(context.Background(), db, ms[:n], migrate.Options{}); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestNullableUsageMigrationKeepsRows: a database written before token
// counts became nullable keeps its rows' numbers, and then stores "not
// reported" as NULL.
func TestNullableUsageMigrationKeepsRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sluice.db")
	ctx := context.Background()
	db := atMigration(t, path, 1)
	if _, err := db.ExecContext(ctx, `INSERT INTO requests (id, time_us, login, input_tokens, output_tokens, cache_read_tokens, cost_usd, cost_known)
		VALUES ('old', 1, 'alice', 120, 4, 100, 0.5, 1)`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	st := storetest.Open(t, path, store.Options{})
	old, err := st.Request(ctx, "old", store.Lookup{})
	if err != nil {
		t.Fatal(err)
	}
	want := usage.Tokens{Input: usage.Of(120), Output: usage.Of(4), CacheRead: usage.Of(100), CacheWrite: usage.Of(0), Reasoning: usage.Of(0)}
	if old.Usage != want || old.CostUSD != 0.5 || !old.CostKnown {
		t.Errorf("old row after migration: usage %+v cost %v/%v, want %+v 0.5/true", old.Usage, old.CostUSD, old.CostKnown, want)
	}
	if err := st.Insert(ctx, []store.Record{{ID: "new", Time: time.Unix(2, 0), Login: "alice"}}); err != nil {
		t.Fatalf("insert with usage not reported: %v", err)
	}
	fresh, err := st.Request(ctx, "new", store.Lookup{})
	if err != nil || fresh.Usage.Reported() {
		t.Errorf("new row usage %+v, %v; want not reported", fresh.Usage, err)
	}
}

// TestGrantsMigrationKeepsRows: rows written before the grants column
// read back with no grants, and new rows store theirs.
func TestGrantsMigrationKeepsRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sluice.db")
	ctx := context.Background()
	db := atMigration(t, path, 3)
	if _, err := db.ExecContext(ctx, `INSERT INTO requests (id, time_us, login, status) VALUES ('old', 1, 'alice', 200)`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	st := storetest.Open(t, path, store.Options{})
	old, err := st.Request(ctx, "old", store.Lookup{})
	if err != nil || old.Grants != nil || old.Login != "alice" {
		t.Fatalf("old row after migration: grants %q login %q, %v; want no grants", old.Grants, old.Login, err)
	}
	grants := []string{"temp_grants[0].grants[1]"}
	if err := st.Insert(ctx, []store.Record{{ID: "new", Time: time.Unix(2, 0), Login: "alice", Grants: grants}}); err != nil {
		t.Fatal(err)
	}
	fresh, err := st.Request(ctx, "new", store.Lookup{})
	if err != nil || len(fresh.Grants) != 1 || fresh.Grants[0] != grants[0] {
		t.Errorf("new row grants %q, %v; want %q", fresh.Grants, err, grants)
	}
}

// TestRollupMigrationBackfills: the usage rollup of a database written
// before it existed holds the rows already logged, and grows from there.
func TestRollupMigrationBackfills(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sluice.db")
	ctx := context.Background()
	db := atMigration(t, path, 5)
	if _, err := db.ExecContext(ctx, `INSERT INTO requests (id, time_us, login, model, status, input_tokens, output_tokens, cost_usd, cost_known)
		VALUES ('old1', 7200000000, 'alice', 'gpt-5', 200, 120, 4, 0.5, 1), ('old2', 7300000000, 'alice', 'gpt-5', 200, 30, 6, 0.25, 1)`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	st := storetest.Open(t, path, store.Options{})
	rec := store.Record{ID: "new", Time: time.UnixMicro(7400000000), Login: "alice", Model: "gpt-5", Status: 200,
		Usage: usage.Tokens{Input: usage.Of(50), Output: usage.Of(10)}, CostUSD: 1, CostKnown: true}
	if err := st.Insert(ctx, []store.Record{rec}); err != nil {
		t.Fatal(err)
	}
	got, err := st.Rollup(ctx, store.Filter{Login: "alice"}, store.DimHour)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Requests != 3 || got[0].InputTokens != 200 || got[0].OutputTokens != 20 || got[0].CostUSD != 1.75 {
		t.Fatalf("rollup after migration = %+v, want one hour of 3 requests, 200 in, 20 out, $1.75", got)
	}
}

// BenchmarkWriterHold: run with -cpu 1 (see storetest.BenchmarkWriterHold).
func BenchmarkWriterHold(b *testing.B) {
	storetest.BenchmarkWriterHold(b, "sqlite:"+filepath.Join(b.TempDir(), "bench.db"))
}
