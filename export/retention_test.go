package export

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/store"
)

// TestRetentionRequireExport runs retention on a fake clock: content goes
// only once the window passed and (with require_export) the S3 exporter
// stored it; rows, usage and rollups stay.
func TestRetentionRequireExport(t *testing.T) {
	ctx := context.Background()
	day := 24 * time.Hour
	objectForm := func(purge []string, require bool) policy.Database {
		return policy.Database{Retention: day, ContentOnly: true, Purge: purge, RequireExport: require}
	}
	tests := []struct {
		name     string
		db       policy.Database
		exported int           // batches of 10 the exporter stores first
		now      time.Duration // after t0
		// wantBodies are the raw bodies purged; wantRows the rows left.
		wantBodies int64
		wantRows   int
		// rawsLeft: row indexes whose bodies must still be there.
		rawsLeft, rawsGone []int
		onPostgres         bool
	}{
		{name: "window not passed", db: objectForm(nil, true), exported: 3, now: time.Hour,
			wantBodies: 0, wantRows: 25, rawsLeft: []int{0, 24}},
		{name: "window passed, nothing exported", db: objectForm(nil, true), exported: 0, now: 2 * day,
			wantBodies: 0, wantRows: 25, rawsLeft: []int{0, 24}},
		{name: "window passed, first batch exported", db: objectForm(nil, true), exported: 1, now: 2 * day,
			wantBodies: 8, wantRows: 25, rawsGone: []int{0, 9}, rawsLeft: []int{12, 24}, onPostgres: true},
		{name: "window passed, all exported", db: objectForm(nil, true), exported: 3, now: 2 * day,
			wantBodies: 18, wantRows: 25, rawsGone: []int{0, 12, 24}},
		{name: "without require_export", db: objectForm(nil, false), exported: 0, now: 2 * day,
			wantBodies: 18, wantRows: 25, rawsGone: []int{0, 24}},
		{name: "request bodies only", db: objectForm([]string{policy.PurgeRequestBody}, true), exported: 3, now: 2 * day,
			wantBodies: 9, wantRows: 25, rawsLeft: []int{0, 24}},
		{name: "string form deletes whole rows", db: policy.Database{Retention: day}, exported: 0, now: 2 * day,
			wantBodies: 25, wantRows: 0, onPostgres: true},
	}
	backends(t, func(t *testing.T, open func(t *testing.T) testLog) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if !tt.onPostgres && strings.HasPrefix(t.Name(), "TestRetentionRequireExport/postgres/") {
					t.Skip("SQLite covers this case; PostgreSQL runs the ones marked onPostgres, to keep the suite quick")
				}
				f := newFakeS3(t)
				st := open(t)
				written := insert(t, st, t0, 25, "a")
				e := New(st, f.client(t, ""), Options{Limit: 10})
				for range tt.exported {
					if _, _, err := e.exportBatch(ctx); err != nil {
						t.Fatal(err)
					}
				}
				before := usageTotal(t, st)
				n, err := store.ApplyRetention(ctx, st, tt.db, t0.Add(tt.now))
				if err != nil || n != tt.wantBodies {
					t.Fatalf("ApplyRetention = %d, %v; want %d", n, err, tt.wantBodies)
				}
				page, err := st.Requests(ctx, store.Filter{}, store.Page{Limit: 100})
				if err != nil || len(page.Records) != tt.wantRows {
					t.Fatalf("%d rows left (%v), want %d", len(page.Records), err, tt.wantRows)
				}
				if tt.wantRows > 0 {
					if after := usageTotal(t, st); after != before {
						t.Errorf("usage rollup went from %+v to %+v; retention must keep it", before, after)
					}
				}
				for _, i := range tt.rawsLeft {
					r, err := st.Request(ctx, written[i].ID, store.Lookup{Raws: true})
					if err != nil || !r.HasRaws || string(r.RawResponse) != string(written[i].RawResponse) {
						t.Errorf("row %d: raws %v, response %q (%v); want kept", i, r.HasRaws, r.RawResponse, err)
					}
					if reqGone := tt.db.ContentOnly && len(tt.db.Purge) == 1 && tt.wantBodies > 0; reqGone != (r.RawRequest == nil) {
						t.Errorf("row %d: request body %q; purged = %v wanted", i, r.RawRequest, reqGone)
					}
				}
				for _, i := range tt.rawsGone {
					r, err := st.Request(ctx, written[i].ID, store.Lookup{Raws: true})
					if err != nil || r.HasRaws || r.RawRequest != nil || r.RawResponse != nil || r.Usage.Input.Value() != written[i].Usage.Input.Value() {
						t.Errorf("row %d: raws %v %q, input tokens %d (%v); want the bodies purged and the row kept", i, r.HasRaws, r.RawRequest, r.Usage.Input.Value(), err)
					}
				}
			})
		}
	})
}

// usageTotal is the hourly rollups' sum over all time.
func usageTotal(t *testing.T, st store.Store) store.Totals {
	t.Helper()
	rs, err := st.Rollup(context.Background(), store.Filter{Since: t0.Add(-24 * time.Hour).Truncate(time.Hour), Until: t0.Add(24 * time.Hour).Truncate(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var sum store.Totals
	for _, r := range rs {
		sum.Requests += r.Requests
		sum.InputTokens += r.InputTokens
	}
	return sum
}
