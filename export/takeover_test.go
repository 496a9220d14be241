package export

import (
	"context"
	"database/sql"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx driver, to play the dying replica's database connection

	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/store/storetest"
)

func openPostgres(t *testing.T, dsn string) testLog {
	t.Helper()
	st, err := store.Open(context.Background(), dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st.(testLog)
}

// TestPostgresLockTakeover runs two gateways' exporters on one PostgreSQL
// database: only the lock holder exports; when it dies (its database
// session ends), the other takes over at the cursor, and the archive
// holds every record once.
func TestPostgresLockTakeover(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.PostgresDSN(t)
	f := newFakeS3(t)
	a, b := openPostgres(t, dsn), openPostgres(t, dsn)
	c := f.client(t, "")
	ma, mb := NewMetrics(), NewMetrics()
	ea := New(a, c, Options{Limit: 4, Metrics: ma})
	eb := New(b, c, Options{Limit: 4, Metrics: mb})
	t.Cleanup(func() {
		if ea.lock != nil {
			ea.lock.Release() // returns the dead session to its pool, so the store closes
		}
	})

	written := insert(t, a, t0, 6, "a")
	ea.cycle(ctx)
	eb.cycle(ctx)
	if got := counter(t, mb, "sluice_export_standby"); got != 1 {
		t.Fatalf("second gateway standby = %v, want 1 while the first holds the lock", got)
	}
	if got := counter(t, mb, "sluice_export_records_total"); got != 0 {
		t.Fatalf("second gateway exported %v records while standing by", got)
	}
	written = append(written, insert(t, b, t0.Add(time.Minute), 5, "b")...)

	// The first gateway dies: its database sessions end, and with them
	// the advisory lock.
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var killed int
	if err := db.QueryRowContext(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()
		AND objid::bigint = (hashtextextended('sluice export ' || current_schema() || ' s3', 0) & 4294967295)`).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Fatalf("found %d sessions holding the export lock, want 1", killed)
	}
	deadline := time.Now().Add(5 * time.Second)
	for eb.lock == nil && time.Now().Before(deadline) {
		eb.cycle(ctx)
		time.Sleep(20 * time.Millisecond)
	}
	if eb.lock == nil {
		t.Fatal("the second gateway never took the lock over")
	}
	if got := counter(t, mb, "sluice_export_standby"); got != 0 {
		t.Errorf("standby = %v after the takeover, want 0", got)
	}
	checkExactlyOnce(t, archived(t, f, c), written)
	// The dead gateway's exporter, still running, finds its lock gone
	// and stands by.
	ea.cycle(ctx)
	if got := counter(t, ma, "sluice_export_standby"); got != 1 {
		t.Errorf("first gateway standby = %v after losing its lock, want 1", got)
	}
	if err := eb.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
