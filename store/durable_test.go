package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// durableOptions never flush on the timer: only a waiting record can make
// the Writer flush within a test.
func durableOptions(sp *Spool) WriterOptions {
	return WriterOptions{FlushInterval: time.Hour, RetryBackoff: 5 * time.Millisecond, ReplayMaxBackoff: 50 * time.Millisecond,
		DurableInsertTimeout: 200 * time.Millisecond, Spool: sp, Logger: quietLogger()}
}

// TestWriteDurableReturnsOnceRowIsStored: WriteDurable returns only once
// its row is in the database, although the Writer's timer never fires;
// the plain Writes queued before it ride along in the same commit.
func TestWriteDurableReturnsOnceRowIsStored(t *testing.T) {
	st := openSQLite(t, filepath.Join(t.TempDir(), "log.db"))
	sp := openTestSpool(t, filepath.Join(t.TempDir(), "spool"), SpoolOptions{})
	w := NewWriter(st, durableOptions(sp))
	defer closeWriter(t, w)
	w.Write(Record{ID: "before", Time: time.Now()})
	if err := w.WriteDurable(context.Background(), Record{ID: "waited", Time: time.Now()}); err != nil {
		t.Fatalf("WriteDurable: %v", err)
	}
	assertOneRowEach(t, st, []string{"before", "waited"})
	if s := w.Stats(); s.Batches != 1 || s.Spooled != 0 {
		t.Errorf("stats %+v; want one batch, nothing spooled", s)
	}
}

// TestWriteDurableGroupCommit: many concurrent waiters on a database whose
// commits take a while share a few commits instead of one each, and every
// one of them finds its row.
func TestWriteDurableGroupCommit(t *testing.T) {
	const waiters = 64
	db := &fakeInserter{fail: func(int, []Record) error { time.Sleep(10 * time.Millisecond); return nil }}
	w := NewWriter(db, WriterOptions{FlushInterval: time.Hour, Logger: quietLogger()})
	defer closeWriter(t, w)
	var wg sync.WaitGroup
	errs := make(chan error, waiters)
	for i := range waiters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("r%02d", i)
			if err := w.WriteDurable(context.Background(), Record{ID: id}); err != nil {
				errs <- fmt.Errorf("%s: %w", id, err)
				return
			}
			// Acknowledged means stored: the row is there now.
			db.mu.Lock()
			ok := db.rows[id]
			db.mu.Unlock()
			if !ok {
				errs <- fmt.Errorf("%s acknowledged before it was stored", id)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	rows, batches := db.stored()
	if rows != waiters {
		t.Errorf("%d rows, want %d", rows, waiters)
	}
	if len(batches) > waiters/4 {
		t.Errorf("%d commits for %d concurrent waiters; want them to share commits", len(batches), waiters)
	}
	t.Logf("%d waiters, %d commits", waiters, len(batches))
}

// TestWriteDurableFailures: what a waiter learns when the database cannot
// take its record. The spool's fsync acknowledges it when the database is
// down or hangs, and the record reaches the database once it is back; with
// neither, or a closed Writer, the waiter gets ErrNotKept, never success.
func TestWriteDurableFailures(t *testing.T) {
	tests := []struct {
		name     string
		hang     bool  // the database never answers
		spoolMax int64 // 0: a working spool; -1: none; else its bound
		closed   bool
		wantErr  bool
	}{
		{name: "database down, spool keeps it"},
		{name: "database hangs, spool keeps it", hang: true},
		{name: "database down, spool full", spoolMax: 8, wantErr: true},
		{name: "writer closed", closed: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openSQLite(t, filepath.Join(t.TempDir(), "log.db"))
			db := &flakyInserter{Inserter: st}
			var gate chan struct{}
			var in Inserter = db
			if tt.hang {
				gate = make(chan struct{})
				in = &gatedInserter{Inserter: db, gate: gate}
			} else {
				db.down.Store(true)
			}
			sp := openTestSpool(t, filepath.Join(t.TempDir(), "spool"), SpoolOptions{MaxBytes: max(tt.spoolMax, 0)})
			w := NewWriter(in, durableOptions(sp))
			if tt.closed {
				closeWriter(t, w)
			}
			start := time.Now()
			err := w.WriteDurable(context.Background(), Record{ID: "r1", Time: time.Now()})
			took := time.Since(start)
			if took > 2*time.Second {
				t.Errorf("WriteDurable took %v; want it bounded by DurableInsertTimeout", took)
			}
			if tt.wantErr {
				if !errors.Is(err, ErrNotKept) {
					t.Fatalf("WriteDurable: %v, want ErrNotKept", err)
				}
				if !tt.closed {
					closeWriter(t, w)
				}
				return
			}
			if err != nil {
				t.Fatalf("WriteDurable: %v", err)
			}
			if n := sp.Records(); n != 1 {
				t.Fatalf("spool holds %d records after the acknowledgement, want 1", n)
			}
			if gate != nil {
				close(gate)
			}
			db.down.Store(false)
			waitDrained(t, w, 10*time.Second)
			closeWriter(t, w)
			assertOneRowEach(t, st, []string{"r1"})
		})
	}
}

// TestWriteDurableWithoutSpool: without a spool a waiter learns whether
// the database took its own record, while another record of the same
// batch is refused.
func TestWriteDurableWithoutSpool(t *testing.T) {
	db := &fakeInserter{fail: func(_ int, recs []Record) error {
		for _, r := range recs {
			if r.ID == "bad" {
				return errors.New("value rejected")
			}
		}
		return nil
	}}
	w := NewWriter(db, WriterOptions{FlushInterval: time.Hour, Retries: -1, Logger: quietLogger()})
	defer closeWriter(t, w)
	errs := map[string]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, id := range []string{"good", "bad"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := w.WriteDurable(context.Background(), Record{ID: id})
			mu.Lock()
			errs[id] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	if errs["good"] != nil || !errors.Is(errs["bad"], ErrNotKept) {
		t.Errorf("good: %v, bad: %v; want nil and ErrNotKept", errs["good"], errs["bad"])
	}
}

// gatedInserter holds every insert until gate is closed or the insert's
// context ends: a database that hangs.
type gatedInserter struct {
	Inserter
	gate chan struct{}
}

func (g *gatedInserter) Insert(ctx context.Context, recs []Record) error {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Inserter.Insert(ctx, recs)
}
