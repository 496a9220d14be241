package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeInserter records batches; fail decides per call whether it fails,
// and gate, when set, holds every insert until closed.
type fakeInserter struct {
	mu      sync.Mutex
	batches [][]string
	rows    map[string]bool
	calls   int
	fail    func(call int, recs []Record) error
	gate    chan struct{}
}

func (f *fakeInserter) Insert(ctx context.Context, recs []Record) error {
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		if err := f.fail(f.calls, recs); err != nil {
			return err
		}
	}
	if f.rows == nil {
		f.rows = map[string]bool{}
	}
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID)
		f.rows[r.ID] = true
	}
	f.batches = append(f.batches, ids)
	return nil
}

func (f *fakeInserter) stored() (rows int, batches [][]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.rows), append([][]string(nil), f.batches...)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func closeWriter(t *testing.T, w *Writer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func writeN(w *Writer, prefix string, n int) {
	for i := range n {
		w.Write(Record{ID: fmt.Sprintf("%s%d", prefix, i)})
	}
}

// TestWriterFlushesHeldBatchOnSize: records the Writer already took into
// its batch count towards a batch's worth, so a batch completed by Writes
// that each found few records queued is stored at once, not at the tick.
func TestWriterFlushesHeldBatchOnSize(t *testing.T) {
	f := &fakeInserter{}
	w := NewWriter(f, WriterOptions{BatchSize: 10, FlushInterval: time.Hour, Logger: quietLogger()})
	writeN(w, "a", 9)
	w.wake() // as a Write does: the Writer takes the 9 and waits for more
	deadline := time.Now().Add(5 * time.Second)
	for w.held.Load() != 9 {
		if time.Now().After(deadline) {
			t.Fatalf("the Writer holds %d records, want the 9 queued", w.held.Load())
		}
		time.Sleep(time.Millisecond)
	}
	writeN(w, "b", 1)
	waitStored(t, f, 10, "a batch's worth held and queued")
	closeWriter(t, w)
}

// waitStored waits up to 5 s for f to hold want records, and fails the
// test, saying what was written, when it does not.
func waitStored(t *testing.T, f *fakeInserter, want int, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, _ := f.stored()
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d stored within 5s, want %d", what, n, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWriterFlushesOnSize(t *testing.T) {
	f := &fakeInserter{}
	w := NewWriter(f, WriterOptions{BatchSize: 10, FlushInterval: time.Hour, Logger: quietLogger()})
	writeN(w, "r", 25)
	waitStored(t, f, 20, "after 25 writes with batch size 10 (two full batches)")
	closeWriter(t, w)
	n, batches := f.stored()
	if n != 25 || len(batches) != 3 || len(batches[2]) != 5 {
		t.Errorf("after Close: %d rows in batches %v; want 25 in 10+10+5", n, batches)
	}
}

func TestWriterFlushesOnInterval(t *testing.T) {
	f := &fakeInserter{}
	w := NewWriter(f, WriterOptions{BatchSize: 1000, FlushInterval: 20 * time.Millisecond, Logger: quietLogger()})
	defer closeWriter(t, w)
	writeN(w, "r", 3)
	waitStored(t, f, 3, "3 records with a 20ms flush interval")
}

func TestWriterFlush(t *testing.T) {
	f := &fakeInserter{}
	w := NewWriter(f, WriterOptions{BatchSize: 1000, FlushInterval: time.Hour, Logger: quietLogger()})
	defer closeWriter(t, w)
	writeN(w, "r", 7)
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.stored(); n != 7 {
		t.Errorf("after Flush: %d stored, want 7", n)
	}
}

func TestWriterRetriesThenIsolatesBadRecord(t *testing.T) {
	f := &fakeInserter{fail: func(call int, recs []Record) error {
		for _, r := range recs {
			if r.ID == "poison" {
				return errors.New("value too long")
			}
		}
		if call == 1 {
			return errors.New("connection reset")
		}
		return nil
	}}
	var logs bytes.Buffer
	w := NewWriter(f, WriterOptions{BatchSize: 100, FlushInterval: time.Hour, Retries: 2, RetryBackoff: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	writeN(w, "ok", 5)
	w.Write(Record{ID: "poison"})
	writeN(w, "fine", 4)
	closeWriter(t, w)
	n, _ := f.stored()
	s := w.Stats()
	if n != 9 || s.Written != 9 || s.Failed != 1 || s.Dropped != 0 {
		t.Errorf("stored %d, stats %+v; want 9 written and the poison record failed", n, s)
	}
	if !strings.Contains(logs.String(), "poison") {
		t.Errorf("failure not logged with the request id:\n%s", logs.String())
	}
}

func TestWriterRetriesTransientFailure(t *testing.T) {
	f := &fakeInserter{fail: func(call int, _ []Record) error {
		if call <= 2 {
			return errors.New("database is locked")
		}
		return nil
	}}
	w := NewWriter(f, WriterOptions{BatchSize: 100, FlushInterval: time.Hour, RetryBackoff: time.Millisecond, Logger: quietLogger()})
	writeN(w, "r", 10)
	closeWriter(t, w)
	if _, batches := f.stored(); len(batches) != 1 || len(batches[0]) != 10 || w.Stats().Written != 10 {
		t.Errorf("batches %v, stats %+v; want one batch of 10 after two failures", batches, w.Stats())
	}
}

func TestWriterCountsAndLogsDropsWhenFull(t *testing.T) {
	f := &fakeInserter{gate: make(chan struct{})}
	var logs bytes.Buffer
	w := NewWriter(f, WriterOptions{BatchSize: 1, QueueSize: 2, BlockTimeout: 5 * time.Millisecond, FlushInterval: time.Hour,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	// One record is held by the gated insert, two fill the queue; the
	// rest wait BlockTimeout each and are dropped.
	accepted := 0
	start := time.Now()
	for i := range 10 {
		if w.Write(Record{ID: fmt.Sprint(i)}) {
			accepted++
		}
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("10 writes to a full queue took %v; each must give up after BlockTimeout", elapsed)
	}
	close(f.gate)
	closeWriter(t, w)
	s := w.Stats()
	n, _ := f.stored()
	if s.Dropped == 0 || int64(accepted) != s.Queued || s.Queued+s.Dropped != 10 || int64(n) != s.Written || s.Written != s.Queued {
		t.Errorf("accepted %d, stored %d, stats %+v; want every record either stored or counted as dropped", accepted, n, s)
	}
	if !strings.Contains(logs.String(), "dropped") {
		t.Errorf("drops not logged:\n%s", logs.String())
	}
}

func TestWriterCloseGivesUpWithContext(t *testing.T) {
	f := &fakeInserter{gate: make(chan struct{})} // never opens
	w := NewWriter(f, WriterOptions{BatchSize: 2, FlushInterval: time.Hour, Logger: quietLogger()})
	writeN(w, "r", 5)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := w.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want DeadlineExceeded", err)
	}
	if s := w.Stats(); s.Dropped != 5 || s.Written != 0 {
		t.Errorf("stats %+v; want the 5 unstored records counted as dropped", s)
	}
	if w.Write(Record{ID: "late"}) {
		t.Error("Write after Close accepted a record")
	}
	if s := w.Stats(); s.Dropped != 6 {
		t.Errorf("Write after Close not counted: %+v", s)
	}
}

func TestWriterConcurrentWritesAllStored(t *testing.T) {
	f := &fakeInserter{}
	w := NewWriter(f, WriterOptions{BatchSize: 32, QueueSize: 64, FlushInterval: time.Millisecond, BlockTimeout: 5 * time.Second, Logger: quietLogger()})
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			writeN(w, fmt.Sprintf("g%d-", g), 200)
		}()
	}
	wg.Wait()
	closeWriter(t, w)
	if n, _ := f.stored(); n != 16*200 || w.Stats().Written != 16*200 {
		t.Errorf("stored %d, stats %+v; want %d", n, w.Stats(), 16*200)
	}
}

// BenchmarkWriterWrite measures the cost Write adds to the request path.
func BenchmarkWriterWrite(b *testing.B) {
	f := &fakeInserter{}
	w := NewWriter(f, WriterOptions{BlockTimeout: time.Minute, Logger: quietLogger()})
	r := Record{Login: "alice@example.com", Model: "gpt-5", Time: time.Now()}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		w.Write(r)
	}
	b.StopTimer()
	_ = w.Close(context.Background())
}
