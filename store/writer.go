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
	// The queue holds pointers to records taken from a pool and returned
	// as soon as the Writer has them, so an idle Writer keeps a few
	// hundred kilobytes rather than room for QueueSize records.
	QueueSize int
	// QueueBytes bounds the memory of the records waiting for a flush and
	// of the batch being stored, as Record.memSize estimates it (default
	// 8 MB): the queue is full when either bound is reached. A record
	// averages about 1.3 KB, so at the default the count bound is reached
	// first; the byte bound holds records with raw bodies, and a queue
	// that a saturated processor fills faster than the Writer stores, to
	// a known share of the heap (the heap grows to twice what is live, so
	// 16,384 queued records would hold some 40 MB resident). A record
	// larger than QueueBytes is still taken when nothing else waits.
	QueueBytes int64
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

	// Spool, when set, keeps what the database cannot take (see Writer).
	// The Writer reads and appends to it; its opener closes it after the
	// Writer's Close.
	Spool *Spool
	// ReplayMaxBackoff bounds the pause between attempts to store spooled
	// records while the database keeps failing (default 5s); the pause
	// starts at RetryBackoff and doubles.
	ReplayMaxBackoff time.Duration
	// DurableInsertTimeout bounds the database insert of a batch that
	// WriteDurable calls wait for (default 2s). With a spool, such a
	// batch is not retried: on any error, or past this bound, it goes
	// to the spool at once, so the waiting answers are held no longer.
	DurableInsertTimeout time.Duration
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
	if o.QueueBytes <= 0 {
		o.QueueBytes = 8 << 20
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
	if o.ReplayMaxBackoff <= 0 {
		o.ReplayMaxBackoff = 5 * time.Second
	}
	if o.DurableInsertTimeout <= 0 {
		o.DurableInsertTimeout = 2 * time.Second
	}
}

// Writer stores records asynchronously in batches, so the request path
// never waits for the database. One goroutine drains a bounded queue and
// inserts a batch when BatchSize records wait or FlushInterval passes.
//
// When the queue is full (the database is slower than the traffic for
// longer than the queue lasts), by count or by bytes, Write waits up to BlockTimeout for room:
// the gateway calls Write after the response has been sent, so the wait
// holds only the handler's goroutine, never the client, and it is bounded.
// A batch that fails is retried with backoff.
//
// With a Spool (the gateway always gives one), nothing the database cannot
// take is dropped: a batch that still fails after its retries, and a record
// that finds the queue full, is appended to the spool (fsynced) instead.
// While the spool holds records, new batches are appended behind them, so
// records reach the database in the order they were kept; one goroutine
// stores them from the spool's head in batches, pausing with doubling
// backoff (RetryBackoff up to ReplayMaxBackoff) while the database keeps
// failing, and deletes each segment once its records are stored. Inserts
// skip IDs already stored, so a record stored twice (a crash between insert
// and deletion, or a timeout whose insert did commit) is one row. A spooled
// batch the database refuses while it stores other records is inserted one
// record at a time, so one bad record cannot hold up the spool: a record
// that fails alone twice while others are stored is counted in
// Stats().Failed and logged with its ID.
//
// When neither the database nor the spool can take a record (the disk is
// full, or the spool is at its bound), the record is lost: counted in
// Stats().Lost and logged with its request ID, and Healthy reports the
// failure until the spool can take records again or the database stores
// them, so the gateway can refuse new requests rather than serve them
// unrecorded.
//
// WriteDurable is the other way in, for a gateway that completes an answer
// only once its record is safe: it waits until the record is committed to
// the database or fsynced to the spool, and makes the Writer flush at once
// rather than at its next interval (see WriteDurable).
//
// Without a spool, a record that still finds no room in the queue is
// dropped: counted in Stats().Dropped and logged (at most once a second,
// with the running count); and a failed batch is inserted one record at a
// time, records failing even alone counted in Stats().Failed and logged.
type Writer struct {
	st Inserter
	o  WriterOptions
	// ch carries Write's records, each in a Record from recordPool that
	// the run loop copies into its batch and gives back at once.
	ch chan *Record
	// full wakes the Writer when a batch's worth of records waits, in ch
	// and in the batch the Writer holds (held). Records otherwise wait
	// for the next tick: waking the Writer for each one cost a goroutine
	// switch per request.
	full chan struct{}
	// held is how many records the run loop holds in its batch while it
	// waits, for wakeIfFull: a batch begun from ch, then topped up past a
	// batch's worth by Writes that each found fewer in ch, would
	// otherwise wait for the tick.
	held atomic.Int64
	// closing is closed by Close, after ch.
	closing chan struct{}
	kick    chan chan struct{}
	// durable carries the records of WriteDurable calls.
	durable chan *durableWrite

	mu sync.RWMutex // held for reading while sending on ch
	// queuedBytes is the estimated memory of the records sent on ch and
	// not yet stored (or spooled, or failed): Write adds a record's before
	// sending it, the run loop subtracts a batch's once it is flushed.
	queuedBytes atomic.Int64
	// room, when not nil, is closed by the run loop when it frees queued
	// bytes, waking the Writes waiting for room.
	roomMu sync.Mutex
	room   chan struct{}
	closed bool

	ctx    context.Context // cancelled when Close gives up waiting
	cancel context.CancelFunc
	done   chan struct{}

	queued, written, dropped, failed, batches atomic.Int64
	lastDropLog                               atomic.Int64 // unix nanos

	spool                   *Spool
	spoolKick               chan struct{} // an overflow append happened
	spooled, replayed, lost atomic.Int64
	state                   atomic.Int32 // a LogState
	health                  atomic.Pointer[LogFailure]
	rp                      *replayer // owned by run's goroutine
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
	// Pending is how many records wait in the queue now; PendingBytes
	// the estimated memory of those and of the batch being stored.
	Pending      int
	PendingBytes int64

	// Spooled counts records appended to the spool; Replayed those of
	// them stored since. Lost counts records neither stored nor spooled
	// (and spooled records that could not be read back).
	Spooled, Replayed, Lost int64
	// SpoolRecords and SpoolBytes are the spool's depth now: records
	// waiting in it and the size of its files.
	SpoolRecords, SpoolBytes int64
	// State is the request log's state now.
	State LogState
}

// NewWriter starts a Writer over st. Close it to flush and stop.
func NewWriter(st Inserter, o WriterOptions) *Writer {
	o.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	w := &Writer{
		st:      st,
		o:       o,
		ch:      make(chan *Record, o.QueueSize),
		full:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		durable: make(chan *durableWrite, durableQueue),
		kick:    make(chan chan struct{}),
		ctx:     ctx,
		cancel:  cancel,
		done:    make(chan struct{}),

		spool:     o.Spool,
		spoolKick: make(chan struct{}, 1),
	}
	if w.spool != nil && w.spool.Records() > 0 {
		w.state.Store(int32(LogSpooling))
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
	p := recordPool.Get().(*Record)
	*p = r
	size := p.memSize()
	if w.reserve(size) {
		select {
		case w.ch <- p:
			w.queued.Add(1)
			w.wakeIfFull()
			return true
		default:
			w.queuedBytes.Add(-size)
		}
	}
	if w.waitForRoom(p, size) {
		w.queued.Add(1)
		return true
	}
	release(p)
	if w.spool == nil {
		w.drop(1, "queue full")
		return false
	}
	return w.overflow(r)
}

// reserve counts size bytes more in the queue if they fit under
// QueueBytes, or if nothing else is queued (so that a record larger than
// the bound is still taken), and reports whether it did.
func (w *Writer) reserve(size int64) bool {
	after := w.queuedBytes.Add(size)
	if after <= w.o.QueueBytes || after == size {
		return true
	}
	w.queuedBytes.Add(-size)
	return false
}

// waitForRoom is Write's slow path: it wakes the Writer and waits up to
// BlockTimeout for room for p, by count and by bytes, and sends it.
func (w *Writer) waitForRoom(p *Record, size int64) bool {
	w.wake()
	t := time.NewTimer(w.o.BlockTimeout)
	defer t.Stop()
	for {
		// Taken before reserve: bytes freed after this point close it.
		room := w.roomSignal()
		if w.reserve(size) {
			select {
			case w.ch <- p:
				return true
			case <-t.C:
				w.queuedBytes.Add(-size)
				return false
			}
		}
		select {
		case <-room:
		case <-t.C:
			return false
		}
	}
}

// roomSignal returns a channel closed the next time the run loop frees
// queued bytes.
func (w *Writer) roomSignal() chan struct{} {
	w.roomMu.Lock()
	defer w.roomMu.Unlock()
	if w.room == nil {
		w.room = make(chan struct{})
	}
	return w.room
}

// freeBytes subtracts n stored (or spooled, or failed) bytes from the
// queue's count and wakes the Writes waiting for room.
func (w *Writer) freeBytes(n int64) {
	w.queuedBytes.Add(-n)
	w.roomMu.Lock()
	if w.room != nil {
		close(w.room)
		w.room = nil
	}
	w.roomMu.Unlock()
}

// recordPool holds the Records that carry Write's records through the
// queue. A channel of Records would keep its whole buffer (QueueSize
// times the size of a Record, 9 MB by default) for the Writer's life once
// traffic had filled it; pooled Records the Writer no longer needs are
// freed by the garbage collector.
var recordPool = sync.Pool{New: func() any { return new(Record) }}

// release clears p, so the pool holds no request's data, and returns it
// to the pool.
func release(p *Record) {
	*p = Record{}
	recordPool.Put(p)
}

// wakeIfFull wakes the Writer once a batch's worth of records waits, or
// half of QueueBytes.
func (w *Writer) wakeIfFull() {
	if len(w.ch)+int(w.held.Load()) >= w.o.BatchSize || w.queuedBytes.Load() >= w.o.QueueBytes/2 {
		w.wake()
	}
}

func (w *Writer) wake() {
	select {
	case w.full <- struct{}{}:
	default:
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
// stored (or spooled, or failed), or when ctx ends. Spooled records are
// stored later, by the replay loop.
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
// done. If ctx ends first, pending inserts are abandoned and Close returns
// ctx's error; the records not stored go to the spool (stored at the next
// start), or without one are counted as dropped. Records still in the
// spool stay there for the next start.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.ch)
		close(w.closing)
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
	st := WriterStats{
		Queued:       w.queued.Load(),
		Written:      w.written.Load(),
		Dropped:      w.dropped.Load(),
		Failed:       w.failed.Load(),
		Batches:      w.batches.Load(),
		Pending:      len(w.ch) + len(w.durable),
		PendingBytes: w.queuedBytes.Load(),

		Spooled:  w.spooled.Load(),
		Replayed: w.replayed.Load(),
		Lost:     w.lost.Load(),
		State:    LogState(w.state.Load()),
	}
	if w.spool != nil {
		st.SpoolRecords, st.SpoolBytes = w.spool.Records(), w.spool.Bytes()
	}
	return st
}

func (w *Writer) run() {
	defer close(w.done)
	defer w.cancel()
	tick := time.NewTicker(w.o.FlushInterval)
	defer tick.Stop()
	batch := make([]Record, 0, w.o.BatchSize)
	// waiters are the WriteDurable calls whose records are in batch.
	var waiters []waiter
	// batchBytes is the queued bytes (see reserve) of batch's records.
	var batchBytes int64
	flush := func() {
		if len(batch) == 0 {
			return
		}
		var err error
		var failed []string
		if w.spool != nil {
			err = w.keep(batch, len(waiters) > 0)
		} else {
			failed, err = w.store(batch)
		}
		if len(waiters) > 0 {
			w.acknowledge(waiters, failed, err)
			clear(waiters)
			waiters = waiters[:0]
		}
		// The batch's array stays for the next one; the records' strings
		// and bodies need not.
		clear(batch)
		batch = batch[:0]
		if batchBytes > 0 {
			w.freeBytes(batchBytes)
			batchBytes = 0
		}
	}
	// gather adds to batch, without waiting, the records queued now:
	// waiting ones first, then those of Write, up to what the queues
	// hold at the call.
	gather := func() {
		for n := len(w.durable); n > 0; n-- {
			d := <-w.durable
			batch = append(batch, d.rec)
			waiters = append(waiters, waiter{id: d.rec.ID, ack: d.ack})
			if len(batch) >= w.o.BatchSize {
				flush()
			}
		}
		for n := len(w.ch); n > 0; n-- {
			p, ok := <-w.ch
			if !ok {
				break
			}
			batch = append(batch, *p)
			batchBytes += p.memSize()
			release(p)
			if len(batch) >= w.o.BatchSize {
				flush()
			}
		}
	}
	w.rp = newReplayer(w)
	defer w.rp.timer.Stop()
	for {
		w.rp.arm()
		// Writes from now on count the batch held; those before this
		// saw an older count, so look at what they queued here.
		w.held.Store(int64(len(batch)))
		if len(batch) > 0 {
			w.wakeIfFull()
		}
		select {
		case <-w.rp.timer.C:
			w.rp.fired()
		case <-w.spoolKick:
			// An overflow append: arm() above schedules the replay.
		case d := <-w.durable:
			// Group commit: the waiting record and everything queued
			// with it now go in one batch, at once.
			batch = append(batch, d.rec)
			waiters = append(waiters, waiter{id: d.rec.ID, ack: d.ack})
			gather()
			flush()
		case <-w.closing:
			// No WriteDurable can send any more.
			gather()
			flush()
			return
		case <-w.full:
			gather()
			if w.queuedBytes.Load() >= w.o.QueueBytes/2 {
				// Records large enough to fill the byte bound before
				// a batch's count: store them now rather than at the
				// tick, so that Writes waiting for room get it.
				flush()
			}
		case <-tick.C:
			gather()
			flush()
		case done := <-w.kick:
			// Take what was queued before the Flush call, bounded by
			// the queue's length now.
			for n := len(w.ch); n > 0; n-- {
				p, ok := <-w.ch
				if !ok {
					break
				}
				batch = append(batch, *p)
				batchBytes += p.memSize()
				release(p)
				if len(batch) >= w.o.BatchSize {
					flush()
				}
			}
			flush()
			close(done)
		}
	}
}

// store inserts one batch without a spool, retrying, then falling back to
// one record at a time. It returns the IDs of the records not stored, or
// an error when none was.
func (w *Writer) store(batch []Record) (failed []string, err error) {
	if w.ctx.Err() != nil {
		w.drop(int64(len(batch)), "writer closed before the records were stored")
		return nil, errWriterClosed
	}
	err = w.insertRetrying(batch)
	if err == nil {
		w.written.Add(int64(len(batch)))
		w.batches.Add(1)
		return nil, nil
	}
	if w.ctx.Err() != nil {
		w.drop(int64(len(batch)), "writer closed before the records were stored")
		return nil, errWriterClosed
	}
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
	return failed, nil
}

func (w *Writer) insert(recs []Record) error {
	return w.insertWithin(recs, w.o.InsertTimeout)
}

func (w *Writer) insertWithin(recs []Record, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(w.ctx, timeout)
	defer cancel()
	err := w.st.Insert(ctx, recs)
	if err != nil && errors.Is(err, context.Canceled) && w.ctx.Err() != nil {
		return w.ctx.Err()
	}
	return err
}
