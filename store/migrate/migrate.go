// Package migrate applies a database's versioned schema migrations: SQL
// files named NNNN_description.sql, embedded in the binary, applied in
// version order inside one transaction and recorded in a schema_migrations
// table, so applying them again is a no-op.
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
)

// Migration is one schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

var (
	fileRE = regexp.MustCompile(`^([0-9]{4,9})_([a-z0-9_]+)\.sql$`)
	nameRE = regexp.MustCompile(`^[a-z0-9_]+$`)
)

// ParseName splits a migration file name ("0001_init.sql") into its version
// and name.
func ParseName(file string) (version int, name string, err error) {
	m := fileRE.FindStringSubmatch(file)
	if m == nil {
		return 0, "", fmt.Errorf("migration file %q: want NNNN_name.sql (digits, then lower-case letters, digits, _)", file)
	}
	v, err := strconv.Atoi(m[1])
	if err != nil || v <= 0 {
		return 0, "", fmt.Errorf("migration file %q: version must be a positive number", file)
	}
	return v, m[2], nil
}

// Load reads the migrations in dir of fsys, sorted by version. Files that
// do not end in .sql are ignored; two files of one version are an error.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []Migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		v, name, err := ParseName(e.Name())
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

// ErrTooNew reports a database migrated by a newer sluice than this one.
var ErrTooNew = errors.New("database schema is newer than this sluice")

// Options adapts Apply to a database.
type Options struct {
	// Lock is a statement run first in the migration transaction to
	// serialise concurrent appliers (PostgreSQL: an advisory transaction
	// lock). Empty when the transaction itself locks (SQLite with BEGIN
	// IMMEDIATE).
	Lock string
}

// Apply applies the migrations of ms that the database lacks, all in one
// transaction, and returns the versions it applied. Two processes applying
// at once are serialised by the lock: the second finds the work done.
func Apply(ctx context.Context, db *sql.DB, ms []Migration, o Options) (applied []int, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("migrate: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if o.Lock != "" {
		if _, err := tx.ExecContext(ctx, o.Lock); err != nil {
			return nil, fmt.Errorf("migrate: lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version BIGINT PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
	)`); err != nil {
		return nil, fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	have := map[int]bool{}
	maxHave := 0
	rows, err := tx.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, fmt.Errorf("migrate: read schema_migrations: %w", err)
		}
		have[v] = true
		maxHave = max(maxHave, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	if len(ms) > 0 && maxHave > ms[len(ms)-1].Version {
		return nil, fmt.Errorf("%w: it is at version %d, this binary knows up to %d", ErrTooNew, maxHave, ms[len(ms)-1].Version)
	}
	for _, m := range ms {
		if have[m.Version] {
			continue
		}
		if m.Version <= 0 || !nameRE.MatchString(m.Name) {
			return nil, fmt.Errorf("migration %d %q: want a positive version and a name of [a-z0-9_]", m.Version, m.Name)
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return nil, fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
		}
		// Version and name come from a checked file name: digits and
		// [a-z0-9_] only, safe to inline.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(
			"INSERT INTO schema_migrations (version, name) VALUES (%d, '%s')", m.Version, m.Name)); err != nil {
			return nil, fmt.Errorf("migration %04d_%s: record: %w", m.Version, m.Name, err)
		}
		applied = append(applied, m.Version)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("migrate: commit: %w", err)
	}
	return applied, nil
}
