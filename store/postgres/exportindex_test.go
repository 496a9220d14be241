package postgres_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/store/migrate"
	"github.com/sluice-gateway/sluice/store/postgres"
	"github.com/sluice-gateway/sluice/store/storetest"
)

// TestExportIndexOnDemand: the migrations drop the index of rows waiting
// for an export number that earlier versions kept with no exporter, and
// the first numbering creates it again.
func TestExportIndexOnDemand(t *testing.T) {
	dsn := newDSN(t)
	ctx := context.Background()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hasIndex := func() bool {
		t.Helper()
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = 'requests_export_unnumbered'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	ms, err := postgres.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.Apply(ctx, db, storetest.MigrationsBefore(ms, 14), migrate.Options{}); err != nil {
		t.Fatal(err)
	}
	if !hasIndex() {
		t.Fatal("a database of the migrations before 0014 has no requests_export_unnumbered; the test no longer starts from one")
	}
	st := storetest.Open(t, dsn, store.Options{})
	if hasIndex() {
		t.Error("after the migrations the request log still keeps an index of unnumbered rows, with no exporter")
	}
	at := time.Now().Truncate(time.Microsecond)
	if err := st.Insert(ctx, []store.Record{{ID: store.NewID(at), Time: at, Login: "alice@example.com", Model: "gpt-5", Status: 200}}); err != nil {
		t.Fatal(err)
	}
	if n, err := st.(store.ExportLog).NumberForExport(ctx, 10); err != nil || n != 1 {
		t.Fatalf("NumberForExport = %d, %v; want 1 row numbered", n, err)
	}
	if !hasIndex() {
		t.Error("numbering for export did not create requests_export_unnumbered")
	}
}
