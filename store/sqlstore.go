package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/sluice-gateway/sluice/usage"
)

// sqlStore is the Store over either backend's database/sql handle.
type sqlStore struct {
	db      *sql.DB
	closeDB func() error
	d       dialect
	codec   *blobCodec
	gap     time.Duration
	// stmts caches the prepared INSERT statements of full chunks, by
	// query text: preparing them is a large part of a batch's cost.
	stmts sync.Map // string -> *sql.Stmt
	// quotaDB, on PostgreSQL, is the pool quota statements run on (see
	// postgres.OpenAsyncCommit).
	quotaDB *sql.DB
	// mem keeps the quota balances of a SQLite database in the process
	// (see quotamem.go); nil on PostgreSQL.
	mem *memQuotas
	// raw, on SQLite, is the connection batch inserts run on (see
	// rawInserts); nil on PostgreSQL.
	raw *rawInserts
	// exportIndexed is set once the index NumberForExport reads exists.
	exportIndexed atomic.Bool
}

// inserter runs the INSERTs of one transaction. Full-size chunks (the
// common case) go through prepared statements cached on the store and
// bound to the transaction once: preparing them is a large part of a
// batch's cost.
//
// Between statements it gives way to other goroutines (see giveWay), so a
// large batch does not hold a processor for milliseconds.
type inserter struct {
	s     *sqlStore
	tx    *sql.Tx
	txs   map[string]*sql.Stmt
	slice yieldAfter
	// raw, when set, runs the full chunks instead of txs: tx is open on
	// its connection.
	raw *rawInserts
}

// execValues runs q, a statement prepared once, with vals, on the raw
// connection when it is set, and returns how many rows it changed.
func (in *inserter) execValues(ctx context.Context, q string, vals []colValue) (int64, error) {
	if in.raw == nil {
		args := make([]any, len(vals))
		for i := range vals {
			args[i] = vals[i].arg()
		}
		return in.exec(ctx, q, true, args)
	}
	in.slice.check()
	// As exec: an ended context is seen between statements.
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return in.raw.execValues(context.WithoutCancel(ctx), q, vals)
}

// exec runs q and returns how many rows it changed.
func (in *inserter) exec(ctx context.Context, q string, full bool, args []any) (int64, error) {
	in.slice.check()
	if in.s.d.name == BackendSQLite {
		// The SQLite driver starts a goroutine per statement to watch a
		// context that can end: with small statements, a cross-thread
		// wake-up per 16 rows. An ended context is seen here, between
		// statements, and by the transaction, which rolls back; a
		// statement itself waits at most the busy timeout.
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		ctx = context.WithoutCancel(ctx)
	}
	q = in.s.d.rebind(q)
	if full && in.raw != nil {
		return in.raw.exec(ctx, q, args)
	}
	var res sql.Result
	var err error
	if !full {
		res, err = in.tx.ExecContext(ctx, q, args...)
	} else {
		st := in.txs[q]
		if st == nil {
			cached, ok := in.s.stmts.Load(q)
			if !ok {
				prepared, err := in.s.db.PrepareContext(ctx, q)
				if err != nil {
					return 0, err
				}
				if cached, ok = in.s.stmts.LoadOrStore(q, prepared); ok {
					prepared.Close()
				}
			}
			st = in.tx.StmtContext(ctx, cached.(*sql.Stmt))
			in.txs[q] = st
		}
		res, err = st.ExecContext(ctx, args...)
	}
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

var _ Store = (*sqlStore)(nil)

// requestColumns are the columns of the requests table, in the order
// recordArgs and scanRecord use.
var requestColumns = []string{
	"id", "time_us", "login", "node_id", "node_name", "tailnet",
	"provider", "model", "format", "method", "path", "stream",
	"status", "error", "latency_us", "ttfb_us",
	"input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens",
	"cost_usd", "cost_known", "tool_calls", "request_bytes", "response_bytes",
	"user_agent", "revision", "session_id", "instance", "has_raws",
	"truncated", "error_kind", "grants", "decision", "requested_model", "attempts",
}

var requestColumnList = strings.Join(requestColumns, ", ")

var blobColumns = []string{"request_id", "kind", "time_us", "codec", "key_id", "size", "data"}

var blobColumnList = strings.Join(blobColumns, ", ")

// Length limits for free-text columns, so one odd request cannot bloat the
// log.
const (
	maxShortText = 512
	maxLongText  = 8 << 10
)

// cleanText makes s storable in any backend: valid UTF-8 (PostgreSQL
// refuses anything else), no NUL bytes, at most limit bytes.
//
// Nearly all of a record's text is short ASCII without NUL bytes, which
// it returns as it is after one pass over its bytes (plainText); other
// text takes cleanTextAny. FuzzCleanText compares the two.
func cleanText(s string, limit int) string {
	if len(s) <= limit && plainText(s) {
		return s
	}
	return cleanTextAny(s, limit)
}

// plainText reports whether s is ASCII without NUL bytes, which is valid
// UTF-8 that cleanText leaves as it is. It reads eight bytes at a time.
func plainText(s string) bool {
	const (
		high = 0x8080808080808080
		ones = 0x0101010101010101
	)
	for len(s) >= 8 {
		x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		// A byte of 0x80 or above, or (x-ones)&^x&high: a zero byte.
		if x&high != 0 || (x-ones)&^x&high != 0 {
			return false
		}
		s = s[8:]
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == 0 || c >= 0x80 {
			return false
		}
	}
	return true
}

// cleanTextAny is cleanText for any text.
func cleanTextAny(s string, limit int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	if len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}

// appendRecordArgs appends r's values for requestColumns to args. Values
// are of the types drivers take as they are (int64, float64, bool,
// string, nil), which database/sql would otherwise convert one by one by
// reflection.
func appendRecordArgs(args []any, r *Record, hasRaws bool) []any {
	var row [37]colValue
	for _, v := range appendRecordValues(row[:0], r, hasRaws) {
		args = append(args, v.arg())
	}
	return args
}

// colKind is the type of a colValue.
type colKind uint8

const (
	colNull colKind = iota
	colInt
	colBool
	colFloat
	colText
)

// colValue is one column's value, unboxed: appendRecordValues writes a
// row's without an allocation per value, and SQLite's batch inserts bind
// them as they are (cStatements.execValues).
type colValue struct {
	kind colKind
	// n holds an int, a bool (0 or 1) and a float's bits.
	n int64
	s string
}

func intValue(n int64) colValue { return colValue{kind: colInt, n: n} }

func textValue(s string) colValue { return colValue{kind: colText, s: s} }

func boolValue(b bool) colValue {
	v := colValue{kind: colBool}
	if b {
		v.n = 1
	}
	return v
}

// arg is v as a driver value.
func (v colValue) arg() any {
	switch v.kind {
	case colInt:
		return v.n
	case colBool:
		return v.n != 0
	case colFloat:
		return math.Float64frombits(uint64(v.n))
	case colText:
		return v.s
	}
	return nil
}

// appendRecordValues appends r's values for requestColumns to vals.
func appendRecordValues(vals []colValue, r *Record, hasRaws bool) []colValue {
	short := func(s string) colValue { return textValue(cleanText(s, maxShortText)) }
	return append(vals,
		short(r.ID), intValue(r.Time.UnixMicro()), short(r.Login), short(r.NodeID), short(r.NodeName), short(r.Tailnet),
		short(r.Provider), short(r.Model), short(r.Format), short(r.Method), textValue(cleanText(r.Path, maxLongText)), boolValue(r.Stream),
		intValue(int64(r.Status)), textValue(cleanText(r.Error, maxLongText)), intValue(r.Latency.Microseconds()), intValue(r.TTFB.Microseconds()),
		countValue(r.Usage.Input), countValue(r.Usage.Output), countValue(r.Usage.CacheRead), countValue(r.Usage.CacheWrite), countValue(r.Usage.Reasoning),
		costValue(r), boolValue(r.CostKnown), intValue(int64(r.ToolCalls)), intValue(r.RequestBytes), intValue(r.ResponseBytes),
		short(r.UserAgent), short(r.Revision), short(r.SessionID), short(r.Instance), boolValue(hasRaws),
		boolValue(r.Truncated), short(r.ErrorKind), textValue(encodeGrants(r.Grants)), textValue(encodeDecision(r.Decision)), short(r.RequestedModel), textValue(encodeAttempts(r.Attempts)),
	)
}

// countValue is a token count for its nullable column.
func countValue(c usage.Count) colValue {
	if !c.Reported() {
		return colValue{}
	}
	return intValue(c.Value())
}

// costValue is r's cost for the cost_usd column (see costArg).
func costValue(r *Record) colValue {
	if !r.CostKnown && !r.UsageComplete() {
		return colValue{}
	}
	return colValue{kind: colFloat, n: int64(math.Float64bits(r.CostUSD))}
}

// costArg is r's cost for the cost_usd column: NULL when the usage it
// would be computed from was not reported, so no sum counts it as 0.
func costArg(r *Record) any {
	if !r.CostKnown && !r.UsageComplete() {
		return nil
	}
	return r.CostUSD
}

// count reads a nullable token column.
func count(n sql.Null[int64]) usage.Count {
	if !n.Valid {
		return usage.Count{}
	}
	return usage.Of(n.V)
}

type scanner interface{ Scan(dest ...any) error }

func scanRecord(s scanner) (Record, error) {
	var r Record
	var timeUS, latencyUS, ttfbUS int64
	var in, out, cr, cw, reasoning sql.Null[int64]
	var cost sql.Null[float64]
	var grants, decision, attempts string
	err := s.Scan(
		&r.ID, &timeUS, &r.Login, &r.NodeID, &r.NodeName, &r.Tailnet,
		&r.Provider, &r.Model, &r.Format, &r.Method, &r.Path, &r.Stream,
		&r.Status, &r.Error, &latencyUS, &ttfbUS,
		&in, &out, &cr, &cw, &reasoning,
		&cost, &r.CostKnown, &r.ToolCalls, &r.RequestBytes, &r.ResponseBytes,
		&r.UserAgent, &r.Revision, &r.SessionID, &r.Instance, &r.HasRaws,
		&r.Truncated, &r.ErrorKind, &grants, &decision, &r.RequestedModel, &attempts,
	)
	if err != nil {
		return r, err
	}
	r.Time = time.UnixMicro(timeUS).UTC()
	r.Usage = usage.Tokens{Input: count(in), Output: count(out), CacheRead: count(cr), CacheWrite: count(cw), Reasoning: count(reasoning)}
	r.CostUSD = cost.V
	r.Latency = time.Duration(latencyUS) * time.Microsecond
	r.TTFB = time.Duration(ttfbUS) * time.Microsecond
	r.Grants, err = decodeGrants(grants)
	if err != nil {
		return r, fmt.Errorf("request %q: %w", r.ID, err)
	}
	r.Decision, err = decodeDecision(decision)
	if err != nil {
		return r, fmt.Errorf("request %q: %w", r.ID, err)
	}
	r.Attempts, err = decodeAttempts(attempts)
	if err != nil {
		return r, fmt.Errorf("request %q: %w", r.ID, err)
	}
	return r, nil
}

// placeholders returns "(?, ?, ...), (...)" for rows rows of n columns.
func placeholders(rows, n int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(one+", ", rows), ", ")
}

type pendingBlob struct {
	id   string
	time int64
	blob
}

func (s *sqlStore) Insert(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	// Seal bodies before taking a transaction: compression and encryption
	// are the slow part and need no lock.
	// The records are only read, unless one lacks its ID or time: a copy
	// then gets them, so the caller's records stay as they were.
	rows := recs
	for i := range recs {
		if recs[i].ID == "" || recs[i].Time.IsZero() {
			rows = slices.Clone(recs)
			break
		}
	}
	var blobs []pendingBlob
	for i := range rows {
		r := &rows[i]
		if r.ID == "" {
			r.ID = NewID(r.Time)
		}
		if r.Time.IsZero() {
			r.Time = time.Now()
		}
		for _, body := range []struct {
			kind string
			data []byte
		}{{blobRequest, r.RawRequest}, {blobResponse, r.RawResponse}} {
			if body.data == nil {
				continue
			}
			b, err := s.codec.seal(cleanText(r.ID, maxShortText), body.kind, body.data)
			if err != nil {
				return fmt.Errorf("request %s %s body: %w", r.ID, body.kind, err)
			}
			blobs = append(blobs, pendingBlob{id: cleanText(r.ID, maxShortText), time: r.Time.UnixMicro(), blob: b})
		}
	}

	per := s.d.rowsPerInsert
	if s.d.name == BackendPostgres && len(rows) > per {
		return s.insertCopy(ctx, rows, blobs)
	}
	var conn beginner = s.db
	var raw *rawInserts
	if s.raw != nil {
		c, err := s.raw.acquire(ctx, s.db)
		if err != nil {
			return fmt.Errorf("insert requests: %w", err)
		}
		conn, raw = c, s.raw
	}
	err := s.insertTx(ctx, conn, raw, rows, blobs, false)
	if errors.Is(err, errRowsSkipped) {
		// Some rows were stored already, or came twice: only the new
		// ones may be added to the rollups.
		err = s.insertTx(ctx, conn, raw, rows, blobs, true)
	}
	if raw != nil {
		raw.release(err)
	}
	return err
}

// beginner starts transactions: a *sql.DB, or a *sql.Conn of it.
type beginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

// errRowsSkipped reports, on SQLite, a batch some of whose rows were not
// inserted (see insertTx).
var errRowsSkipped = errors.New("rows already stored")

// insertTx inserts a batch in one transaction with multi-row statements.
//
// On SQLite it also adds the batch to the usage rollups (see
// addRollups), which must count only the rows really inserted: when a
// statement skips a row (its ID is stored already, or came earlier in the
// batch) the transaction is rolled back with errRowsSkipped, and the
// caller tries again with onlyNew, which leaves those rows out before
// inserting. Write transactions hold SQLite's one write lock from their
// start, so what onlyNew finds stored stays so until the commit.
//
// conn is where the transaction runs: raw's connection when raw is set.
func (s *sqlStore) insertTx(ctx context.Context, conn beginner, raw *rawInserts, rows []Record, blobs []pendingBlob, onlyNew bool) error {
	per := s.d.rowsPerStatement()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("insert requests: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	if onlyNew {
		if rows, err = newRows(ctx, tx, s.d, rows); err != nil {
			return fmt.Errorf("insert requests: %w", err)
		}
	}
	in := &inserter{s: s, tx: tx, txs: make(map[string]*sql.Stmt, 2), raw: raw}
	var inserted int64
	// One argument slice serves every statement: the driver has copied
	// the values once a statement has run. Full chunks on the raw
	// connection take unboxed values instead.
	var args []any
	var vals []colValue
	for start := 0; start < len(rows); {
		size, prepared := s.d.chunkRows(len(rows)-start, per)
		chunk := rows[start : start+size]
		start += size
		q := s.d.insertInto + "requests (" + requestColumnList + ") VALUES " +
			placeholders(len(chunk), len(requestColumns)) + " ON CONFLICT (id) DO NOTHING"
		var n int64
		var err error
		if raw != nil && prepared {
			vals = vals[:0]
			for i := range chunk {
				r := &chunk[i]
				vals = appendRecordValues(vals, r, r.RawRequest != nil || r.RawResponse != nil)
			}
			n, err = in.execValues(ctx, q, vals)
		} else {
			args = args[:0]
			for i := range chunk {
				r := &chunk[i]
				args = appendRecordArgs(args, r, r.RawRequest != nil || r.RawResponse != nil)
			}
			n, err = in.exec(ctx, q, prepared, args)
		}
		if err != nil {
			return fmt.Errorf("insert requests: %w", err)
		}
		inserted += n
	}
	if s.d.name == BackendSQLite {
		if inserted != int64(len(rows)) {
			if onlyNew {
				return fmt.Errorf("insert requests: %d of %d new rows inserted", inserted, len(rows))
			}
			return errRowsSkipped
		}
		if err := addRollups(ctx, in, rows); err != nil {
			return fmt.Errorf("insert requests: usage rollups: %w", err)
		}
	}
	for start := 0; start < len(blobs); {
		size, prepared := s.d.chunkRows(len(blobs)-start, per)
		chunk := blobs[start : start+size]
		start += size
		args := make([]any, 0, len(chunk)*len(blobColumns))
		for _, b := range chunk {
			args = append(args, b.id, b.kind, b.time, b.codec, b.keyID, b.size, b.data)
		}
		q := s.d.insertInto + "request_blobs (" + blobColumnList + ") VALUES " +
			placeholders(len(chunk), len(blobColumns)) + " ON CONFLICT (request_id, kind) DO NOTHING"
		if _, err := in.exec(ctx, q, prepared, args); err != nil {
			return fmt.Errorf("insert request bodies: %w", err)
		}
	}
	in.slice.check()
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("insert requests: commit: %w", err)
	}
	return nil
}

func (s *sqlStore) Request(ctx context.Context, id string, q Lookup) (Record, error) {
	var w where
	w.add("id = ?", id)
	if q.Login != "" {
		w.add("login = ?", q.Login)
	}
	row := s.db.QueryRowContext(ctx, s.d.rebind("SELECT "+requestColumnList+" FROM requests WHERE "+w.String()), w.args...)
	r, err := scanRecord(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, fmt.Errorf("request %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Record{}, fmt.Errorf("request %q: %w", id, err)
	}
	if !q.Raws || !r.HasRaws {
		return r, nil
	}
	rows, err := s.db.QueryContext(ctx, s.d.rebind("SELECT kind, codec, key_id, size, data FROM request_blobs WHERE request_id = ?"), r.ID)
	if err != nil {
		return Record{}, fmt.Errorf("request %q bodies: %w", id, err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var b blob
		if err := rows.Scan(&b.kind, &b.codec, &b.keyID, &b.size, &b.data); err != nil {
			return Record{}, fmt.Errorf("request %q bodies: %w", id, err)
		}
		body, err := s.codec.open(r.ID, b)
		if err != nil {
			problems = append(problems, b.kind+" body: "+err.Error())
			continue
		}
		switch b.kind {
		case blobRequest:
			r.RawRequest = body
		case blobResponse:
			r.RawResponse = body
		}
	}
	if err := rows.Err(); err != nil {
		return Record{}, fmt.Errorf("request %q bodies: %w", id, err)
	}
	r.RawError = strings.Join(problems, "; ")
	return r, nil
}

// deleteBatch bounds one DELETE, so retention never holds a long lock; the
// loop's bound allows 10,000 batches (50 million rows) per call.
const (
	deleteBatch      = 5000
	maxDeleteBatches = 10_000
)

func (s *sqlStore) DeleteOlderThan(ctx context.Context, t time.Time) (int64, error) {
	cutoff := t.UnixMicro()
	var total int64
	for _, q := range []struct{ name, sql string }{
		{"requests", "DELETE FROM requests WHERE id IN (SELECT id FROM requests WHERE time_us < ? LIMIT " + fmt.Sprint(deleteBatch) + ")"},
		{"request bodies", "DELETE FROM request_blobs WHERE request_id IN (SELECT request_id FROM request_blobs WHERE time_us < ? LIMIT " + fmt.Sprint(deleteBatch) + ")"},
		{"tool calls", "DELETE FROM tool_calls WHERE id IN (SELECT id FROM tool_calls WHERE time_us < ? LIMIT " + fmt.Sprint(deleteBatch) + ")"},
	} {
		for range maxDeleteBatches {
			res, err := s.deleteBatch(ctx, s.d.rebind(q.sql), cutoff)
			if err != nil {
				return total, fmt.Errorf("delete old %s: %w", q.name, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return total, fmt.Errorf("delete old %s: %w", q.name, err)
			}
			if q.name == "requests" {
				total += n
			}
			if n == 0 {
				break
			}
		}
	}
	return total, nil
}

// retentionLock serialises retention across the replicas of one
// PostgreSQL schema: two replicas deleting the same old rows at once would
// update the same rollup rows in different orders and deadlock.
const retentionLock = `SELECT pg_advisory_xact_lock(1936484709, hashtext(current_schema()))`

// deleteBatch runs one retention DELETE; on PostgreSQL in a transaction
// holding retentionLock.
func (s *sqlStore) deleteBatch(ctx context.Context, q string, cutoff int64) (sql.Result, error) {
	if s.d.name != BackendPostgres {
		return s.db.ExecContext(ctx, q, cutoff)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	if _, err := tx.ExecContext(ctx, retentionLock); err != nil {
		return nil, err
	}
	res, err := tx.ExecContext(ctx, q, cutoff)
	if err != nil {
		return nil, err
	}
	return res, tx.Commit()
}

func (s *sqlStore) Close() error {
	var err error
	if s.raw != nil {
		err = s.raw.close()
	}
	if s.mem != nil {
		err = errors.Join(err, s.mem.detach(s.db))
	}
	s.stmts.Range(func(_, st any) bool {
		st.(*sql.Stmt).Close()
		return true
	})
	err = errors.Join(err, s.db.Close())
	if s.closeDB != nil {
		err = errors.Join(err, s.closeDB())
	}
	s.codec.close()
	return err
}
