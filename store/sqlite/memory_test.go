package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/store/sqlite"
)

// rssAnonKB is this process's resident anonymous memory, where SQLite's
// page caches live.
func rssAnonKB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatalf("RssAnon: %v", err)
			}
			return kb
		}
	}
	t.Skip("no RssAnon in /proc/self/status")
	return 0
}

// TestReleaseMemory fills the page caches of several idle connections
// (the dashboard's concurrent reads leave such a pool behind) and checks
// that ReleaseMemory empties them all: the resident set falls by more
// than the driver's allocator keeps mapped for reuse (4 MB), and no
// connection is opened or closed on the way.
func TestReleaseMemory(t *testing.T) {
	ctx := context.Background()
	db, closeDB, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "sluice.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(); closeDB() })
	const conns = 4
	db.SetMaxIdleConns(conns)
	// About 6 MB of rows: more than one connection's 2 MB cache.
	if _, err := db.ExecContext(ctx, `CREATE TABLE filler(id INTEGER PRIMARY KEY, v TEXT);
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 20000)
		INSERT INTO filler SELECT i, printf('%.300c', 'x') FROM n;`); err != nil {
		t.Fatal(err)
	}
	// Each connection reads the whole table, filling its own cache.
	var held []*sql.Conn
	for range conns {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		var n int
		if err := c.QueryRowContext(ctx, "SELECT count(*) FROM filler WHERE v <> ''").Scan(&n); err != nil || n != 20000 {
			t.Fatalf("count %d, %v", n, err)
		}
	}
	for _, c := range held {
		c.Close()
	}
	if st := db.Stats(); st.Idle != conns {
		t.Fatalf("%d idle connections, want %d", st.Idle, conns)
	}
	before := rssAnonKB(t)
	if err := sqlite.ReleaseMemory(ctx, db); err != nil {
		t.Fatal(err)
	}
	after := rssAnonKB(t)
	t.Logf("resident anonymous memory %d kB → %d kB", before, after)
	if before-after < 2<<10 {
		t.Errorf("resident anonymous memory %d kB → %d kB: under 2 MB released from %d full caches", before, after, conns)
	}
	if st := db.Stats(); st.OpenConnections != conns || st.Idle != conns {
		t.Errorf("after release: %d open, %d idle connections, want the %d there were", st.OpenConnections, st.Idle, conns)
	}
}

// TestReleaseMemoryNoIdleConnection: with every connection busy there is
// nothing to release, and ReleaseMemory must not open a new connection
// to find that out.
func TestReleaseMemoryNoIdleConnection(t *testing.T) {
	ctx := context.Background()
	db, closeDB, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "sluice.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(); closeDB() })
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	open := db.Stats().OpenConnections
	if err := sqlite.ReleaseMemory(ctx, db); err != nil {
		t.Fatal(err)
	}
	if got := db.Stats().OpenConnections; got != open {
		t.Errorf("%d connections open after release, want %d", got, open)
	}
}

// TestNotMemoryMapped: the database file is read into the page cache
// rather than mapped, as memory.go says: a mapped file would add its
// whole size to the resident set as the writer touches it.
func TestNotMemoryMapped(t *testing.T) {
	ctx := context.Background()
	db, closeDB, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "sluice.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(); closeDB() })
	var size int64
	if err := db.QueryRowContext(ctx, "PRAGMA mmap_size").Scan(&size); err != nil {
		t.Fatal(err)
	}
	if size != 0 {
		t.Errorf("mmap_size %d, want 0", size)
	}
}
