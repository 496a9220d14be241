package store

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
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

// FuzzRawInsert: a record inserted in a full chunk, bound through the
// driver (rawInserts), reads back as the same record inserted alone,
// bound through database/sql.
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
		if len(st.raw.stmts) == 0 {
			t.Fatal("the full chunk was not bound through the driver")
		}
		if err := st.Insert(ctx, []Record{alone}); err != nil {
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
				t.Fatalf("row %d bound through the driver:\n%+v\nthrough database/sql:\n%+v", i, got, want)
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
