// Package logbuf gathers log lines into fewer writes.
//
// A gateway's access log is one line per request: written one by one, it
// is one system call per request, several microseconds of a busy
// processor's time at thousands of requests a second. A Writer holds
// such lines for a short interval (or until it holds maxBuffered bytes)
// and writes them with one call, as nginx does with a buffered access
// log. Lines written through the Writer itself, such as warnings and
// errors, are written at once, after whatever is held, so the output
// keeps the order in which lines were logged.
package logbuf

import (
	"io"
	"sync"
	"time"
)

// maxBuffered is how many bytes of held lines make a Writer write them
// without waiting for its interval: about 250 access lines.
const maxBuffered = 64 << 10

// Writer writes to an underlying writer, either at once (Write) or held
// for a while with other lines (Buffered). It is safe for concurrent use;
// each Write and each line of Buffered reaches the underlying writer
// whole, never interleaved with another.
type Writer struct {
	interval time.Duration

	mu    sync.Mutex
	out   io.Writer
	buf   []byte
	timer *time.Timer // flushes buf interval after it stopped being empty
	armed bool        // the timer is set to fire
}

// New returns a Writer over out that holds buffered lines for at most
// interval. With interval ≤ 0 nothing is held: Buffered writes at once.
func New(out io.Writer, interval time.Duration) *Writer {
	w := &Writer{out: out, interval: interval}
	if interval > 0 {
		w.timer = time.AfterFunc(time.Hour, w.flushTimer)
		w.timer.Stop()
	}
	return w
}

// Write writes p at once, after any held lines.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushLocked()
	return w.out.Write(p)
}

// Buffered returns a writer whose writes (each a whole line, as a
// log handler makes them) are held for up to the Writer's interval and
// then written together.
func (w *Writer) Buffered() io.Writer {
	if w.interval <= 0 {
		return w
	}
	return buffered{w}
}

type buffered struct{ w *Writer }

func (b buffered) Write(p []byte) (int, error) {
	w := b.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf)+len(p) > maxBuffered {
		w.flushLocked()
	}
	if len(p) >= maxBuffered {
		return w.out.Write(p)
	}
	w.buf = append(w.buf, p...)
	if !w.armed {
		w.armed = true
		w.timer.Reset(w.interval)
	}
	return len(p), nil
}

// Flush writes the held lines now. Call it before the process exits.
func (w *Writer) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushLocked()
}

func (w *Writer) flushTimer() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed = false
	w.flushLocked()
}

// flushLocked writes the held lines. A failed write loses them, as it
// would have lost each line written alone: a log has nowhere to report
// that its own output failed.
func (w *Writer) flushLocked() {
	if len(w.buf) == 0 {
		return
	}
	w.out.Write(w.buf) //nolint:errcheck // see above
	if cap(w.buf) > maxBuffered {
		w.buf = nil
	} else {
		w.buf = w.buf[:0]
	}
}
