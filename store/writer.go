package store

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// WriterOptions tunes a Writer. Zero values take the defaults.
type WriterOptions struct {
	// BatchSize flushes once this many records wait (default 1024).
	BatchSize int
	// FlushInterval flushes whatever waits at least this often (default
	// 250ms).
	FlushInterval time.Duration
	// QueueSize bounds the records waiting for a flush (default 16384).
	QueueSize int
	// BlockTimeout is how long Write waits for room in a full queue before
	// it drops the record (default 100ms).
	BlockTimeout time.Duration
	// Retries is how many times a failed batch is retried, with doubling
	// pauses from RetryBackoff (defaults 4 and 100ms; a negative Retries
	// means none), before its records are tried one by one.
	Retries      int
	RetryBackoff time.Duration
	// InsertTimeout bounds one insert (default 30s).
	InsertTimeout time.Duration
	// Logger receives drop and failure reports (default slog.Default()).
	Logger *slog.Logger
}

func (o *WriterOptions) defaults() {
	if o.BatchSize <= 0 {
		o.BatchSize = 1024
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 250 * time.Millisecond
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 16384
	}
	if o.BlockTimeout <= 0 {
		o.BlockTimeout = 100 * time.Millisecond
	}
	if o.Retries < 0 {
		o.Retries = 0
	} else if o.Retries == 0 {
		o.Retries = 4
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = 100 * time.Millisecond
	}
	if o.InsertTimeout <= 0 {
		o.InsertTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Writer stores records asynchronously in batches, so the request path
// never waits for the database. One goroutine drains a bounded queue and
// inserts a batch when BatchSize records wait or FlushInterval passes.
//
// When the queue is full (the database is slower than the traffic for
// longer than the queue lasts), Write waits up to BlockTimeout for room:
// the gateway calls Write after the response has been sent, so the wait
// holds only the handler's goroutine, never the client, and it is bounded.
// A record that still finds no room is dropped: never silently, it is
// counted in Stats().Dropped and logged (at most once a second, with the
// running count). Spilling to disk instead was rejected: when the database
// cannot keep up, a second local write path would compete for the same
// disk, and an unbounded spill only moves the failure.
//
// A batch that fails is retried with backoff; if it still fails, its
// records are inserted one at a time, so one bad record cannot take its
// batch with it. Records that fail even alone are counted in
// Stats().Failed and logged.
type Writer struct {
	st   Inserter
	o    WriterOptions
	ch   chan Record
	kick chan chan struct{}

	mu     sync.RWMutex // held for reading while sending on ch
	closed bool

	ctx    context.Context // cancelled when Close gives up waiting
	cancel context.CancelFunc
	done   chan struct{}

	queued, written, dropped, failed, batches atomic.Int64
	lastDropLog                               atomic.Int64 // unix nanos
}

// WriterStats counts what a Writer did.
type WriterStats struct {
	// Queued counts records accepted by Write.
	Queued int64
	// Written counts records the store accepted.
	Written int64
	// Dropped counts records refused by Write because the queue stayed
	// full or the Writer was closed, plus those still queued when Close
	// gave up.
	Dropped int64
	// Failed counts records the store refused even one at a time.
	Failed int64
	// Batches counts successful batch inserts.
	Batches int64
	// Pending is how many records wait in the queue now.
	Pending int
}

// NewWriter starts a Writer over st. Close it to flush and stop.
func NewWriter(st Inserter, o WriterOptions) *Writer {
	o.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	w := &Writer{
		st:     st,
		o:      o,
		ch:     make(chan Record, o.QueueSize),
		kick:   make(chan chan struct{}),
		ctx:    ctx,
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go w.run()
	return w
}

// Write queues r for storage. It returns at once unless the queue is full,
// and then within BlockTimeout; it reports whether r was queued.
func (w *Writer) Write(r Record) bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.drop(1, "writer closed")
		return false
	}
	select {
	case w.ch <- r:
		w.queued.Add(1)
		return true
	default:
	}
	t := time.NewTimer(w.o.BlockTimeout)
	defer t.Stop()
	select {
	case w.ch <- r:
		w.queued.Add(1)
		return true
	case <-t.C:
		w.drop(1, "queue full")
		return false
	}
}

func (w *Writer) drop(n int64, why string) {
	total := w.dropped.Add(n)
	now := time.Now().UnixNano()
	last := w.lastDropLog.Load()
	if now-last >= int64(time.Second) && w.lastDropLog.CompareAndSwap(last, now) {
		w.o.Logger.Error("store: request records dropped", slog.String("reason", why), slog.Int64("dropped_total", total))
	}
}

// Flush stores everything queued before the call and returns when it is
// stored (or failed), or when ctx ends.
func (w *Writer) Flush(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case w.kick <- done:
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting records, stores everything queued and returns when
// done. If ctx ends first, pending inserts are abandoned, the records not
// stored are counted as dropped, and Close returns ctx's error.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.ch)
	}
	w.mu.Unlock()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		w.cancel()
		<-w.done
		return ctx.Err()
	}
}

// Stats returns the Writer's counters.
func (w *Writer) Stats() WriterStats {
	return WriterStats{
		Queued:  w.queued.Load(),
		Written: w.written.Load(),
		Dropped: w.dropped.Load(),
		Failed:  w.failed.Load(),
		Batches: w.batches.Load(),
		Pending: len(w.ch),
	}
}

func (w *Writer) run() {
	defer close(w.done)
	defer w.cancel()
	tick := time.NewTicker(w.o.FlushInterval)
	defer tick.Stop()
	batch := make([]Record, 0, w.o.BatchSize)
	flush := func() {
		if len(batch) > 0 {
			w.store(batch)
			batch = batch[:0]
		}
	}
	for {
		select {
		case r, ok := <-w.ch:
			if !ok {
				flush()
				return
			}
			batch = append(batch, r)
			if len(batch) >= w.o.BatchSize {
				flush()
			}
		case <-tick.C:
			flush()
		case done := <-w.kick:
			// Take what was queued before the Flush call, bounded by
			// the queue's length now.
			for n := len(w.ch); n > 0; n-- {
				r, ok := <-w.ch
				if !ok {
					break
				}
				batch = append(batch, r)
				if len(batch) >= w.o.BatchSize {
					flush()
				}
			}
			flush()
			close(done)
		}
	}
}

// store inserts one batch, retrying, then falling back to one record at a
// time.
func (w *Writer) store(batch []Record) {
	if w.ctx.Err() != nil {
		w.drop(int64(len(batch)), "writer closed before the records were stored")
		return
	}
	err := w.insert(batch)
	pause := w.o.RetryBackoff
	for attempt := 0; err != nil && attempt < w.o.Retries && w.ctx.Err() == nil; attempt++ {
		w.o.Logger.Warn("store: batch insert failed, retrying", slog.Int("records", len(batch)),
			slog.Int("attempt", attempt+1), slog.Any("error", err))
		select {
		case <-time.After(pause):
		case <-w.ctx.Done():
		}
		pause *= 2
		err = w.insert(batch)
	}
	if err == nil {
		w.written.Add(int64(len(batch)))
		w.batches.Add(1)
		return
	}
	if w.ctx.Err() != nil {
		w.drop(int64(len(batch)), "writer closed before the records were stored")
		return
	}
	var failed []string
	var firstErr error
	for i := range batch {
		if err := w.insert(batch[i : i+1]); err != nil {
			failed = append(failed, batch[i].ID)
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		w.written.Add(1)
	}
	if len(failed) > 0 {
		w.failed.Add(int64(len(failed)))
		w.o.Logger.Error("store: request records not stored", slog.Int("records", len(failed)),
			slog.Any("request_ids", failed), slog.Any("error", firstErr))
	}
}

func (w *Writer) insert(recs []Record) error {
	ctx, cancel := context.WithTimeout(w.ctx, w.o.InsertTimeout)
	defer cancel()
	err := w.st.Insert(ctx, recs)
	if err != nil && errors.Is(err, context.Canceled) && w.ctx.Err() != nil {
		return w.ctx.Err()
	}
	return err
}
