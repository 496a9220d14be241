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
// their records. Unlike a sync.WaitGroup it may gain requests while
// someone waits (a keep-alive request that raced the listener's close).
type inflight struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed while n == 0
}

func newInflight() *inflight {
	f := &inflight{idle: make(chan struct{})}
	close(f.idle)
	return f
}

func (f *inflight) add() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 {
		f.idle = make(chan struct{})
	}
	f.n++
}

func (f *inflight) done() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n--
	if f.n == 0 {
		close(f.idle)
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

// track registers r as in flight and derives its context from the
// server's base context, so Cut can cancel it. Call the returned
// tracking's end after the request's record was written.
func (s *Server) track(r *http.Request) (*http.Request, tracking) {
	s.inflight.add()
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(s.base, cancel)
	return r.WithContext(ctx), tracking{s: s, stop: stop, cancel: cancel}
}

// tracking is one request tracked in flight (a value, so that tracking
// costs no closure).
type tracking struct {
	s      *Server
	stop   func() bool
	cancel context.CancelFunc
}

func (t tracking) end() {
	t.stop()
	t.cancel()
	t.s.inflight.done()
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
	return n
}

// cutAtShutdown reports whether this request was ended by Cut before its
// answer was complete.
func (ex *exchange) cutAtShutdown(complete bool) bool {
	return ex.s.base.Err() != nil && ex.r.Context().Err() != nil && !complete
}
