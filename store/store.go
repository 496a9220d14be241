// Package store persists what the gateway records about each request: one
// row per request (identity, route, status, timings, tokens, cost), its raw
// bodies when the configuration asks for them, and the queries the dashboard
// runs over those rows (requests, sessions, usage by user, model or day),
// with hourly and daily usage rollups that database triggers keep in step
// with the rows, so usage pages never scan the whole log.
//
// Two backends sit behind one interface, chosen by the DSN given to Open: an
// embedded SQLite file (the default, a pure-Go driver so the binary
// cross-compiles) and PostgreSQL, which several replicas can share. Each
// backend embeds its versioned migrations and applies them at start.
//
// Writes go through a Writer, which batches records in the background so the
// request path never waits for the database, and keeps what the database
// cannot take in a Spool on local disk until it can. A gateway that must not
// complete an answer before its row is safe waits with [Writer.WriteDurable]
// instead, which commits at once and shares each commit among the records
// waiting together.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluice-gateway/sluice/quota"
	"github.com/sluice-gateway/sluice/store/postgres"
	"github.com/sluice-gateway/sluice/store/sqlite"
)

// Store is the request log. Every method is safe for concurrent use.
//
// Queries take a Filter whose Login, when set, restricts the result to that
// user's rows inside the query itself: callers serving a non-admin set it to
// the caller's login.
type Store interface {
	Inserter
	// Quota balances: each change is one atomic statement, shared by
	// every gateway on the database.
	quota.Store

	// Request returns the row with the given ID. With q.Login set, a row of
	// another user is reported as ErrNotFound. With q.Raws, the raw bodies
	// are read too; when they cannot be decrypted the record's RawError
	// says why and the method still succeeds.
	Request(ctx context.Context, id string, q Lookup) (Record, error)
	// Requests lists rows matching f, newest first.
	Requests(ctx context.Context, f Filter, p Page) (RequestPage, error)
	// Sessions groups rows matching f into sessions (see SessionGap),
	// most recently active first.
	Sessions(ctx context.Context, f Filter, p Page) (SessionPage, error)
	// Usage aggregates rows matching f by user, model, provider or day.
	Usage(ctx context.Context, by GroupBy, f Filter) ([]Aggregate, error)
	// Rollup sums usage by the given dimensions from hourly rollups kept
	// with every insert, so it reads a few rows per hour rather than every
	// request; f's times round to whole hours and Session is refused.
	Rollup(ctx context.Context, f Filter, by ...Dimension) ([]Rollup, error)
	// DeleteOlderThan deletes rows and raw bodies recorded before t and
	// returns how many rows it deleted.
	DeleteOlderThan(ctx context.Context, t time.Time) (int64, error)
	// Close releases the database.
	Close() error
}

// Inserter is the write side of a Store, which is all a Writer needs.
type Inserter interface {
	// Insert stores records in one transaction: all of them or none.
	// A record whose ID is already stored is skipped, so a retried batch
	// never doubles a row. Records without an ID get a random one.
	Insert(ctx context.Context, recs []Record) error
}

// Lookup scopes a single-row read.
type Lookup struct {
	// Login, when set, hides rows of other users.
	Login string
	// Raws asks for the raw request and response bodies.
	Raws bool
}

// Options configures a Store.
type Options struct {
	// EncryptBlobs (database.keep_encrypted_blobs) seals raw bodies with
	// AES-256-GCM under Keys' current key. It takes effect when the store
	// is opened.
	EncryptBlobs bool
	// Keys holds the blob keys: required with EncryptBlobs, and used to
	// read encrypted bodies whenever set. See Keyring for rotation.
	Keys *Keyring
	// SessionGap overrides DefaultSessionGap when positive.
	SessionGap time.Duration
}

// Errors callers branch on.
var (
	// ErrNotFound reports a request ID that is not stored (or not visible
	// to the caller).
	ErrNotFound = errors.New("request not found")
	// ErrUnknownScheme reports a DSN whose scheme names no backend.
	ErrUnknownScheme = errors.New("unknown database scheme (want a file path, sqlite:PATH or postgres://...)")
	// ErrNoBlobKey reports encryption asked for without a key.
	ErrNoBlobKey = errors.New("database.keep_encrypted_blobs is set but no blob key is configured (set SLUICE_BLOB_KEY or SLUICE_BLOB_KEY_FILE)")
	// ErrBlobKeyMissing reports raw bodies sealed under a key that is not
	// configured: they stay unreadable until that key is given again.
	ErrBlobKeyMissing = errors.New("raw bodies are encrypted with a key that is not configured")
)

// Backend names, as returned by ParseDSN.
const (
	BackendSQLite   = "sqlite"
	BackendPostgres = "postgres"
)

// ParseDSN tells which backend a DSN selects and what that backend is given:
// "postgres://..." and "postgresql://..." select PostgreSQL (the DSN is passed
// whole to the driver); "sqlite:PATH" and a plain file path select SQLite.
func ParseDSN(dsn string) (backend, target string, err error) {
	switch {
	case dsn == "":
		return "", "", fmt.Errorf("empty database DSN: %w", ErrUnknownScheme)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return BackendPostgres, dsn, nil
	case strings.HasPrefix(dsn, "sqlite://"):
		target = strings.TrimPrefix(dsn, "sqlite://")
	case strings.HasPrefix(dsn, "sqlite:"):
		target = strings.TrimPrefix(dsn, "sqlite:")
	case strings.Contains(dsn, "://"):
		scheme, _, _ := strings.Cut(dsn, "://")
		return "", "", fmt.Errorf("database DSN scheme %q: %w", scheme, ErrUnknownScheme)
	default:
		target = dsn
	}
	if target == "" {
		return "", "", fmt.Errorf("sqlite DSN %q has no path: %w", dsn, ErrUnknownScheme)
	}
	return BackendSQLite, target, nil
}

// Open connects to the database the DSN names, applies pending migrations
// and returns the Store. See ParseDSN for the accepted forms.
func Open(ctx context.Context, dsn string, opts Options) (Store, error) {
	if opts.EncryptBlobs && (opts.Keys == nil || opts.Keys.current == nil) {
		return nil, ErrNoBlobKey
	}
	backend, target, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	codec, err := newBlobCodec(opts.Keys, opts.EncryptBlobs)
	if err != nil {
		return nil, err
	}
	s := &sqlStore{codec: codec, gap: DefaultSessionGap}
	if opts.SessionGap > 0 {
		s.gap = opts.SessionGap
	}
	switch backend {
	case BackendPostgres:
		s.d = postgresDialect
		s.db, s.closeDB, err = postgres.Open(ctx, target)
		if err == nil {
			var closeQuota func() error
			if s.quotaDB, closeQuota, err = postgres.OpenAsyncCommit(ctx, target); err == nil {
				closeLog := s.closeDB
				s.closeDB = func() error { return errors.Join(closeQuota(), closeLog()) }
			} else {
				s.db.Close()
				s.closeDB()
			}
		}
	default:
		s.d = sqliteDialect
		s.db, s.closeDB, err = sqlite.Open(ctx, target)
		if err == nil {
			s.mem = attachLedger(target, s.db)
			s.raw = newRawInserts()
		}
	}
	if err != nil {
		codec.close()
		return nil, fmt.Errorf("open %s store: %w", backend, err)
	}
	return s, nil
}

// ReleaseMemory gives back what the database driver caches in this
// process, for a gateway gone quiet: SQLite's page caches, which live
// outside the Go heap (see [sqlite.ReleaseMemory]). PostgreSQL caches in
// its own server: nothing to do.
func (s *sqlStore) ReleaseMemory(ctx context.Context) error {
	if s.d.name != BackendSQLite {
		return nil
	}
	return sqlite.ReleaseMemory(ctx, s.db)
}
