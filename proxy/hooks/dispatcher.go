package hooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-gateway/sluice/policy"
)

// Defaults of Options.
const (
	DefaultWorkers        = 4
	DefaultQueueSize      = 1024
	DefaultMaxAttempts    = 4
	DefaultMaxAnswerBytes = 32 << 20
)

// Options configures a Dispatcher. The zero value is usable.
type Options struct {
	// Client makes the calls. The default follows no redirects: a hook
	// that moved answers 3xx, which counts as a failure.
	Client *http.Client
	// Logger receives drops and failures; the default is slog.Default().
	// No payload, key or hook URL is ever logged.
	Logger *slog.Logger
	// Workers deliver after-response events concurrently (default 4).
	Workers int
	// QueueSize bounds the deliveries waiting for a worker (default 1024).
	QueueSize int
	// MaxAttempts bounds the calls of one delivery, the first included
	// (default 4).
	MaxAttempts int
	// Backoff gives the wait before retry n (1 for the first retry). The
	// default is Exponential(250ms, 30s).
	Backoff func(retry int) time.Duration
	// MaxAnswerBytes bounds a pre_request hook's answer, which may carry a
	// whole request body (default 32 MiB).
	MaxAnswerBytes int64
}

// Exponential returns a backoff that doubles from base up to max, with
// jitter: each wait is drawn from [d/2, d] so that retries of many
// deliveries spread out.
func Exponential(base, max time.Duration) func(retry int) time.Duration {
	return func(retry int) time.Duration {
		if base <= 0 || max <= 0 {
			return 0
		}
		d := min(base, max)
		for i := 1; i < retry && d < max; i++ {
			d = min(d, max/2) * 2 // no overflow past max
		}
		if d <= 1 {
			return d
		}
		half := d / 2
		return half + rand.N(d-half+1)
	}
}

// Stats counts one hook's deliveries since the Dispatcher started.
type Stats struct {
	// Delivered calls answered 2xx (for pre_request: with a valid answer).
	Delivered uint64
	// Retried counts extra attempts after a retryable failure.
	Retried uint64
	// Failed deliveries gave up: a non-retryable answer, or retries
	// exhausted (for pre_request: any failed call).
	Failed uint64
	// Dropped deliveries were never completed: the queue was full, the
	// dispatcher was shutting down, or shutdown's deadline cut them off.
	Dropped uint64
}

// counters are one hook's live Stats.
type counters struct {
	delivered, retried, failed, dropped atomic.Uint64
	// unlogged drops wait for the end of an open dropWindow to be logged.
	unlogged   atomic.Uint64
	dropWindow atomic.Bool
	dropReason atomic.Pointer[string]
}

// job is one queued delivery.
type job struct {
	hook    *policy.Hook
	payload Payload
}

// Dispatcher calls hooks: after-response deliveries through a bounded
// queue served by workers, pre_request hooks synchronously
// (CallPreRequest). It is safe for concurrent use and outlives config
// reloads, since every call names its hook.
type Dispatcher struct {
	client  *http.Client
	ownTr   *http.Transport // closed on shutdown when the client is ours
	log     *slog.Logger
	backoff func(int) time.Duration
	maxAtt  int
	maxAns  int64

	mu     sync.RWMutex // guards closed against the close of queue
	closed bool
	queue  chan job

	ctx    context.Context // canceled when shutdown's deadline passes
	cancel context.CancelFunc
	wg     sync.WaitGroup

	stats        sync.Map // hook name → *counters
	dropLogEvery time.Duration
}

// NewDispatcher starts a Dispatcher's workers. Stop it with Shutdown.
func NewDispatcher(opts Options) *Dispatcher {
	d := &Dispatcher{
		client:  opts.Client,
		log:     opts.Logger,
		backoff: opts.Backoff,
		maxAtt:  opts.MaxAttempts,
		maxAns:  opts.MaxAnswerBytes,

		dropLogEvery: dropLogEvery,
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = DefaultWorkers
	}
	size := opts.QueueSize
	if size <= 0 {
		size = DefaultQueueSize
	}
	if d.client == nil {
		d.ownTr = http.DefaultTransport.(*http.Transport).Clone()
		d.ownTr.MaxIdleConnsPerHost = 2 * workers
		d.client = &http.Client{
			Transport:     d.ownTr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	if d.backoff == nil {
		d.backoff = Exponential(250*time.Millisecond, 30*time.Second)
	}
	if d.maxAtt <= 0 {
		d.maxAtt = DefaultMaxAttempts
	}
	if d.maxAns <= 0 {
		d.maxAns = DefaultMaxAnswerBytes
	}
	d.queue = make(chan job, size)
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.wg.Add(workers)
	for range workers {
		go d.work()
	}
	return d
}

// Enqueue queues an after-response delivery of p to hook and returns
// whether it was queued. It never blocks: when the queue is full or the
// dispatcher is shutting down, the delivery is dropped, counted and
// logged. A disabled or nil hook is not called and not counted. Either
// way p.OnDone, if set, is called once the payload is no longer needed.
func (d *Dispatcher) Enqueue(hook *policy.Hook, p Payload) bool {
	if hook == nil || hook.Disabled {
		p.done()
		return false
	}
	d.mu.RLock()
	if d.closed {
		d.mu.RUnlock()
		d.drop(hook.Name, &reasonClosed)
		p.done()
		return false
	}
	select {
	case d.queue <- job{hook: hook, payload: p}:
		d.mu.RUnlock()
		return true
	default:
		d.mu.RUnlock()
		d.drop(hook.Name, &reasonQueueFull)
		p.done()
		return false
	}
}

// Reasons a delivery is dropped, as logged.
var (
	reasonQueueFull = "queue full"
	reasonClosed    = "shutting down"
	reasonDeadline  = "shutdown deadline passed"
)

// dropLogEvery rate-limits drop logs per hook: the first drop is logged at
// once, later ones are summed into one line per interval, so that every
// drop appears in the log without flooding it under overload.
const dropLogEvery = time.Second

func (d *Dispatcher) drop(name string, reason *string) {
	c := d.counters(name)
	c.dropped.Add(1)
	c.dropReason.Store(reason)
	c.unlogged.Add(1)
	d.logDrops(name, c)
}

// logDrops logs the drops not logged yet, unless a line was written less
// than dropLogEvery ago; then the line waits for the interval's end.
func (d *Dispatcher) logDrops(name string, c *counters) {
	if !c.dropWindow.CompareAndSwap(false, true) {
		return
	}
	if n := c.unlogged.Swap(0); n > 0 {
		d.log.Warn("hook deliveries dropped",
			slog.String("hook", name),
			slog.String("reason", *c.dropReason.Load()),
			slog.Uint64("dropped", n),
			slog.Uint64("dropped_total", c.dropped.Load()))
	}
	time.AfterFunc(d.dropLogEvery, func() {
		c.dropWindow.Store(false)
		if c.unlogged.Load() > 0 {
			d.logDrops(name, c)
		}
	})
}

func (d *Dispatcher) counters(name string) *counters {
	if c, ok := d.stats.Load(name); ok {
		return c.(*counters)
	}
	c, _ := d.stats.LoadOrStore(name, new(counters))
	return c.(*counters)
}

// Stats returns each called hook's counts, by hook name, for metrics.
func (d *Dispatcher) Stats() map[string]Stats {
	out := make(map[string]Stats)
	d.stats.Range(func(k, v any) bool {
		c := v.(*counters)
		out[k.(string)] = Stats{
			Delivered: c.delivered.Load(),
			Retried:   c.retried.Load(),
			Failed:    c.failed.Load(),
			Dropped:   c.dropped.Load(),
		}
		return true
	})
	return out
}

// Queued returns how many deliveries wait for a worker.
func (d *Dispatcher) Queued() int { return len(d.queue) }

// Shutdown stops accepting deliveries and waits for the queue to drain.
// When ctx ends first, calls in flight are cut off and every delivery not
// made is counted as dropped; Shutdown then returns ctx's error.
func (d *Dispatcher) Shutdown(ctx context.Context) error {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		close(d.queue)
	}
	d.mu.Unlock()

	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		d.cancel()
		<-done // every call and wait now ends at once
		err = fmt.Errorf("hooks: shutdown: %w", ctx.Err())
	}
	d.cancel()
	if d.ownTr != nil {
		d.ownTr.CloseIdleConnections()
	}
	return err
}

func (d *Dispatcher) work() {
	defer d.wg.Done()
	for j := range d.queue {
		d.deliver(j)
		j.payload.done()
	}
}

// deliver makes one delivery, retrying what may succeed later.
func (d *Dispatcher) deliver(j job) {
	c := d.counters(j.hook.Name)
	if d.ctx.Err() != nil {
		d.drop(j.hook.Name, &reasonDeadline)
		return
	}
	body, err := j.payload.MarshalJSON()
	if err != nil {
		c.failed.Add(1)
		d.logFailure(j, 0, fmt.Errorf("encoding payload: %w", err))
		return
	}
	a := attempt{hook: j.hook, event: j.payload.Event, delivery: newDeliveryID(), body: body}
	for a.n = 1; ; a.n++ {
		_, err := post(d.ctx, d.client, a)
		if err == nil {
			c.delivered.Add(1)
			return
		}
		if d.ctx.Err() != nil {
			d.drop(j.hook.Name, &reasonDeadline)
			return
		}
		if !retryable(err) || a.n >= d.maxAtt {
			c.failed.Add(1)
			d.logFailure(j, a.n, err)
			return
		}
		c.retried.Add(1)
		if !d.sleep(d.backoff(a.n)) {
			d.drop(j.hook.Name, &reasonDeadline)
			return
		}
	}
}

// sleep waits for d, or less when shutdown's deadline passes; it reports
// whether the full wait happened.
func (d *Dispatcher) sleep(wait time.Duration) bool {
	if wait <= 0 {
		return d.ctx.Err() == nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-d.ctx.Done():
		return false
	}
}

func (d *Dispatcher) logFailure(j job, attempts int, err error) {
	d.log.Warn("hook delivery failed",
		slog.String("hook", j.hook.Name),
		slog.String("event", j.payload.Event),
		slog.String("request_id", j.payload.Metadata.RequestID),
		slog.Int("attempts", attempts),
		slog.Bool("timeout", errors.Is(err, context.DeadlineExceeded)),
		slog.String("error", err.Error()))
}
