package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ExportLog is what an exporter needs of the store: the request log in a
// stable export order, and a cursor per exporter that says how far that
// order has been stored at its destination.
//
// The order is a dense sequence number (1, 2, 3 ...) that NumberForExport
// gives rows in the order they became visible, so a row committed late (a
// long stream, rows replayed from the spool) is numbered after every row an
// exporter has already passed: reading by number never skips a row that
// arrives behind the cursor.
//
// An exporter stores one batch at a time: BeginExport records the batch's
// last number and the time it was cut before anything is sent, and
// CommitExport moves the cursor once the destination has it. After a crash
// between the two the cursor still names the same batch, which is sent
// again whole (under the same object key), so the destination holds every
// row once.
type ExportLog interface {
	NumberForExport(ctx context.Context, max int) (int, error)
	LastExportNumber(ctx context.Context) (int64, error)
	ExportRows(ctx context.Context, after, through int64) ([]ExportRow, error)
	ExportCursor(ctx context.Context, name string) (ExportCursor, error)
	BeginExport(ctx context.Context, name string, done, through int64, at time.Time) error
	CommitExport(ctx context.Context, name string, done, through int64) error
	LockExport(ctx context.Context, name string) (*ExportLock, error)
	ExportedNumbers(ctx context.Context, from, to time.Time) ([]ExportedRow, error)
	PurgeContent(ctx context.Context, before time.Time, kinds []string, exportedBy string) (int64, error)
}

var _ ExportLog = (*sqlStore)(nil)

// ExportRow is one request as an exporter reads it: the row, its export
// number and its raw bodies exactly as stored (compressed, and sealed when
// database.keep_encrypted_blobs is on: an exporter never opens them).
type ExportRow struct {
	Seq int64
	Record
	Blobs []StoredBlob
}

// StoredBlob is a raw body as the store keeps it. Codec names its
// compression ("zstd"); KeyID, when not empty, names the blob key it is
// sealed under (AES-256-GCM, the request ID and kind as associated data).
type StoredBlob struct {
	Kind  string // "request" or "response"
	Codec string
	KeyID string
	Size  int // the body's size before compression
	Data  []byte
}

// ExportCursor is where one exporter stands. Done is the last number its
// destination holds; when Pending is above Done, the batch (Done, Pending],
// cut at PendingAt, is being stored and must be stored again as it is.
type ExportCursor struct {
	Done      int64
	Pending   int64
	PendingAt time.Time
}

// ExportedRow is a row's number and ID, for checking an archive.
type ExportedRow struct {
	Seq  int64
	ID   string
	Time time.Time
}

// ErrCursorMoved reports a cursor that another exporter moved: the batch
// it was storing is no longer this exporter's to commit.
var ErrCursorMoved = errors.New("export cursor moved under this exporter (another replica exports too)")

// ErrExportLocked reports that another gateway holds the exporter's lock.
var ErrExportLocked = errors.New("another gateway is exporting")

// numberBatch bounds the rows one numbering transaction touches.
const numberBatch = 1000

// unnumberedIndex finds the rows NumberForExport has yet to number. A
// database that no exporter reads has no use for it, and it would hold
// every row (see migration 0014), so the first numbering creates it. On a
// large request log that takes one pass over the table, during which
// inserts wait (the writer spools what cannot wait).
const unnumberedIndex = "CREATE INDEX IF NOT EXISTS requests_export_unnumbered ON requests (time_us, id) WHERE export_seq IS NULL"

// ensureUnnumberedIndex creates unnumberedIndex once per store.
func (s *sqlStore) ensureUnnumberedIndex(ctx context.Context) error {
	if s.exportIndexed.Load() {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, unnumberedIndex); err != nil {
		return fmt.Errorf("create the index of rows to number for export: %w", err)
	}
	s.exportIndexed.Store(true)
	return nil
}

// NumberForExport gives export numbers to up to max rows that have none,
// oldest first, and returns how many it numbered. Numbering is one writer
// at a time on every backend: the counter row is locked first.
func (s *sqlStore) NumberForExport(ctx context.Context, max int) (int, error) {
	if max <= 0 || max > numberBatch {
		max = numberBatch
	}
	if err := s.ensureUnnumberedIndex(ctx); err != nil {
		return 0, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("number rows for export: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	var last int64
	// The UPDATE comes first: it takes SQLite's write lock or
	// PostgreSQL's row lock before anything is read.
	if err := tx.QueryRowContext(ctx, "UPDATE export_sequence SET last = last WHERE id = 1 RETURNING last").Scan(&last); err != nil {
		return 0, fmt.Errorf("number rows for export: %w", err)
	}
	rows, err := tx.QueryContext(ctx, s.d.rebind("SELECT id FROM requests WHERE export_seq IS NULL ORDER BY time_us, id LIMIT ?"), max)
	if err != nil {
		return 0, fmt.Errorf("number rows for export: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("number rows for export: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("number rows for export: %w", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	// One UPDATE from a VALUES list per purgeChunk rows: a round trip
	// per chunk rather than per row.
	for start := 0; start < len(ids); start += purgeChunk {
		chunk := ids[start:min(start+purgeChunk, len(ids))]
		args := make([]any, 0, 2*len(chunk))
		for _, id := range chunk {
			last++
			args = append(args, id, last)
		}
		q := "WITH v (id, seq) AS (VALUES " + strings.TrimSuffix(strings.Repeat("(?, CAST(? AS BIGINT)), ", len(chunk)), ", ") + ") " +
			"UPDATE requests SET export_seq = (SELECT v.seq FROM v WHERE v.id = requests.id) WHERE id IN (SELECT id FROM v)"
		if _, err := tx.ExecContext(ctx, s.d.rebind(q), args...); err != nil {
			return 0, fmt.Errorf("number rows for export: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, s.d.rebind("UPDATE export_sequence SET last = ? WHERE id = 1"), last); err != nil {
		return 0, fmt.Errorf("number rows for export: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("number rows for export: commit: %w", err)
	}
	return len(ids), nil
}

// LastExportNumber returns the last number given: every row numbered up
// to it is readable.
func (s *sqlStore) LastExportNumber(ctx context.Context) (int64, error) {
	var last int64
	if err := s.db.QueryRowContext(ctx, "SELECT last FROM export_sequence WHERE id = 1").Scan(&last); err != nil {
		return 0, fmt.Errorf("read export sequence: %w", err)
	}
	return last, nil
}

// ExportRows returns the rows numbered after `after` up to `through`, in
// number order, with their raw bodies as stored. Numbers whose rows were
// deleted (retention) are missing from the result.
func (s *sqlStore) ExportRows(ctx context.Context, after, through int64) ([]ExportRow, error) {
	rows, err := s.db.QueryContext(ctx, s.d.rebind("SELECT export_seq, "+requestColumnList+
		" FROM requests WHERE export_seq > ? AND export_seq <= ? ORDER BY export_seq"), after, through)
	if err != nil {
		return nil, fmt.Errorf("read rows to export: %w", err)
	}
	defer rows.Close()
	var out []ExportRow
	byID := map[string]int{}
	for rows.Next() {
		var seq int64
		r, err := scanRecord(prefixScanner{rows, &seq})
		if err != nil {
			return nil, fmt.Errorf("read rows to export: %w", err)
		}
		byID[r.ID] = len(out)
		out = append(out, ExportRow{Seq: seq, Record: r})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read rows to export: %w", err)
	}
	rows.Close()
	brows, err := s.db.QueryContext(ctx, s.d.rebind("SELECT b.request_id, b.kind, b.codec, b.key_id, b.size, b.data FROM request_blobs b "+
		"JOIN requests r ON r.id = b.request_id WHERE r.export_seq > ? AND r.export_seq <= ? ORDER BY r.export_seq, b.kind"), after, through)
	if err != nil {
		return nil, fmt.Errorf("read bodies to export: %w", err)
	}
	defer brows.Close()
	for brows.Next() {
		var id string
		var b StoredBlob
		if err := brows.Scan(&id, &b.Kind, &b.Codec, &b.KeyID, &b.Size, &b.Data); err != nil {
			return nil, fmt.Errorf("read bodies to export: %w", err)
		}
		if i, ok := byID[id]; ok {
			out[i].Blobs = append(out[i].Blobs, b)
		}
	}
	if err := brows.Err(); err != nil {
		return nil, fmt.Errorf("read bodies to export: %w", err)
	}
	return out, nil
}

// prefixScanner scans one leading column into seq, then the rest as a
// request row.
type prefixScanner struct {
	s   scanner
	seq *int64
}

func (p prefixScanner) Scan(dest ...any) error {
	return p.s.Scan(append([]any{p.seq}, dest...)...)
}

// ExportCursor returns the named exporter's cursor; an exporter that never
// stored anything stands at zero.
func (s *sqlStore) ExportCursor(ctx context.Context, name string) (ExportCursor, error) {
	var c ExportCursor
	var at int64
	err := s.db.QueryRowContext(ctx, s.d.rebind("SELECT done, pending, pending_us FROM export_cursors WHERE name = ?"), name).Scan(&c.Done, &c.Pending, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return ExportCursor{}, nil
	}
	if err != nil {
		return c, fmt.Errorf("read export cursor %q: %w", name, err)
	}
	if at != 0 {
		c.PendingAt = time.UnixMicro(at).UTC()
	}
	return c, nil
}

// BeginExport records that the batch (done, through], cut at `at`, is
// about to be stored. It fails with ErrCursorMoved unless the cursor
// stands at done with nothing pending.
func (s *sqlStore) BeginExport(ctx context.Context, name string, done, through int64, at time.Time) error {
	now := time.Now().UnixMicro()
	if done == 0 {
		// The first batch creates the row; a row that exists already
		// goes through the guarded UPDATE below.
		if _, err := s.db.ExecContext(ctx, s.d.rebind("INSERT INTO export_cursors (name, done, pending, pending_us, updated_us) VALUES (?, 0, 0, 0, ?) ON CONFLICT (name) DO NOTHING"), name, now); err != nil {
			return fmt.Errorf("begin export %q: %w", name, err)
		}
	}
	res, err := s.db.ExecContext(ctx, s.d.rebind("UPDATE export_cursors SET pending = ?, pending_us = ?, updated_us = ? WHERE name = ? AND done = ? AND pending <= done"),
		through, at.UnixMicro(), now, name, done)
	return cursorMoved(res, err, "begin export "+name)
}

// CommitExport moves the cursor to through once (done, through] is stored.
// It fails with ErrCursorMoved unless that batch is the one pending.
func (s *sqlStore) CommitExport(ctx context.Context, name string, done, through int64) error {
	res, err := s.db.ExecContext(ctx, s.d.rebind("UPDATE export_cursors SET done = ?, pending = 0, pending_us = 0, updated_us = ? WHERE name = ? AND done = ? AND pending = ?"),
		through, time.Now().UnixMicro(), name, done, through)
	return cursorMoved(res, err, "commit export "+name)
}

func cursorMoved(res sql.Result, err error, what string) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n != 1 {
		return fmt.Errorf("%s: %w", what, ErrCursorMoved)
	}
	return nil
}

// ExportLock is an exporter's lock, held by one gateway at a time.
type ExportLock struct {
	conn *sql.Conn // nil on SQLite
	name string
}

// Check reports whether the lock is still held: on PostgreSQL the lock
// lives as long as its database session, which a database restart or a
// network cut ends.
func (l *ExportLock) Check(ctx context.Context) error {
	if l.conn == nil {
		return nil
	}
	var held bool
	err := l.conn.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid())").Scan(&held)
	if err == nil && !held {
		err = ErrExportLocked
	}
	return err
}

// Release gives the lock up and returns its connection.
func (l *ExportLock) Release() {
	if l.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = l.conn.ExecContext(ctx, "SELECT pg_advisory_unlock("+exportLockKey+")", l.name)
	l.conn.Close()
}

// LockExport makes this process the named exporter's only runner. On
// PostgreSQL it takes a session advisory lock on a connection of its own,
// so when the process dies the database frees the lock and another replica
// takes over; it returns ErrExportLocked when another session holds it. A
// SQLite file has one gateway, so there the lock always succeeds.
func (s *sqlStore) LockExport(ctx context.Context, name string) (*ExportLock, error) {
	if s.d.name != BackendPostgres {
		return &ExportLock{name: name}, nil
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("export lock %q: %w", name, err)
	}
	var ok bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock("+exportLockKey+")", name).Scan(&ok); err != nil {
		conn.Close()
		return nil, fmt.Errorf("export lock %q: %w", name, err)
	}
	if !ok {
		conn.Close()
		return nil, ErrExportLocked
	}
	return &ExportLock{conn: conn, name: name}, nil
}

// exportLockKey is the advisory lock key of an exporter ($1 its name): a
// hash of the name and the schema, under a prefix of its own, so gateways
// of two deployments sharing a database in separate schemas do not wait
// for each other, and no other user of advisory locks meets it by chance.
const exportLockKey = "hashtextextended('sluice export ' || current_schema() || ' ' || $1, 0)"

// ExportedNumbers returns the numbered rows recorded in [from, to), by
// number.
func (s *sqlStore) ExportedNumbers(ctx context.Context, from, to time.Time) ([]ExportedRow, error) {
	rows, err := s.db.QueryContext(ctx, s.d.rebind("SELECT export_seq, id, time_us FROM requests WHERE export_seq IS NOT NULL AND time_us >= ? AND time_us < ? ORDER BY export_seq"),
		from.UnixMicro(), to.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("read exported rows: %w", err)
	}
	defer rows.Close()
	var out []ExportedRow
	for rows.Next() {
		var r ExportedRow
		var us int64
		if err := rows.Scan(&r.Seq, &r.ID, &us); err != nil {
			return nil, fmt.Errorf("read exported rows: %w", err)
		}
		r.Time = time.UnixMicro(us).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// PurgeContent deletes the raw bodies of the given kinds ("request",
// "response"; all when empty) of requests recorded before `before`, and
// clears those rows' has_raws; the rows themselves, with their metadata
// and usage, stay, and so do the usage rollups. With exportedBy set, only
// bodies of rows that exporter has stored are deleted. It returns how many
// bodies it deleted.
func (s *sqlStore) PurgeContent(ctx context.Context, before time.Time, kinds []string, exportedBy string) (int64, error) {
	var w where
	w.add("b.time_us < ?", before.UnixMicro())
	if len(kinds) > 0 {
		w.add("b.kind IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(kinds)), ", ") + ")")
		for _, k := range kinds {
			w.args = append(w.args, k)
		}
	}
	from := "request_blobs b"
	if exportedBy != "" {
		c, err := s.ExportCursor(ctx, exportedBy)
		if err != nil {
			return 0, err
		}
		from += " JOIN requests r ON r.id = b.request_id"
		w.add("r.export_seq IS NOT NULL AND r.export_seq <= ?", c.Done)
	}
	var total int64
	for range maxDeleteBatches {
		n, err := s.purgeBatch(ctx, from, w)
		if err != nil {
			return total, err
		}
		total += n
		if n == 0 {
			break
		}
	}
	return total, nil
}

// purgeChunk is how many bodies one purge statement names.
const purgeChunk = 500

func (s *sqlStore) purgeBatch(ctx context.Context, from string, w where) (int64, error) {
	rows, err := s.db.QueryContext(ctx, s.d.rebind("SELECT b.request_id, b.kind FROM "+from+" WHERE "+w.String()+" LIMIT "+fmt.Sprint(deleteBatch)), w.args...)
	if err != nil {
		return 0, fmt.Errorf("purge content: %w", err)
	}
	type key struct{ id, kind string }
	var keys []key
	for rows.Next() {
		var k key
		if err := rows.Scan(&k.id, &k.kind); err != nil {
			rows.Close()
			return 0, fmt.Errorf("purge content: %w", err)
		}
		keys = append(keys, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(keys) == 0 {
		return 0, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("purge content: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	// Set-based statements of purgeChunk keys each: one round trip per
	// chunk rather than per body, which matters on PostgreSQL.
	seen := map[string]bool{}
	var ids []string
	for start := 0; start < len(keys); start += purgeChunk {
		chunk := keys[start:min(start+purgeChunk, len(keys))]
		args := make([]any, 0, 2*len(chunk))
		for _, k := range chunk {
			args = append(args, k.id, k.kind)
			if !seen[k.id] {
				seen[k.id] = true
				ids = append(ids, k.id)
			}
		}
		q := "DELETE FROM request_blobs WHERE (request_id, kind) IN (" + strings.TrimSuffix(strings.Repeat("(?, ?), ", len(chunk)), ", ") + ")"
		if _, err := tx.ExecContext(ctx, s.d.rebind(q), args...); err != nil {
			return 0, fmt.Errorf("purge content: %w", err)
		}
	}
	for start := 0; start < len(ids); start += purgeChunk {
		chunk := ids[start:min(start+purgeChunk, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		q := "UPDATE requests SET has_raws = (EXISTS (SELECT 1 FROM request_blobs b WHERE b.request_id = requests.id)) WHERE id IN (" +
			strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ") + ")"
		if _, err := tx.ExecContext(ctx, s.d.rebind(q), args...); err != nil {
			return 0, fmt.Errorf("purge content: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("purge content: commit: %w", err)
	}
	return int64(len(keys)), nil
}
