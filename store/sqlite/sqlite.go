// Package sqlite opens the embedded SQLite database that holds the request
// log of a single sluice: a file in the state directory, through a pure-Go
// driver so the binary cross-compiles. It sets the connection up for a
// gateway's workload (write-ahead log, a busy timeout, immediate write
// transactions) and applies the embedded migrations.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluice-gateway/sluice/store/migrate"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the schema migrations of the SQLite backend.
func Migrations() ([]migrate.Migration, error) {
	return migrate.Load(migrationFiles, "migrations")
}

// BusyTimeoutMS is how long a connection waits for another writer before
// giving up with SQLITE_BUSY.
const BusyTimeoutMS = 10_000

// WALCheckpointPages is how many pages the write-ahead log holds before
// the commit that passes it copies them into the database file.
const WALCheckpointPages = 4000

// Open opens (creating it and its directory if needed) the database file at
// path, applies pending migrations and returns the handle with a function
// that closes it.
func Open(ctx context.Context, path string) (*sql.DB, func() error, error) {
	if strings.ContainsAny(path, "?#") {
		return nil, nil, fmt.Errorf("sqlite path %q: must not contain '?' or '#'", path)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, nil, fmt.Errorf("sqlite directory: %w", err)
		}
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeoutMS))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	// Multi-row INSERTs keep a statement journal; on disk it cost a
	// temporary-file write per batch chunk. The sorts and window functions
	// of dashboard queries then run in memory too: they page with LIMIT,
	// but a session listing over a long time range sorts every row in it.
	q.Add("_pragma", "temp_store(MEMORY)")
	// A checkpoint syncs the log and the database file and the next
	// commit syncs the restarted log's header; with one processor each
	// fsync keeps the processor from requests until the runtime hands it
	// over (up to 10 ms). Checkpointing every 4,000 pages rather than
	// SQLite's 1,000 does that a quarter as often, copies each page
	// changed in the meantime once, and bounds the log at 16 MB.
	q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", WALCheckpointPages))
	// Write transactions take the write lock at BEGIN, so two writers wait
	// on the busy timeout instead of failing on a lock upgrade.
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	ms, err := Migrations()
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	if _, err := migrate.Apply(ctx, db, ms, migrate.Options{}); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	return db, func() error { return nil }, nil
}
