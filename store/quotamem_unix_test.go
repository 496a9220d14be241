//go:build unix

package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/sluice-gateway/sluice/quota"
	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/store/storetest"
)

// TestSQLiteQuotaLockedByAnotherProcess: a second process on the same
// SQLite file (here: a lock held on another open file description, as a
// process would) cannot keep balances of its own; its quota calls fail
// with ErrQuotaLocked, which the gateway answers with 503.
func TestSQLiteQuotaLockedByAnotherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sluice.db")
	st := storetest.Open(t, path, store.Options{})
	f, err := os.OpenFile(path+"-quotas.lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	b := &quota.Bucket{Name: "team", Capacity: quota.Dollar}
	if _, _, err := st.Reserve(context.Background(), b, "team", 1, storetest.T0); !errors.Is(err, store.ErrQuotaLocked) {
		t.Fatalf("Reserve with the balances held elsewhere: %v, want ErrQuotaLocked", err)
	}
	// Once the other process is gone, the store takes over.
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	if _, ok, err := st.Reserve(context.Background(), b, "team", 1, storetest.T0); err != nil || !ok {
		t.Fatalf("Reserve after the lock was released: %v %v", ok, err)
	}
}
