package export

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sluice-gateway/sluice/store"
)

// Sink is a destination of batches. Store must be idempotent per batch:
// storing a batch again (after a crash before its cursor moved) leaves the
// destination as one store would, or, for a destination that cannot
// overwrite (an HTTP collector), sends records the receiver can tell apart
// by their seq.
type Sink interface {
	// Name is the exporter's cursor name ("s3", "http").
	Name() string
	Store(ctx context.Context, b Batch) error
}

// Options configures an Exporter.
type Options struct {
	// Every is the time between export cycles (DefaultEvery when 0).
	Every time.Duration
	// Limit is the records one batch holds at most (DefaultLimit when 0).
	Limit int
	// Now is the clock (time.Now when nil).
	Now    func() time.Time
	Logger *slog.Logger
	// Metrics, when set, counts what the exporter does.
	Metrics *Metrics

	// afterStore, in tests, runs between a batch's store and its cursor
	// commit; an error stands for a crash there.
	afterStore func(Batch) error
}

// Defaults of Options.
const (
	DefaultEvery = 60 * time.Second
	DefaultLimit = 1000
)

// Exporter moves the request log to one Sink, batch after batch, each
// batch stored before the cursor moves past it (see store.ExportLog).
type Exporter struct {
	log  store.ExportLog
	sink Sink
	o    Options

	mu   sync.Mutex // one cycle at a time
	stop chan struct{}
	done chan struct{}
	lock *store.ExportLock // set while this process holds the exporter's lock
}

// New returns an exporter of log to sink.
func New(log store.ExportLog, sink Sink, o Options) *Exporter {
	if o.Every <= 0 {
		o.Every = DefaultEvery
	}
	if o.Limit <= 0 {
		o.Limit = DefaultLimit
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Exporter{log: log, sink: sink, o: o}
}

// Name is the sink's name.
func (e *Exporter) Name() string { return e.sink.Name() }

// Export stores every batch pending now, and returns how many records it
// stored. It stops at the first failure, leaving the cursor on the batch
// that failed: the next call stores that batch again.
func (e *Exporter) Export(ctx context.Context) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	total := 0
	for {
		n, more, err := e.exportBatch(ctx)
		total += n
		if err != nil {
			e.o.Metrics.failed(e.Name())
			return total, fmt.Errorf("export %s: %w", e.Name(), err)
		}
		if !more {
			e.o.Metrics.caughtUp(e.Name(), e.o.Now())
			return total, nil
		}
	}
}

// exportBatch stores one batch; more is false when there was none.
func (e *Exporter) exportBatch(ctx context.Context) (n int, more bool, err error) {
	name := e.Name()
	cur, err := e.log.ExportCursor(ctx, name)
	if err != nil {
		return 0, false, err
	}
	b := Batch{First: cur.Done + 1, Last: cur.Pending, Cut: cur.PendingAt}
	if cur.Pending <= cur.Done {
		last, err := e.log.LastExportNumber(ctx)
		if err != nil {
			return 0, false, err
		}
		if last-cur.Done < int64(e.o.Limit) {
			if _, err := e.log.NumberForExport(ctx, e.o.Limit); err != nil {
				return 0, false, err
			}
			if last, err = e.log.LastExportNumber(ctx); err != nil {
				return 0, false, err
			}
		}
		e.o.Metrics.lag(name, last-cur.Done)
		if last <= cur.Done {
			return 0, false, nil
		}
		b.Last = min(last, cur.Done+int64(e.o.Limit))
		b.Cut = e.o.Now().UTC().Truncate(time.Microsecond)
		if err := e.log.BeginExport(ctx, name, cur.Done, b.Last, b.Cut); err != nil {
			return 0, false, err
		}
	}
	rows, err := e.log.ExportRows(ctx, cur.Done, b.Last)
	if err != nil {
		return 0, false, err
	}
	b.Records = make([]Record, len(rows))
	for i, r := range rows {
		b.Records[i] = FromRow(r)
	}
	if err := e.sink.Store(ctx, b); err != nil {
		return 0, false, err
	}
	if e.o.afterStore != nil {
		if err := e.o.afterStore(b); err != nil {
			return 0, false, err
		}
	}
	if err := e.log.CommitExport(ctx, name, cur.Done, b.Last); err != nil {
		return 0, false, err
	}
	e.o.Metrics.stored(name, len(b.Records))
	return len(b.Records), true, nil
}

// Start runs export cycles every Options.Every until Close. With several
// gateways on one PostgreSQL database, only the one holding the
// exporter's lock exports; the others try to take it every cycle, so one
// takes over within a cycle when the holder dies.
func (e *Exporter) Start(ctx context.Context) {
	e.stop, e.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(e.done)
		t := time.NewTicker(e.o.Every)
		defer t.Stop()
		for {
			e.cycle(ctx)
			select {
			case <-ctx.Done():
				return
			case <-e.stop:
				return
			case <-t.C:
			}
		}
	}()
}

// cycle takes the lock if it is not held yet, then exports.
func (e *Exporter) cycle(ctx context.Context) {
	if !e.holdLock(ctx) {
		return
	}
	if n, err := e.Export(ctx); err != nil {
		if ctx.Err() == nil {
			e.o.Logger.Error("export failed; the cursor stays and the next cycle retries", "exporter", e.Name(), "records", n, "error", err)
		}
	} else if n > 0 {
		e.o.Logger.Info("exported", "exporter", e.Name(), "records", n)
	}
}

// holdLock reports whether this process holds the exporter's lock,
// taking it when free.
func (e *Exporter) holdLock(ctx context.Context) bool {
	if e.lock != nil {
		err := e.lock.Check(ctx)
		if err == nil {
			return true
		}
		e.o.Logger.Warn("export lock lost; taking it again", "exporter", e.Name(), "error", err)
		e.lock.Release()
		e.lock = nil
	}
	lock, err := e.log.LockExport(ctx, e.Name())
	switch {
	case errors.Is(err, store.ErrExportLocked):
		e.o.Metrics.standby(e.Name(), true)
		return false
	case err != nil:
		e.o.Logger.Error("export lock", "exporter", e.Name(), "error", err)
		e.o.Metrics.failed(e.Name())
		return false
	}
	e.o.Metrics.standby(e.Name(), false)
	e.lock = lock
	return true
}

// Close stops the cycles, then, when this process is the exporter, exports
// what is pending (the gateway calls it after the request log is flushed,
// so the last requests leave too) and releases the lock.
func (e *Exporter) Close(ctx context.Context) error {
	if e.stop != nil {
		close(e.stop)
		<-e.done
		e.stop = nil
	}
	if !e.holdLock(ctx) {
		return nil
	}
	_, err := e.Export(ctx)
	e.lock.Release()
	e.lock = nil
	return err
}
