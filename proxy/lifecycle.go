package proxy

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// CutRecordTimeout is how long to Wait, after Cut, for the cut requests'
// records to reach the sink. A cut request only
// has to notice its cancelled upstream call and write its record, so this
// is short.
const CutRecordTimeout = 5 * time.Second

// Cut requests are recorded with this status and error: the gateway, not
// the client or the provider, ended them.
const (
	statusCutAtShutdown = http.StatusServiceUnavailable
	errCutAtShutdown    = "cut at shutdown"
)

// inflight counts the requests being served, so shutdown can wait for
// their records, and lists them, so Cut can end them.
// Unlike a sync.WaitGroup it may gain requests while someone waits (a
// keep-alive request that raced the listener's close).
type inflight struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed while n == 0
	// head is the list of tracked requests (in no particular order);
	// cut is set once Cut ran, after which requests are cut on arrival.
	head *tracking
	cut  bool
}

func newInflight() *inflight {
	f := &inflight{idle: make(chan struct{})}
	close(f.idle)
	return f
}

// add counts t in and lists it, or reports false once the requests were
// cut: the caller then cancels it at once.
func (f *inflight) add(t *tracking) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 {
		f.idle = make(chan struct{})
	}
	f.n++
	if f.cut {
		return false
	}
	t.next = f.head
	if f.head != nil {
		f.head.prev = t
	}
	f.head = t
	t.listed = true
	return true
}

// done counts t out and unlists it.
func (f *inflight) done(t *tracking) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.listed {
		if t.prev != nil {
			t.prev.next = t.next
		} else {
			f.head = t.next
		}
		if t.next != nil {
			t.next.prev = t.prev
		}
		t.prev, t.next, t.listed = nil, nil, false
	}
	f.n--
	if f.n == 0 {
		close(f.idle)
	}
}

// cutAll marks the requests cut and cancels those listed; later ones are
// cut as they arrive (add).
func (f *inflight) cutAll() {
	f.mu.Lock()
	f.cut = true
	var cut []*tracking
	for t := f.head; t != nil; t = t.next {
		cut = append(cut, t)
	}
	f.mu.Unlock()
	for _, t := range cut {
		t.cut()
	}
}

// wait returns once no request is in flight, or ctx's error.
func (f *inflight) wait(ctx context.Context) error {
	for {
		f.mu.Lock()
		idle, n := f.idle, f.n
		f.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (f *inflight) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// track registers a request as in flight, using t (which must stay in
// place until then) as its node in s.inflight. Call t.end after the
// request's record was written.
//
// Cut does not cancel a context of the request's own: one more context
// and request copy per request would stay in memory for as long as a
// stream is open, and only the request's waits need ending. Each wait
// registers its cancel function instead (setCancel): the upstream
// attempt, and before it a credential, pre_request hooks or a quota
// store (exchange.waitCtx).
func (s *Server) track(t *tracking) {
	*t = tracking{s: s}
	if !s.inflight.add(t) {
		t.isCut.Store(true) // Cut already ran: this request is cut on arrival
	}
}

// tracking is one request tracked in flight, a node of inflight's list.
type tracking struct {
	s          *Server
	prev, next *tracking
	listed     bool
	// isCut is set once Cut ended the request; cancel ends what it waits
	// for now. setCancel and cut each store their own before loading the
	// other's, so whichever comes second calls the cancel function.
	isCut  atomic.Bool
	cancel atomic.Pointer[context.CancelCauseFunc]
}

// setCancel registers what ends the request's current wait, nil for
// none; it calls it at once when the request was cut.
func (t *tracking) setCancel(cancel *context.CancelCauseFunc) {
	t.cancel.Store(cancel)
	if cancel != nil && t.isCut.Load() {
		(*cancel)(nil)
	}
}

// cut marks the request cut and ends its current wait.
func (t *tracking) cut() {
	t.isCut.Store(true)
	if cancel := t.cancel.Load(); cancel != nil {
		(*cancel)(nil)
	}
}

func (t *tracking) end() { t.s.inflight.done(t) }

// ended reports whether the request's client left or Cut ended it:
// either way, nobody awaits its answer any more.
func (ex *exchange) ended() bool {
	return ex.tracked.isCut.Load() || ex.r.Context().Err() != nil
}

// waitCtx returns the context of a wait before the upstream call that
// Cut ends as well as the client leaving, and the function to call once
// the wait is over.
func (ex *exchange) waitCtx() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ex.r.Context())
	ex.tracked.setCancel(&cancel)
	return ctx, func() {
		ex.tracked.setCancel(nil)
		cancel(nil)
	}
}

// Wait returns once every request in flight has finished and handed its
// record to the sink, or with ctx's error when ctx ends first.
func (s *Server) Wait(ctx context.Context) error { return s.inflight.wait(ctx) }

// Cut ends the requests still in flight and returns how many there were:
// their upstream calls are cancelled, their answers end, and each is
// recorded with status 503 and the error "cut at shutdown".
// After-response hooks do not fire for such incomplete answers. Requests
// that arrive later are cut at once. Call Wait afterwards (with its own
// deadline, such as CutRecordTimeout) for their records to reach the sink.
func (s *Server) Cut() int {
	n := s.inflight.count()
	s.inflight.cutAll()
	return n
}

// cutAtShutdown reports whether this request was ended by Cut before its
// answer was complete.
func (ex *exchange) cutAtShutdown(complete bool) bool {
	return ex.tracked.isCut.Load() && !complete
}
