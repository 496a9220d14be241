package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// durableQueue is how many WriteDurable records may wait for the Writer's
// goroutine to take them; more callers wait to send, bounded by their
// context.
const durableQueue = 1024

// ErrNotKept is WriteDurable's error when its record was neither stored
// nor spooled.
var ErrNotKept = errors.New("the request record was neither stored in the database nor kept in the spool")

// errWriterClosed reports a record refused or abandoned by a closed Writer.
var errWriterClosed = errors.New("the request log writer is closed")

// durableWrite is one WriteDurable call on its way to the Writer's
// goroutine: the record and where to say how its batch went.
type durableWrite struct {
	rec Record
	ack chan error
}

// waiter is a WriteDurable call whose record is in the batch being built.
type waiter struct {
	id  string
	ack chan error
}

// WriteDurable stores r and returns once it is committed to the database
// or appended (fsynced) to the spool: what a gateway that promises "no
// answer without its record" waits for before it completes an answer.
// It returns an error wrapping ErrNotKept when the record could be kept in
// neither, and ctx's error when ctx ends first (the record may still be
// kept later).
//
// A waiting record does not wait for FlushInterval: the Writer flushes at
// once, taking with it every record queued by then, so concurrent callers
// share one commit (group commit), and those that arrive during a commit
// share the next. With a spool, a batch someone waits for gets one try at
// the database, bounded by DurableInsertTimeout, and goes to the spool on
// failure without the retries Write's batches get.
func (w *Writer) WriteDurable(ctx context.Context, r Record) error {
	if r.ID == "" {
		r.ID = NewID(time.Now())
	}
	ack := make(chan error, 1)
	if err := w.sendDurable(ctx, &durableWrite{rec: r, ack: ack}); err != nil {
		return err
	}
	select {
	case err := <-ack:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *Writer) sendDurable(ctx context.Context, d *durableWrite) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.drop(1, "writer closed")
		return fmt.Errorf("%w: %w", ErrNotKept, errWriterClosed)
	}
	select {
	case w.durable <- d:
		w.queued.Add(1)
		return nil
	case <-ctx.Done():
		// The Writer is stuck: the record still goes where Write's
		// records go, but the caller learns it is not known to be kept.
		p := recordPool.Get().(*Record)
		*p = d.rec
		select {
		case w.ch <- p:
			w.queued.Add(1)
		default:
			release(p)
			if w.spool != nil {
				w.overflow(d.rec)
			} else {
				w.drop(1, "queue full")
			}
		}
		return ctx.Err()
	}
}

// acknowledge tells the waiters of a flushed batch how it went: err for
// the whole batch, or, without a spool, the IDs of the records the
// database refused even one at a time.
func (w *Writer) acknowledge(waiters []waiter, failed []string, err error) {
	for _, wt := range waiters {
		e := err
		switch {
		case e != nil:
			e = fmt.Errorf("%w: %w", ErrNotKept, e)
		case slices.Contains(failed, wt.id):
			e = fmt.Errorf("%w: the database refused it", ErrNotKept)
		}
		wt.ack <- e
	}
}
