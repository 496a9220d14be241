package store_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/quota"
	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/store/storetest"
)

// TestSQLiteQuotaWriteBack: on SQLite the balances live in the process and
// reach the quota_balances table within a flush interval, without the
// store closing, so a crash loses at most that interval's changes.
func TestSQLiteQuotaWriteBack(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sluice.db")
	st := storetest.Open(t, path, store.Options{})
	b := &quota.Bucket{Name: "team", Capacity: 10 * quota.Dollar}
	if _, ok, err := st.Reserve(ctx, b, "team", 3*quota.Dollar, storetest.T0); err != nil || !ok {
		t.Fatalf("reserve: %v %v", ok, err)
	}
	// A second handle on the file, as a process restarted after a crash
	// would read it.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var bal int64
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(store.QuotaFlushInterval / 4) {
		err := db.QueryRowContext(ctx, "SELECT balance FROM quota_balances WHERE bucket = 'team'").Scan(&bal)
		if err == nil && bal == int64(7*quota.Dollar) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stored balance %d (%v), want $7.00 written back without a Close", bal, err)
		}
	}
}
