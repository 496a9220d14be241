package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/store/storetest"
)

// TestWriteDurableOnPostgres: on PostgreSQL, each of 32 concurrent
// WriteDurable calls returns only once its row is readable through
// another connection, although the Writer's timer never fires; the calls
// share commits.
func TestWriteDurableOnPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	st := storetest.Open(t, dsn, store.Options{})
	reader := storetest.Open(t, dsn, store.Options{})
	sp, err := store.OpenSpool(filepath.Join(t.TempDir(), "spool"), store.SpoolOptions{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	w := store.NewWriter(st, store.WriterOptions{FlushInterval: time.Hour, Spool: sp, Logger: discard()})
	const n = 32
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("durable-%02d", i)
			if err := w.WriteDurable(context.Background(), store.Record{ID: id, Time: time.Now(), Login: "alice@example.com", Status: 200}); err != nil {
				t.Errorf("%s: %v", id, err)
				return
			}
			if _, err := reader.Request(context.Background(), id, store.Lookup{}); err != nil {
				t.Errorf("%s acknowledged but not readable: %v", id, err)
			}
		}()
	}
	wg.Wait()
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := w.Stats()
	if s.Spooled != 0 || s.Batches >= n {
		t.Errorf("stats %+v; want nothing spooled and fewer commits than waiters", s)
	}
	t.Logf("%d waiters, %d commits", n, s.Batches)
}
