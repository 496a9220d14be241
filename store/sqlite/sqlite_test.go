package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/store/sqlite"
	"github.com/sluice-gateway/sluice/store/storetest"
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

func BenchmarkWriter(b *testing.B) {
	storetest.BenchmarkWriter(b, "sqlite:"+filepath.Join(b.TempDir(), "bench.db"))
}
