// Package cluster lets several sluice replicas share one PostgreSQL
// database as one gateway: the configuration lives in the database with a
// revision number and a hash ([DB.Save] with optimistic concurrency, one
// revision after another), every replica hears of a new revision at once
// through LISTEN/NOTIFY and checks for one every few seconds besides
// ([DB.Watch]), and each replica reports what it serves in a heartbeat
// ([DB.Beat]) so that drift between them is visible ([DB.Replicas]).
//
// There is no consensus of sluice's own: PostgreSQL orders the saves (one
// transaction at a time under an advisory lock), and a replica applies
// only revisions newer than the one it serves. The tables are created by
// the PostgreSQL store's migrations, so open the store first.
package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Errors callers branch on.
var (
	// ErrNeedsPostgres refuses a database other than PostgreSQL: only a
	// server several replicas reach can hold their shared configuration.
	ErrNeedsPostgres = errors.New("--config-source db needs a PostgreSQL database (--db postgres://...): " +
		"a SQLite file belongs to one process, so replicas cannot share a configuration through it")
	// ErrNoConfig reports a database that holds no configuration yet.
	ErrNoConfig = errors.New("the database holds no configuration yet: seed it with `sluice config push --db DSN FILE`")
)

// StaleError refuses a save whose base hash is not the stored
// configuration's: someone saved in between.
type StaleError struct {
	// Current is the stored configuration's hash.
	Current string
	// Revision is the stored configuration's revision.
	Revision int64
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("the configuration changed since it was read (it is at revision %d now); nothing was saved", e.Revision)
}

// Revision is one saved configuration.
type Revision struct {
	// Number counts saves from 1.
	Number int64
	// Hash is the hex SHA-256 of Text.
	Hash string
	// Text is the HuJSON as saved.
	Text    []byte
	SavedBy string
	Saved   time.Time
}

// Hash is the hash a configuration text is stored and compared under: hex
// SHA-256, the same as the config API's.
func Hash(text []byte) string {
	sum := sha256.Sum256(text)
	return hex.EncodeToString(sum[:])
}

// notifyChannel is the channel new revisions are announced on. Channels
// are per database, not per schema, so the payload names the schema.
const notifyChannel = "sluice_config"

// saveLock serialises saves on one schema (a transaction-scoped advisory
// lock, released at commit), so two replicas cannot both save on the same
// base.
const saveLock = `SELECT pg_advisory_xact_lock(1936484708, hashtext(current_schema()))`

// DB is the shared configuration and heartbeats in one PostgreSQL database.
type DB struct {
	pool   *pgxpool.Pool
	schema string
}

// Open connects to the PostgreSQL database dsn names (a postgres:// URL;
// anything else is ErrNeedsPostgres). Errors never repeat the DSN.
func Open(ctx context.Context, dsn string) (*DB, error) {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return nil, ErrNeedsPostgres
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres DSN: %w", err)
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres pool: %w", err)
	}
	db := &DB{pool: pool}
	if err := pool.QueryRow(ctx, "SELECT current_schema()").Scan(&db.schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	return db, nil
}

// Close releases the database.
func (db *DB) Close() { db.pool.Close() }

// Current returns the newest saved configuration, or ErrNoConfig.
func (db *DB) Current(ctx context.Context) (Revision, error) {
	return current(ctx, db.pool)
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func current(ctx context.Context, q querier) (Revision, error) {
	var r Revision
	var text string
	var savedUS int64
	err := q.QueryRow(ctx, `SELECT revision, hash, text, saved_by, saved_us FROM config_revisions
		ORDER BY revision DESC LIMIT 1`).Scan(&r.Number, &r.Hash, &text, &r.SavedBy, &savedUS)
	if errors.Is(err, pgx.ErrNoRows) {
		return Revision{}, ErrNoConfig
	}
	if err != nil {
		return Revision{}, fmt.Errorf("reading the stored configuration: %w", err)
	}
	r.Text, r.Saved = []byte(text), time.UnixMicro(savedUS).UTC()
	return r, nil
}

// Head returns the newest revision's number and hash without its text:
// what the periodic check compares.
func (db *DB) Head(ctx context.Context) (number int64, hash string, err error) {
	err = db.pool.QueryRow(ctx, `SELECT revision, hash FROM config_revisions ORDER BY revision DESC LIMIT 1`).Scan(&number, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, "", ErrNoConfig
	}
	if err != nil {
		return 0, "", fmt.Errorf("reading the stored configuration: %w", err)
	}
	return number, hash, nil
}

// Save stores text as the next revision and announces it to every replica,
// in one transaction. base is the hash of the configuration the caller
// edited: when it is not the stored one's, Save returns a *StaleError and
// stores nothing. An empty base saves over whatever is stored (`sluice
// config push`); IfEmpty saves only when nothing is stored yet (a replica
// seeding from its file), returning the stored revision otherwise. Text
// equal to the stored one is no new revision: Save returns the stored one
// with unchanged set.
func (db *DB) Save(ctx context.Context, text []byte, base string, by string) (rev Revision, unchanged bool, err error) {
	return db.save(ctx, text, base, by, false)
}

// SeedIfEmpty stores text as revision 1 when the database holds no
// configuration, and returns the stored newest revision either way.
func (db *DB) SeedIfEmpty(ctx context.Context, text []byte, by string) (Revision, error) {
	rev, _, err := db.save(ctx, text, "", by, true)
	return rev, err
}

func (db *DB) save(ctx context.Context, text []byte, base, by string, ifEmpty bool) (rev Revision, unchanged bool, err error) {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return Revision{}, false, fmt.Errorf("saving the configuration: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit this is a no-op
	if _, err := tx.Exec(ctx, saveLock); err != nil {
		return Revision{}, false, fmt.Errorf("saving the configuration: lock: %w", err)
	}
	cur, err := current(ctx, tx)
	switch {
	case errors.Is(err, ErrNoConfig):
		cur = Revision{}
	case err != nil:
		return Revision{}, false, err
	case ifEmpty:
		return cur, true, nil
	}
	if base != "" && base != cur.Hash {
		return Revision{}, false, &StaleError{Current: cur.Hash, Revision: cur.Number}
	}
	hash := Hash(text)
	if cur.Number > 0 && hash == cur.Hash {
		return cur, true, nil
	}
	rev = Revision{Number: cur.Number + 1, Hash: hash, Text: text, SavedBy: by, Saved: time.Now().UTC()}
	if _, err := tx.Exec(ctx, `INSERT INTO config_revisions (revision, hash, text, saved_by, saved_us) VALUES ($1, $2, $3, $4, $5)`,
		rev.Number, rev.Hash, string(text), by, rev.Saved.UnixMicro()); err != nil {
		return Revision{}, false, fmt.Errorf("saving the configuration: %w", err)
	}
	// Delivered to listeners when the transaction commits, never before.
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, notifyChannel, fmt.Sprintf("%s:%d", db.schema, rev.Number)); err != nil {
		return Revision{}, false, fmt.Errorf("saving the configuration: notify: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return Revision{}, false, fmt.Errorf("saving the configuration: commit: %w", err)
	}
	return rev, false, nil
}
