package proxy

import (
	"context"
	"net/http"
	"sync"
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
// their records, and holds their cancel functions, so Cut can end them.
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
// cancelled as they arrive (add).
func (f *inflight) cutAll() {
	f.mu.Lock()
	f.cut = true
	var cancels []context.CancelFunc
	for t := f.head; t != nil; t = t.next {
		cancels = append(cancels, t.cancel)
	}
	f.mu.Unlock()
	for _, cancel := range cancels {
		cancel()
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

// track registers r as in flight with a context Cut can cancel, using t
// (which must stay in place until then) as its node in s.inflight. Call
// t.end after the request's record was written.
//
// The request's cancel function is listed in s.inflight rather than tied
// to the server's base context with context.AfterFunc: that took four
// allocations and a lock on the one base context shared by every request.
func (s *Server) track(r *http.Request, t *tracking) *http.Request {
	ctx, cancel := context.WithCancel(r.Context())
	*t = tracking{s: s, cancel: cancel}
	if !s.inflight.add(t) {
		cancel() // Cut already ran: this request is cut on arrival
	}
	return r.WithContext(ctx)
}

// tracking is one request tracked in flight, a node of inflight's list.
type tracking struct {
	s          *Server
	cancel     context.CancelFunc
	prev, next *tracking
	listed     bool
}

func (t *tracking) end() {
	t.s.inflight.done(t)
	t.cancel()
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
	s.cutAll()
	s.inflight.cutAll()
	return n
}

// cutAtShutdown reports whether this request was ended by Cut before its
// answer was complete.
func (ex *exchange) cutAtShutdown(complete bool) bool {
	return ex.s.base.Err() != nil && ex.r.Context().Err() != nil && !complete
}
