package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/store/sqlite"
	"github.com/sluice-gateway/sluice/store/storetest"
)

func hasUnnumberedIndex(t *testing.T, db *sql.DB) bool {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'requests_export_unnumbered'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// TestExportIndexOnDemand: a request log no exporter reads keeps no index
// of the rows waiting for an export number (every row would be in it, a
// second copy of requests_time on every insert), and opening a database
// an earlier version wrote drops it; the first numbering creates it, and
// numbering reads it rather than scanning the table.
func TestExportIndexOnDemand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sluice.db")
	ctx := context.Background()
	ms, err := sqlite.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	old := atMigration(t, path, len(storetest.MigrationsBefore(ms, 14)))
	if !hasUnnumberedIndex(t, old) {
		t.Fatal("a database of the migrations before 0014 has no requests_export_unnumbered; the test no longer starts from one")
	}
	old.Close()

	st := storetest.Open(t, "sqlite:"+path, store.Options{})
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if hasUnnumberedIndex(t, db) {
		t.Error("after the migrations the request log still keeps an index of unnumbered rows, with no exporter")
	}
	now := time.Now().Truncate(time.Microsecond)
	var recs []store.Record
	for i := range 3 {
		at := now.Add(time.Duration(i) * time.Millisecond)
		recs = append(recs, store.Record{ID: store.NewID(at), Time: at, Login: "alice@example.com", Model: "gpt-5", Status: 200})
	}
	if err := st.Insert(ctx, recs); err != nil {
		t.Fatal(err)
	}
	log := st.(store.ExportLog)
	if n, err := log.NumberForExport(ctx, 10); err != nil || n != 3 {
		t.Fatalf("NumberForExport = %d, %v; want 3 rows numbered", n, err)
	}
	if !hasUnnumberedIndex(t, db) {
		t.Error("numbering for export did not create requests_export_unnumbered")
	}
	var plan strings.Builder
	rows, err := db.Query("EXPLAIN QUERY PLAN SELECT id FROM requests WHERE export_seq IS NULL ORDER BY time_us, id LIMIT 10")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(detail + "; ")
	}
	rows.Close()
	if !strings.Contains(plan.String(), "requests_export_unnumbered") {
		t.Errorf("numbering's query plan is %q; want it to read requests_export_unnumbered", plan.String())
	}
	if n, err := log.NumberForExport(ctx, 10); err != nil || n != 0 {
		t.Errorf("NumberForExport again = %d, %v; want nothing left to number", n, err)
	}
}
