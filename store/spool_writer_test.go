package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// flakyInserter is a database that fails on demand: while down, every
// insert fails as an unreachable database would; refuse, when set, fails
// every insert holding a record it names.
type flakyInserter struct {
	Inserter
	down   atomic.Bool
	refuse func(Record) bool
}

var errInjected = errors.New("injected: database unavailable")

func (f *flakyInserter) Insert(ctx context.Context, recs []Record) error {
	if f.down.Load() {
		return errInjected
	}
	for _, r := range recs {
		if f.refuse != nil && f.refuse(r) {
			return errors.New("injected: value rejected")
		}
	}
	return f.Inserter.Insert(ctx, recs)
}

func openSQLite(t *testing.T, path string) *sqlStore {
	t.Helper()
	st, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st.(*sqlStore)
}

// rowCounts returns how many rows the requests table holds and how many
// times each ID appears.
func rowCounts(t *testing.T, st *sqlStore) (rows int, perID map[string]int) {
	t.Helper()
	rs, err := st.db.Query("SELECT id FROM requests")
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	perID = map[string]int{}
	for rs.Next() {
		var id string
		if err := rs.Scan(&id); err != nil {
			t.Fatal(err)
		}
		rows++
		perID[id]++
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return rows, perID
}

// assertOneRowEach fails unless the table holds exactly one row for each
// of ids and no other.
func assertOneRowEach(t *testing.T, st *sqlStore, ids []string) {
	t.Helper()
	rows, perID := rowCounts(t, st)
	var missing []string
	for _, id := range ids {
		if perID[id] != 1 {
			missing = append(missing, fmt.Sprintf("%s×%d", id, perID[id]))
		}
	}
	if rows != len(ids) || len(missing) > 0 {
		if len(missing) > 10 {
			missing = append(missing[:10], "…")
		}
		t.Fatalf("%d rows for %d requests; not exactly once: %v", rows, len(ids), missing)
	}
}

// waitDrained waits until nothing is queued or spooled and the log is ok.
func waitDrained(t *testing.T, w *Writer, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s := w.Stats()
		if s.Pending == 0 && s.SpoolRecords == 0 && s.State == LogOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not drained within %v: %+v", within, s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func spoolWriterOptions(sp *Spool) WriterOptions {
	return WriterOptions{BatchSize: 64, FlushInterval: 5 * time.Millisecond, QueueSize: 256, BlockTimeout: time.Millisecond,
		Retries: 1, RetryBackoff: 5 * time.Millisecond, ReplayMaxBackoff: 50 * time.Millisecond, Spool: sp, Logger: quietLogger()}
}

// writeParallel writes n records named prefix0..prefixN-1 from 4
// goroutines and returns their IDs.
func writeParallel(w *Writer, prefix string, n int) []string {
	ids := make([]string, n)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 4 {
				ids[i] = fmt.Sprintf("%s%05d", prefix, i)
				w.Write(Record{ID: ids[i], Time: time.Now(), Login: "alice@example.com", Status: 200})
			}
		}()
	}
	wg.Wait()
	return ids
}

// TestWriterSpoolsThroughDatabaseOutage takes SQLite away (every insert
// fails) in the middle of a load and brings it back: every record is
// stored exactly once, none is dropped, and the spool is left empty.
func TestWriterSpoolsThroughDatabaseOutage(t *testing.T) {
	dir := t.TempDir()
	st := openSQLite(t, filepath.Join(dir, "log.db"))
	db := &flakyInserter{Inserter: st}
	sp := openTestSpool(t, filepath.Join(dir, "spool"), SpoolOptions{SegmentBytes: 64 << 10})
	w := NewWriter(db, spoolWriterOptions(sp))

	ids := writeParallel(w, "before", 1000)
	db.down.Store(true)
	ids = append(ids, writeParallel(w, "during", 1000)...)
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := w.Stats(); s.State != LogSpooling || s.SpoolRecords == 0 || w.Healthy() != nil {
		t.Errorf("during the outage: %+v, Healthy %v; want spooling and healthy", s, w.Healthy())
	}
	time.Sleep(100 * time.Millisecond) // a few failed replay attempts
	db.down.Store(false)
	ids = append(ids, writeParallel(w, "after", 1000)...)
	waitDrained(t, w, 20*time.Second)
	closeWriter(t, w)

	assertOneRowEach(t, st, ids)
	s := w.Stats()
	if s.Dropped != 0 || s.Lost != 0 || s.Failed != 0 || s.Spooled == 0 || s.Replayed < s.Spooled {
		t.Errorf("stats %+v; want nothing dropped or lost and every spooled record replayed", s)
	}
	if files := segmentFiles(t, sp.Dir()); len(files) != 0 {
		t.Errorf("segments left after every record was stored: %v", files)
	}
}

// TestWriterReplaysSpoolAfterRestart stops the gateway while the database
// is down, starts it again with the database back, and finds every record
// once: the spooled ones (some of which were already stored, as after a
// crash between insert and deletion) and those written after the restart.
func TestWriterReplaysSpoolAfterRestart(t *testing.T) {
	dir := t.TempDir()
	st := openSQLite(t, filepath.Join(dir, "log.db"))
	db := &flakyInserter{Inserter: st}
	spoolDir := filepath.Join(dir, "spool")
	sp, err := OpenSpool(spoolDir, SpoolOptions{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	db.down.Store(true)
	w := NewWriter(db, spoolWriterOptions(sp))
	ids := writeParallel(w, "old", 500)
	closeWriter(t, w)
	sp.Close()
	if rows, _ := rowCounts(t, st); rows != 0 {
		t.Fatalf("%d rows stored while the database was down", rows)
	}
	// Some spooled records made it to the database before the crash.
	var early []Record
	for _, id := range ids[:20] {
		early = append(early, Record{ID: id, Time: time.Now()})
	}
	if err := st.Insert(context.Background(), early); err != nil {
		t.Fatal(err)
	}

	db.down.Store(false)
	sp = openTestSpool(t, spoolDir, SpoolOptions{})
	if sp.Records() != 500 {
		t.Fatalf("reopened spool holds %d records, want 500", sp.Records())
	}
	w = NewWriter(db, spoolWriterOptions(sp))
	if s := w.Stats(); s.State != LogSpooling && s.State != LogOK {
		t.Errorf("state at start %v", s.State)
	}
	ids = append(ids, writeParallel(w, "new", 300)...)
	waitDrained(t, w, 20*time.Second)
	closeWriter(t, w)
	assertOneRowEach(t, st, ids)
}

// TestWriterFailsWhenSpoolFull: with the database down and the spool at
// its bound, records are lost, counted and logged, and Healthy says why;
// once the database is back the spool drains and Healthy clears.
func TestWriterFailsWhenSpoolFull(t *testing.T) {
	dir := t.TempDir()
	st := openSQLite(t, filepath.Join(dir, "log.db"))
	db := &flakyInserter{Inserter: st}
	db.down.Store(true)
	sp := openTestSpool(t, filepath.Join(dir, "spool"), SpoolOptions{MaxBytes: 16 << 10})
	var logs syncBuffer
	o := spoolWriterOptions(sp)
	o.Logger = logs.logger()
	w := NewWriter(db, o)
	const n = 400
	writeParallel(w, "r", n)
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := w.Stats()
	if s.Lost == 0 || s.Spooled+s.Lost != n || s.State != LogFailing {
		t.Fatalf("stats %+v; want records past the bound lost and every record spooled or lost", s)
	}
	var lf *LogFailure
	if err := w.Healthy(); !errors.As(err, &lf) || !strings.Contains(err.Error(), "size bound") || !errors.Is(err, ErrSpoolFull) {
		t.Errorf("Healthy = %v; want a LogFailure naming the spool's size bound", err)
	}
	if !strings.Contains(logs.String(), "LOST") || !strings.Contains(logs.String(), "r0") {
		t.Errorf("lost records not logged loudly with their IDs:\n%.2000s", logs.String())
	}
	spooled := s.Spooled
	db.down.Store(false)
	waitDrained(t, w, 20*time.Second)
	if err := w.Healthy(); err != nil {
		t.Errorf("Healthy after the spool drained = %v", err)
	}
	closeWriter(t, w)
	if rows, _ := rowCounts(t, st); int64(rows) != spooled {
		t.Errorf("%d rows, want the %d spooled records", rows, spooled)
	}
}

// TestWriterSpoolSkipsRecordDatabaseRefuses: one record the database
// refuses whatever happens must not hold up the records behind it.
func TestWriterSpoolSkipsRecordDatabaseRefuses(t *testing.T) {
	dir := t.TempDir()
	st := openSQLite(t, filepath.Join(dir, "log.db"))
	db := &flakyInserter{Inserter: st, refuse: func(r Record) bool { return r.ID == "poison" }}
	sp := openTestSpool(t, filepath.Join(dir, "spool"), SpoolOptions{})
	var logs syncBuffer
	o := spoolWriterOptions(sp)
	o.Logger = logs.logger()
	w := NewWriter(db, o)
	var ids []string
	for i := range 100 {
		id := fmt.Sprintf("ok%03d", i)
		if i == 50 {
			id = "poison"
		} else {
			ids = append(ids, id)
		}
		w.Write(Record{ID: id, Time: time.Now()})
	}
	waitDrained(t, w, 20*time.Second)
	closeWriter(t, w)
	assertOneRowEach(t, st, ids)
	if s := w.Stats(); s.Failed != 1 || s.Lost != 0 {
		t.Errorf("stats %+v; want the poison record failed and nothing lost", s)
	}
	if !strings.Contains(logs.String(), "poison") {
		t.Errorf("refused record not logged with its ID:\n%.2000s", logs.String())
	}
}

// TestWriterQueueFullGoesToSpool: a database slower than the traffic fills
// the queue; records that find it full are spooled, not dropped.
func TestWriterQueueFullGoesToSpool(t *testing.T) {
	f := &fakeInserter{gate: make(chan struct{})}
	sp := openTestSpool(t, t.TempDir(), SpoolOptions{})
	o := spoolWriterOptions(sp)
	o.QueueSize, o.BatchSize = 4, 2
	w := NewWriter(f, o)
	for i := range 100 {
		if !w.Write(Record{ID: fmt.Sprint(i)}) {
			t.Fatalf("Write %d refused with a working spool", i)
		}
	}
	if s := w.Stats(); s.Spooled == 0 || s.Dropped != 0 {
		t.Errorf("stats %+v; want records past the full queue spooled", s)
	}
	close(f.gate)
	waitDrained(t, w, 20*time.Second)
	closeWriter(t, w)
	if n, _ := f.stored(); n != 100 {
		t.Errorf("%d records stored, want 100", n)
	}
}

// syncBuffer is a log sink safe for the Writer's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(s, nil)) }

// TestWriterCloseSpoolsWhatItCannotStore: a Close that gives up on a hung
// database keeps the queued records in the spool instead of dropping them.
func TestWriterCloseSpoolsWhatItCannotStore(t *testing.T) {
	f := &fakeInserter{gate: make(chan struct{})} // never opens
	dir := t.TempDir()
	sp := openTestSpool(t, dir, SpoolOptions{})
	o := spoolWriterOptions(sp)
	o.FlushInterval = time.Hour
	w := NewWriter(f, o)
	writeN(w, "r", 5)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := w.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want DeadlineExceeded", err)
	}
	if s := w.Stats(); s.Dropped != 0 || s.Spooled != 5 || sp.Records() != 5 {
		t.Errorf("stats %+v, spool %d; want the 5 records spooled for the next start", s, sp.Records())
	}
}

// BenchmarkWriterWriteWithSpool measures Write as the gateway runs it,
// with a spool behind a healthy database: the spool must cost the request
// path nothing.
func BenchmarkWriterWriteWithSpool(b *testing.B) {
	f := &fakeInserter{}
	sp, err := OpenSpool(b.TempDir(), SpoolOptions{Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer sp.Close()
	w := NewWriter(f, WriterOptions{BlockTimeout: time.Minute, Spool: sp, Logger: quietLogger()})
	r := Record{Login: "alice@example.com", Model: "gpt-5", Time: time.Now()}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		w.Write(r)
	}
	b.StopTimer()
	_ = w.Close(context.Background())
}
