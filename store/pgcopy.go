package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluice-gateway/sluice/store/postgres"
)

// copyStaging creates, once per PostgreSQL connection, the temporary
// tables a batch is copied into when some of its rows may be stored
// already (see insertCopy). They have no key, so a batch holding one ID
// twice copies whole; their rows go at commit.
var copyStaging = []string{
	`CREATE TEMP TABLE IF NOT EXISTS requests_copy (LIKE requests INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`,
	`CREATE TEMP TABLE IF NOT EXISTS request_blobs_copy (LIKE request_blobs INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`,
}

// copyStagingKey marks, in a connection's custom data, that copyStaging
// ran on it.
const copyStagingKey = "sluice.store.copy_staging"

// uniqueViolation is PostgreSQL's SQLSTATE for a duplicate key.
const uniqueViolation = "23505"

// insertCopy stores a large batch on PostgreSQL with COPY: one stream per
// table, no statement to parse per chunk. COPY is one statement, so the
// rollup triggers see the whole batch at once and lock their rows in key
// order, and replicas writing together do not deadlock.
//
// COPY has no ON CONFLICT: a batch holding a row already stored (a retry
// whose first insert did commit, a spool replay after a crash) or one ID
// twice fails on the primary key. That batch is then copied into a
// temporary table and moved into the log by one INSERT … SELECT … ON
// CONFLICT DO NOTHING, which skips the stored rows, so no row (nor its
// usage) is ever counted twice.
func (s *sqlStore) insertCopy(ctx context.Context, rows []Record, blobs []pendingBlob) error {
	return postgres.WithConn(ctx, s.db, func(c *pgx.Conn) error {
		err := pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			if err := copyRequests(ctx, tx, "requests", rows); err != nil {
				return err
			}
			return copyBlobs(ctx, tx, "request_blobs", blobs)
		})
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != uniqueViolation {
			return err
		}
		if data := c.PgConn().CustomData(); data[copyStagingKey] == nil {
			for _, q := range copyStaging {
				if _, err := c.Exec(ctx, q); err != nil {
					return fmt.Errorf("insert requests: staging table: %w", err)
				}
			}
			data[copyStagingKey] = true
		}
		return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			if err := copyRequests(ctx, tx, "requests_copy", rows); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "INSERT INTO requests ("+requestColumnList+") SELECT "+requestColumnList+
				" FROM requests_copy ORDER BY id ON CONFLICT (id) DO NOTHING"); err != nil {
				return fmt.Errorf("insert requests: %w", err)
			}
			if len(blobs) == 0 {
				return nil
			}
			if err := copyBlobs(ctx, tx, "request_blobs_copy", blobs); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "INSERT INTO request_blobs ("+blobColumnList+") SELECT "+blobColumnList+
				" FROM request_blobs_copy ORDER BY request_id, kind ON CONFLICT (request_id, kind) DO NOTHING"); err != nil {
				return fmt.Errorf("insert request bodies: %w", err)
			}
			return nil
		})
	})
}

func copyRequests(ctx context.Context, tx pgx.Tx, table string, rows []Record) error {
	// pgx encodes a row's values before it asks for the next row's, so
	// one slice serves every row.
	vals := make([]any, 0, len(requestColumns))
	_, err := tx.CopyFrom(ctx, pgx.Identifier{table}, requestColumns,
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			r := &rows[i]
			vals = appendRecordArgs(vals[:0], r, r.RawRequest != nil || r.RawResponse != nil)
			return vals, nil
		}))
	if err != nil {
		return fmt.Errorf("insert requests: copy: %w", err)
	}
	return nil
}

func copyBlobs(ctx context.Context, tx pgx.Tx, table string, blobs []pendingBlob) error {
	if len(blobs) == 0 {
		return nil
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{table}, blobColumns,
		pgx.CopyFromSlice(len(blobs), func(i int) ([]any, error) {
			b := &blobs[i]
			return []any{b.id, b.kind, b.time, b.codec, b.keyID, b.size, b.data}, nil
		}))
	if err != nil {
		return fmt.Errorf("insert request bodies: copy: %w", err)
	}
	return nil
}
