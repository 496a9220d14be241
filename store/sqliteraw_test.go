package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/usage"
)

// openSQLiteStore opens a SQLite store in a temporary directory.
func openSQLiteStore(t testing.TB) *sqlStore {
	t.Helper()
	st, err := Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "log.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st.(*sqlStore)
}

// FuzzRawInsert: a record inserted in a full chunk, bound on the
// connection's C handle (rawInserts, cStatements), reads back as the same
// record inserted alone in a transaction of database/sql's, bound by the
// driver.
func FuzzRawInsert(f *testing.F) {
	f.Add("alice@example.com", "gpt-5", "/v1/chat/completions", "", int64(1_700_000_000_000), 200, int64(120), false, 0.0012)
	f.Add("b\x00ob", "m\xff", "", "upstream failed", int64(0), 502, int64(-1), true, -1.5)
	f.Add("", "", "", "", int64(-5), 0, int64(1<<40), true, 0.0)
	st := openSQLiteStore(f)
	n := 0
	f.Fuzz(func(t *testing.T, login, model, path, errText string, ms int64, status int, tokens int64, stream bool, cost float64) {
		at := time.UnixMilli(ms % (1 << 44))
		r := Record{
			Time: at, Login: login, Model: model, Path: path, Error: errText, Status: status, Stream: stream,
			Usage: usage.Tokens{Input: usage.Of(tokens)}, CostUSD: cost, CostKnown: tokens%2 == 0,
			UserAgent: login + model, Grants: []string{path}, RequestBytes: tokens, ToolCalls: status,
		}
		if tokens%3 == 0 {
			r.Usage = usage.Tokens{}
		}
		per := st.d.rowsPerStatement()
		full := make([]Record, per)
		for i := range full {
			full[i] = r
			full[i].ID = fmt.Sprintf("raw-%d-%d", n, i)
		}
		alone := r
		alone.ID = fmt.Sprintf("alone-%d", n)
		n++
		ctx := context.Background()
		if err := st.Insert(ctx, full); err != nil {
			t.Fatalf("full chunk: %v", err)
		}
		if st.raw.c == nil || len(st.raw.c.stmts) == 0 {
			t.Fatal("the full chunk was not bound on the connection's C handle")
		}
		if err := st.insertTx(ctx, st.db, nil, []Record{alone}, nil, false); err != nil {
			t.Fatalf("one row: %v", err)
		}
		want, err := st.Request(ctx, alone.ID, Lookup{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range full {
			got, err := st.Request(ctx, full[i].ID, Lookup{})
			if err != nil {
				t.Fatal(err)
			}
			got.ID = want.ID
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("row %d bound on the C handle:\n%+v\nthrough database/sql:\n%+v", i, got, want)
			}
		}
	})
}

// TestRawInsertsNewConnection: when the connection inserts keep is closed
// under them, an Insert fails and the next one takes a new connection.
func TestRawInsertsNewConnection(t *testing.T) {
	st := openSQLiteStore(t)
	ctx := context.Background()
	batch := func(prefix string) []Record {
		recs := make([]Record, st.d.rowsPerStatement()+1)
		for i := range recs {
			recs[i] = Record{ID: fmt.Sprintf("%s%d", prefix, i), Time: time.Unix(int64(i), 0), Login: "alice"}
		}
		return recs
	}
	if err := st.Insert(ctx, batch("a")); err != nil {
		t.Fatal(err)
	}
	if err := st.raw.conn.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Insert(ctx, batch("b")); err == nil {
		t.Fatal("insert on a closed connection succeeded")
	}
	if err := st.Insert(ctx, batch("b")); err != nil {
		t.Fatalf("insert after the connection closed: %v", err)
	}
	if _, err := st.Request(ctx, "b3", Lookup{}); err != nil {
		t.Errorf("row of the second batch: %v", err)
	}
}

// FuzzCStatements: values bound by cStatements are stored as the driver
// stores them: the same type and the same value, for every kind of value
// a batch carries.
func FuzzCStatements(f *testing.F) {
	f.Add("alice", []byte("body"), int64(42), 0.5, true, false)
	f.Add("", []byte{}, int64(-1), math.Copysign(0, -1), false, true)
	f.Add("a\x00b\xff", []byte{0, 1, 2}, int64(1<<62), 1e300, true, true)
	st := openSQLiteStore(f)
	ctx := context.Background()
	if _, err := st.db.ExecContext(ctx, "CREATE TABLE bound (k INTEGER, i INTEGER, v)"); err != nil {
		f.Fatal(err)
	}
	conn, err := st.db.Conn(ctx)
	if err != nil {
		f.Fatal(err)
	}
	defer conn.Close()
	var cs *cStatements
	if err := conn.Raw(func(dc any) error {
		cs, err = newCStatements(dc)
		return err
	}); err != nil {
		f.Fatal(err)
	}
	defer conn.Raw(func(any) error { return cs.close() })
	k := 0
	f.Fuzz(func(t *testing.T, s string, b []byte, n int64, x float64, flag, nilBytes bool) {
		if nilBytes {
			b = nil
		}
		vals := []any{s, b, n, int(n), x, flag, nil, ""}
		k++
		args := make([]any, 0, 3*len(vals))
		for i, v := range vals {
			args = append(args, int64(2*k), int64(i), v)
			if _, err := conn.ExecContext(ctx, "INSERT INTO bound VALUES (?, ?, ?)", int64(2*k+1), int64(i), v); err != nil {
				t.Fatalf("through the driver: %v", err)
			}
		}
		q := "INSERT INTO bound VALUES " + placeholders(len(vals), 3)
		if err := conn.Raw(func(any) error {
			got, err := cs.exec(q, args)
			if err == nil && got != int64(len(vals)) {
				err = fmt.Errorf("%d rows inserted, want %d", got, len(vals))
			}
			return err
		}); err != nil {
			t.Fatalf("on the C handle: %v", err)
		}
		read := func(key int) []string {
			rows, err := conn.QueryContext(ctx, "SELECT typeof(v) || ':' || quote(v) || ':' || hex(v) FROM bound WHERE k = ? ORDER BY i", int64(key))
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var out []string
			for rows.Next() {
				var v string
				if err := rows.Scan(&v); err != nil {
					t.Fatal(err)
				}
				out = append(out, v)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			return out
		}
		if got, want := read(2*k), read(2*k+1); !reflect.DeepEqual(got, want) {
			t.Fatalf("bound on the C handle: %q\nthrough the driver: %q", got, want)
		}
	})
}

// TestRawInsertsThroughDriver: on a driver connection without the C
// handle cStatements reads, full chunks are bound through the driver, and
// store the same rows.
func TestRawInsertsThroughDriver(t *testing.T) {
	st := openSQLiteStore(t)
	ctx := context.Background()
	batch := func(prefix string) []Record {
		recs := make([]Record, st.d.rowsPerStatement())
		for i := range recs {
			recs[i] = Record{ID: fmt.Sprintf("%s%d", prefix, i), Time: time.Unix(int64(i), 0), Login: "alice", Model: "gpt-5",
				Status: 200, Usage: usage.Tokens{Input: usage.Of(int64(i))}, CostUSD: 0.5, CostKnown: true, Grants: []string{"grants[0]"}}
		}
		return recs
	}
	if err := st.Insert(ctx, batch("c")); err != nil {
		t.Fatal(err)
	}
	if err := st.raw.conn.Raw(func(any) error { return st.raw.c.close() }); err != nil {
		t.Fatal(err)
	}
	st.raw.c, st.raw.noC = nil, true
	if err := st.Insert(ctx, batch("d")); err != nil {
		t.Fatal(err)
	}
	if len(st.raw.stmts) == 0 {
		t.Fatal("the full chunk was not bound through the driver")
	}
	for i := range st.d.rowsPerStatement() {
		c, err := st.Request(ctx, fmt.Sprintf("c%d", i), Lookup{})
		if err != nil {
			t.Fatal(err)
		}
		d, err := st.Request(ctx, fmt.Sprintf("d%d", i), Lookup{})
		if err != nil {
			t.Fatal(err)
		}
		d.ID = c.ID
		if !reflect.DeepEqual(c, d) {
			t.Fatalf("row %d through the driver:\n%+v\non the C handle:\n%+v", i, d, c)
		}
	}
}

// TestCStatementsBufferBounded: a full chunk of large raw bodies is
// stored whole, and the buffer its values were copied into is not kept
// after it; a chunk of ordinary rows keeps its small buffer.
func TestCStatementsBufferBounded(t *testing.T) {
	st := openSQLiteStore(t)
	ctx := context.Background()
	per := st.d.rowsPerStatement()
	tests := []struct {
		name     string
		body     int
		wantKept bool
	}{
		{"ordinary rows", 0, true},
		{"large bodies", 64 << 10, false},
	}
	for k, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs := make([]Record, per)
			for i := range recs {
				recs[i] = Record{ID: fmt.Sprintf("b%d-%d", k, i), Time: time.Unix(int64(i), 0), Login: "alice"}
				if tt.body > 0 {
					recs[i].RawRequest = make([]byte, tt.body)
					rand.Read(recs[i].RawRequest)
				}
			}
			if err := st.Insert(ctx, recs); err != nil {
				t.Fatal(err)
			}
			if kept := st.raw.c.buf != 0; kept != tt.wantKept || st.raw.c.size > keepBuffer {
				t.Errorf("after the chunk: buffer kept %v (%d bytes), want kept %v and at most %d bytes", kept, st.raw.c.size, tt.wantKept, keepBuffer)
			}
			for i := range recs {
				got, err := st.Request(ctx, recs[i].ID, Lookup{Raws: true})
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got.RawRequest, recs[i].RawRequest) {
					t.Fatalf("row %d: request body of %d bytes read back as %d bytes", i, len(recs[i].RawRequest), len(got.RawRequest))
				}
			}
		})
	}
}

// TestInsertFailedStatementLeavesNothing: when a statement of a batch
// fails part way through its rows (SQLite's inserts run OR FAIL, which
// keeps the rows before the failure), none of the batch's rows and none
// of its usage are stored, and the next batch is stored whole.
func TestInsertFailedStatementLeavesNothing(t *testing.T) {
	st := openSQLiteStore(t)
	ctx := context.Background()
	if _, err := st.db.ExecContext(ctx, `CREATE TRIGGER refuse BEFORE INSERT ON requests WHEN NEW.login = 'refused'
		BEGIN SELECT RAISE(FAIL, 'refused by the test'); END`); err != nil {
		t.Fatal(err)
	}
	per := st.d.rowsPerStatement()
	batch := func(prefix string, refuse int) []Record {
		recs := make([]Record, 2*per+2)
		for i := range recs {
			recs[i] = Record{ID: fmt.Sprintf("%s%d", prefix, i), Time: time.Unix(int64(i), 0), Login: "alice", Model: "gpt-5",
				Usage: usage.Tokens{Input: usage.Of(10)}, CostKnown: true, CostUSD: 0.5}
		}
		if refuse >= 0 {
			recs[refuse].Login = "refused"
		}
		return recs
	}
	counts := func() (rows, hourly int64) {
		t.Helper()
		if err := st.db.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM requests), (SELECT coalesce(sum(requests), 0) FROM usage_hourly)").Scan(&rows, &hourly); err != nil {
			t.Fatal(err)
		}
		return rows, hourly
	}
	tests := []struct {
		name    string
		refuse  int
		wantErr bool
	}{
		{"refused row late in a full chunk", per + per/2, true},
		{"refused row in the short last chunk", 2*per + 1, true},
		{"no refused row", -1, false},
	}
	for k, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, beforeUsage := counts()
			err := st.Insert(ctx, batch(fmt.Sprintf("f%d-", k), tt.refuse))
			if (err != nil) != tt.wantErr {
				t.Fatalf("Insert: %v, want error %v", err, tt.wantErr)
			}
			rows, usage := counts()
			want := before
			if !tt.wantErr {
				want += int64(2*per + 2)
			}
			if rows != want || usage != want-before+beforeUsage {
				t.Errorf("after the batch: %d rows and %d requests in the rollup, want %d and %d", rows, usage, want, want-before+beforeUsage)
			}
		})
	}
}

// FuzzCStatementsRebind: a statement run again and again with values
// that repeat, change and change type (execValues binds again only the
// parameters whose value changed) stores each run's values as the driver
// stores them.
func FuzzCStatementsRebind(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 1, 1, 2, 3, 4, 5, 6, 7, 7, 7, 0})
	f.Add([]byte{7, 7, 7, 7, 6, 6, 6, 5, 5, 2, 2, 1, 1, 0, 0, 3, 3, 4, 4})
	f.Add([]byte{9, 8, 9, 8, 9, 9, 9, 10, 10, 11, 11, 11, 10})
	pool := []colValue{
		{kind: colNull},
		textValue(""),
		textValue("alice"),
		textValue("bob"),
		intValue(0),
		intValue(7),
		boolValue(true),
		{kind: colFloat, n: int64(math.Float64bits(0.25))},
		textValue(strings.Repeat("long text ", maxTrackedText/10+1)),
		textValue(strings.Repeat("long text ", maxTrackedText/10) + "!!!!!!!!!!!"),
		textValue("a\x00b"),
		boolValue(false),
	}
	st := openSQLiteStore(f)
	ctx := context.Background()
	if _, err := st.db.ExecContext(ctx, "CREATE TABLE rebound (k INTEGER, i INTEGER, v)"); err != nil {
		f.Fatal(err)
	}
	conn, err := st.db.Conn(ctx)
	if err != nil {
		f.Fatal(err)
	}
	defer conn.Close()
	var cs *cStatements
	if err := conn.Raw(func(dc any) error {
		cs, err = newCStatements(dc)
		return err
	}); err != nil {
		f.Fatal(err)
	}
	defer conn.Raw(func(any) error { return cs.close() })
	const params = 3
	q := "INSERT INTO rebound VALUES " + placeholders(params, 3)
	k := 0
	f.Fuzz(func(t *testing.T, picks []byte) {
		// Each run's values: params rows of (k, i, v), v from the pool.
		for start := 0; start+params <= len(picks); start += params {
			k++
			vals := make([]colValue, 0, 3*params)
			for i := range params {
				v := pool[int(picks[start+i])%len(pool)]
				vals = append(vals, intValue(int64(2*k)), intValue(int64(i)), v)
				if _, err := conn.ExecContext(ctx, "INSERT INTO rebound VALUES (?, ?, ?)", int64(2*k+1), int64(i), v.arg()); err != nil {
					t.Fatalf("through the driver: %v", err)
				}
			}
			if err := conn.Raw(func(any) error {
				got, err := cs.execValues(q, vals)
				if err == nil && got != params {
					err = fmt.Errorf("%d rows inserted, want %d", got, params)
				}
				return err
			}); err != nil {
				t.Fatalf("on the C handle: %v", err)
			}
			read := func(key int) []string {
				rows, err := conn.QueryContext(ctx, "SELECT typeof(v) || ':' || quote(v) || ':' || hex(v) FROM rebound WHERE k = ? ORDER BY i", int64(key))
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				var out []string
				for rows.Next() {
					var v string
					if err := rows.Scan(&v); err != nil {
						t.Fatal(err)
					}
					out = append(out, v)
				}
				if err := rows.Err(); err != nil {
					t.Fatal(err)
				}
				return out
			}
			if got, want := read(2*k), read(2*k+1); !reflect.DeepEqual(got, want) {
				t.Fatalf("run %d bound on the C handle: %q\nthrough the driver: %q", k, got, want)
			}
		}
	})
}

// TestRollupStatementsEveryKeyCount: a batch adds each of its keys to the
// rollups once, whatever their number (upserts carry up to
// rollupRowsPerStatement keys, the rest in halving statements), and the
// rollups sum as a scan of the rows does.
func TestRollupStatementsEveryKeyCount(t *testing.T) {
	st := openSQLiteStore(t)
	ctx := context.Background()
	for k, keys := range []int{1, 2, 7, 31, 32, 33, 63, 64, 65, 100} {
		recs := make([]Record, 3*keys)
		for i := range recs {
			at := time.Unix(1_700_000_000+int64(k)*90_000, 0).Add(time.Duration(i) * time.Second)
			recs[i] = Record{ID: fmt.Sprintf("k%d-%d", k, i), Time: at, Login: fmt.Sprintf("user%03d", i%keys), Model: "gpt-5",
				Provider: "openai", Status: 200, Usage: usage.Tokens{Input: usage.Of(int64(i)), Output: usage.Of(3)},
				CostUSD: float64(i) / 8, CostKnown: i%5 != 0}
		}
		if err := st.Insert(ctx, recs); err != nil {
			t.Fatalf("%d keys: %v", keys, err)
		}
	}
	for _, tbl := range []rollupTable{hourly, daily} {
		read := func(q string) []string {
			rows, err := st.db.QueryContext(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var out []string
			for rows.Next() {
				var at, status, failed, requests, in, out2, cr, cw, reasoning, unknown int64
				var login, model, provider, agent string
				var cost float64
				if err := rows.Scan(&at, &login, &model, &provider, &agent, &status, &failed, &requests, &in, &out2, &cr, &cw, &reasoning, &cost, &unknown); err != nil {
					t.Fatal(err)
				}
				out = append(out, fmt.Sprint(at, login, model, provider, agent, status, failed, requests, in, out2, cr, cw, reasoning, cost, unknown))
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			return out
		}
		got := read(fmt.Sprintf(`SELECT %s, login, model, provider, user_agent, status, failed, requests, input_tokens, output_tokens,
			cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd, unknown_cost FROM %s ORDER BY 1, 2, 3, 4, 5, 6, 7`, tbl.time, tbl.name))
		want := read(fmt.Sprintf(`SELECT time_us - time_us %% %d AS at, login, model, provider, user_agent, status,
			CASE WHEN status >= 400 OR error <> '' THEN 1 ELSE 0 END AS failed, count(*), sum(coalesce(input_tokens, 0)), sum(coalesce(output_tokens, 0)),
			sum(coalesce(cache_read_tokens, 0)), sum(coalesce(cache_write_tokens, 0)), sum(coalesce(reasoning_tokens, 0)), total(cost_usd), sum(1 - cost_known)
			FROM requests GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7`, tbl.span))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %d rows, a scan of the requests sums to %d rows:\n%q\n%q", tbl.name, len(got), len(want), got, want)
		}
	}
}
