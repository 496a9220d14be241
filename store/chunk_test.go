package store

import (
	"context"
	"fmt"
	"math/bits"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/usage"
)

func TestChunkRows(t *testing.T) {
	tests := []struct {
		d            dialect
		rest, per    int
		wantRows     int
		wantPrepared bool
	}{
		{sqliteDialect, 64, 64, 64, true},
		{sqliteDialect, 100, 64, 64, true},
		{sqliteDialect, 63, 64, 32, true},
		{sqliteDialect, 13, 8, 8, true},
		{sqliteDialect, 5, 8, 4, true},
		{sqliteDialect, 1, 8, 1, true},
		{postgresDialect, 250, 200, 200, true},
		{postgresDialect, 13, 200, 13, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d of %d", tt.d.name, tt.rest, tt.per), func(t *testing.T) {
			rows, prepared := tt.d.chunkRows(tt.rest, tt.per)
			if rows != tt.wantRows || prepared != tt.wantPrepared {
				t.Errorf("chunkRows(%d, %d) = %d, %v; want %d, %v", tt.rest, tt.per, rows, prepared, tt.wantRows, tt.wantPrepared)
			}
		})
	}
}

// chunkBatch is n records of one caller and model, IDs prefix0, prefix1...
func chunkBatch(prefix string, n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{ID: fmt.Sprintf("%s%d", prefix, i), Time: time.Unix(1_700_000_000+int64(i), 0), Login: "alice", Model: "gpt-5",
			Status: 200, Usage: usage.Tokens{Input: usage.Of(10), Output: usage.Of(5)}, CostUSD: 0.5, CostKnown: true}
	}
	return recs
}

// TestShortBatchesPrepared: batches of every size up to two chunks and a
// half store every row once, in the log and in the rollups, and the
// inserts of the requests table are prepared once per power of two, not
// once per batch: a quiet gateway's batches are all shorter than a chunk.
func TestShortBatchesPrepared(t *testing.T) {
	st := openSQLiteStore(t)
	ctx := context.Background()
	per := st.d.rowsPerStatement()
	total := 0
	for n := 1; n <= 2*per+per/2; n++ {
		if err := st.Insert(ctx, chunkBatch(fmt.Sprintf("b%d-", n), n)); err != nil {
			t.Fatalf("batch of %d: %v", n, err)
		}
		total += n
	}
	var stored, hourly, daily int
	if err := st.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM requests").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	for table, got := range map[string]*int{"usage_hourly": &hourly, "usage_daily": &daily} {
		if err := st.db.QueryRowContext(ctx, "SELECT COALESCE(SUM(requests), 0) FROM "+table).Scan(got); err != nil {
			t.Fatal(err)
		}
	}
	if stored != total || hourly != total || daily != total {
		t.Errorf("stored %d rows, rollups count %d hourly and %d daily; want %d each", stored, hourly, daily, total)
	}
	// The statements are cached on the connection's C handle, or by the
	// driver connection where the handle cannot be had.
	if st.raw == nil {
		t.Fatal("the SQLite store keeps no connection for its inserts")
	}
	var queries []string
	if st.raw.c != nil {
		for q := range st.raw.c.stmts {
			queries = append(queries, q)
		}
	} else {
		for q := range st.raw.stmts {
			queries = append(queries, q)
		}
	}
	sizes := map[int]bool{}
	for _, q := range queries {
		if strings.HasPrefix(q, st.d.insertInto+"requests (") {
			sizes[strings.Count(q, "), (")+1] = true
		}
	}
	if want := bits.Len(uint(per)); len(sizes) != want {
		t.Errorf("inserts into requests prepared for %d chunk sizes %v, want %d (1, 2, 4 ... %d)", len(sizes), sizes, want, per)
	}
}

// BenchmarkInsertShortBatch inserts batches of 5 rows, shorter than a
// chunk, as a gateway's writer does at a few tens of requests a second.
func BenchmarkInsertShortBatch(b *testing.B) {
	st := openSQLiteStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := st.Insert(ctx, chunkBatch(fmt.Sprintf("s%d-", i), 5)); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(5*i), "ns/row")
}
