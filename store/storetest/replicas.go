package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/usage"
)

// testReplicasWriteAtOnce: three stores on one database (three replicas),
// each inserting large batches (several INSERT statements per transaction
// on PostgreSQL) from several goroutines at once, over the same users,
// models and hours, in different orders. Every insert succeeds (no
// deadlock between the rollups' row locks), every record is one row, and
// the hourly and daily rollups sum exactly what the rows sum.
func testReplicasWriteAtOnce(t *testing.T, dsn string) {
	// 450 rows a batch: over the 200 above which PostgreSQL batches take
	// the COPY path.
	const replicas, workers, batches = 3, 3, 3
	perBatch := 450
	if !strings.HasPrefix(dsn, "postgres") {
		// SQLite takes one writer at a time: nine writers of 450-row
		// batches would test its busy timeout on a slow machine rather
		// than the rollups. Fewer rows still interleave the replicas.
		perBatch = 150
	}
	stores := make([]store.Store, replicas)
	for i := range stores {
		stores[i] = Open(t, dsn, store.Options{})
	}
	logins := []string{"alice", "bob", "carol", "dave"}
	models := []string{"gpt-5", "claude-sonnet-4-5", "gemini-2.5-pro"}
	var wg sync.WaitGroup
	errs := make(chan error, replicas*workers*batches)
	for r := range replicas {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range batches {
					recs := make([]store.Record, perBatch)
					for i := range recs {
						// The keys come in three groups of twelve, one group
						// per INSERT statement, each worker taking the
						// groups in its own order.
						g := (i/(perBatch/3) + w + r + b) % 3
						if (w+r)%2 == 1 {
							g = 2 - g
						}
						k := g*12 + i%12
						rec := rec(fmt.Sprintf("r%d-w%d-b%d-%d", r, w, b, i), logins[k%len(logins)],
							models[(k/len(logins))%len(models)], T0.Add(time.Duration(g)*time.Hour+time.Duration(i)*time.Millisecond))
						rec.Usage = usage.Tokens{Input: usage.Of(int64(i)), Output: usage.Of(1)}
						if i%10 == 0 {
							rec.Status, rec.Error = 502, "upstream failed"
						}
						recs[i] = rec
					}
					if err := stores[r].Insert(context.Background(), recs); err != nil {
						errs <- fmt.Errorf("replica %d worker %d batch %d: %w", r, w, b, err)
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	n := int64(replicas * workers * batches * perBatch)
	rows := all(t, stores[0], store.Filter{})
	var sumIn int64
	for _, r := range rows {
		in, _ := r.Usage.Input.Get()
		sumIn += in
	}
	if int64(len(rows)) != n {
		t.Errorf("%d rows, want %d", len(rows), n)
	}
	for _, dim := range []store.Dimension{store.DimHour, store.DimDay} {
		roll, err := stores[1].Rollup(context.Background(), store.Filter{}, dim, store.DimUser, store.DimModel)
		if err != nil {
			t.Fatal(err)
		}
		var req, errCount, in int64
		for _, r := range roll {
			req, errCount, in = req+r.Requests, errCount+r.Errors, in+r.InputTokens
		}
		if req != n || errCount != n/10 || in != sumIn {
			t.Errorf("%s rollup: %d requests, %d errors, %d input tokens; the rows have %d, %d, %d", dim, req, errCount, in, n, n/10, sumIn)
		}
	}
}
