// Package postgres connects sluice to a PostgreSQL database, the backend
// several replicas share: a pgx connection pool behind database/sql, with
// the embedded migrations applied at start under an advisory lock so
// replicas starting together migrate once.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/sluice-gateway/sluice/store/migrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the schema migrations of the PostgreSQL backend.
func Migrations() ([]migrate.Migration, error) {
	return migrate.Load(migrationFiles, "migrations")
}

// migrationLock serialises replicas migrating the same schema: a
// transaction-scoped advisory lock keyed by a constant and the schema name,
// released when the migration transaction ends.
const migrationLock = `SELECT pg_advisory_xact_lock(1936484707, hashtext(current_schema()))`

// Open connects with the DSN (a postgres:// URL; pool settings such as
// pool_max_conns and run-time parameters such as search_path go in its
// query), applies pending migrations and returns the handle with a function
// that closes the pool. Errors never repeat the DSN, which may hold a
// password.
func Open(ctx context.Context, dsn string) (*sql.DB, func() error, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres DSN: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres pool: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	closeAll := func() error { pool.Close(); return nil }
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		pool.Close()
		return nil, nil, fmt.Errorf("postgres %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	ms, err := Migrations()
	if err != nil {
		db.Close()
		pool.Close()
		return nil, nil, err
	}
	if _, err := migrate.Apply(ctx, db, ms, migrate.Options{Lock: migrationLock}); err != nil {
		db.Close()
		pool.Close()
		return nil, nil, fmt.Errorf("postgres: %w", err)
	}
	return db, closeAll, nil
}

// OpenAsyncCommit connects a second pool with the DSN whose transactions
// commit without waiting for the write-ahead log to reach disk
// (synchronous_commit off). Quota balances use it: a reservation holds its
// bucket's row until it commits, so waiting for a disk flush per request
// would cost every request, and every other request on the same bucket,
// milliseconds. Isolation and atomicity are unchanged (replicas still
// serialize on the row); only a crash of the PostgreSQL server may lose
// its last fraction of a second of commits (at most three times
// wal_writer_delay). It applies no migrations: call Open first.
func OpenAsyncCommit(ctx context.Context, dsn string) (*sql.DB, func() error, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres DSN: %w", err)
	}
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres pool: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	return db, func() error { err := db.Close(); pool.Close(); return err }, nil
}

// WithConn runs f with the pgx connection under one of db's connections,
// for what database/sql cannot say (COPY). f must leave the connection as
// it found it: no transaction open. The connection goes back to db's pool
// afterwards; one that failed mid-protocol is closed by pgx and dropped
// from the pool.
func WithConn(ctx context.Context, db *sql.DB, f func(*pgx.Conn) error) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("postgres: connection is a %T, not a pgx connection", dc)
		}
		return f(sc.Conn())
	})
}
