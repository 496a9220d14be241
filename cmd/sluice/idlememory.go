package main

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// idleTrimmer gives the memory a burst of traffic left behind back to the
// operating system once traffic stops: the heap's spare memory, the
// request log's SQLite page caches and the executable's pages the burst
// mapped in.
//
// Left alone, the Go runtime keeps what a burst grew the heap to: it
// collects only when the heap doubles or every two minutes, and its
// scavenger returns pages only down to about twice the live heap. After a
// few thousand streams closed, sluice held 120–170 MB for minutes of
// silence, most of it garbage and free pages. When a whole window passes
// with next to no allocation (quiet), and at least minSpare bytes could be
// given back (garbage since the last collection plus free pages), the
// trimmer collects twice and returns the free pages at once (runtime.GC,
// then debug.FreeOSMemory): the first collection moves what sync.Pools
// hold (net/http's per-connection buffers among them) to their victim
// caches, the second frees it. Before that, the store empties its
// connections' page caches (SQLite keeps them outside the Go heap, where
// no collection reaches); after it, the executable's read-only pages are
// dropped as at start (see releaseExecutablePages), last because the
// collections run code too. The next request maps back the code it runs
// from the file cache: about 140 minor faults, some 0.5 ms added to that
// one request on a busy two-core machine.
//
// The window is short (a second) and slides: the counters are read every
// tick, so the memory goes back about a second after the last request
// rather than up to two whole intervals later. Under load the resident
// set is what serving needs plus what it leaves behind (a saturated
// gateway with its request log: 58–68 MB, 25–30 MB of it the
// executable's pages, which the kernel maps back in whole large folios
// whatever madvise says, and the heap grown to twice what is live); with
// a 5 s interval checked on its boundaries, that stayed for 5–10 s after
// the last request. minGap keeps the cost
// bounded for traffic that pauses often: a busy gateway is never
// trimmed, and one whose traffic comes in bursts at most once per minGap
// (a trim costs a few milliseconds of one core).
// Nothing here limits memory: the heap still grows as traffic needs.
type idleTrimmer struct {
	// tick is how often the counters are read; window how long the
	// allocation must stay under quietRate before a trim.
	tick, window time.Duration
	// quietRate is the allocation rate, in bytes per second, under which
	// the process counts as idle (a request allocates tens of KB).
	quietRate uint64
	// minGap is the least time between two trims.
	minGap time.Duration
	// minSpare is the least memory worth a collection.
	minSpare uint64
	// read returns the bytes allocated so far and the heap's spare bytes.
	read func() (allocated, spare uint64)
	// mapped, when its read is set, is the file-backed resident bytes:
	// what of them serving mapped back since the last trim (or start)
	// counts as spare too, as the trim drops it. Without it a trim that
	// came while the request log was still storing a burst's backlog
	// could leave the executable's pages the backlog mapped back (some
	// 20 MB) for good: the heap then has too little spare to trim again.
	mapped growth
	// stacks, when its read is set, is the memory reserved for goroutine
	// stacks: what it grew by since the last trim counts as spare too. A
	// goroutine that ended with a stack of the starting size (8 KB)
	// keeps it, with its descriptor, for the next goroutine, until a
	// collection frees it; until then the runtime counts it neither as
	// garbage nor as free (4,000 ended goroutines: 8 MB). A trim returns
	// it: debug.FreeOSMemory collects, which frees the stacks of ended
	// goroutines, then returns the free pages.
	stacks growth
	// trim returns what can be given back.
	trim func(ctx context.Context)
	log  *slog.Logger
	// now is time.Now; tests set it.
	now func() time.Time

	// samples are the allocation counts read at the last ticks, oldest
	// first, at most window/tick+1 of them.
	samples  []uint64
	lastTrim time.Time
}

// growth is how much a resident amount grew since a base: the amount when
// first read, after each trim, and whenever it was lower since.
type growth struct {
	read func() uint64 // nil: never grows
	base uint64
	seen bool
}

// since reads the amount and returns what it grew by.
func (g *growth) since() uint64 {
	if g.read == nil {
		return 0
	}
	v := g.read()
	if !g.seen || v < g.base {
		g.base, g.seen = v, true
	}
	return v - g.base
}

// rebase makes the amount now the base: what the trim left.
func (g *growth) rebase() {
	if g.read != nil {
		g.base, g.seen = g.read(), true
	}
}

// memoryReleaser holds memory outside the Go heap that it can give back
// when idle: the SQLite request log (store's ReleaseMemory).
type memoryReleaser interface {
	ReleaseMemory(ctx context.Context) error
}

// newIdleTrimmer is the trimmer serve runs: read every 250 ms, quiet for
// a second under 100 KB/s allocated (a few requests, a metrics scrape),
// at least 4 MB to give back, at most one trim every 5 s. cache, when not
// nil, is asked to release its memory first.
func newIdleTrimmer(log *slog.Logger, cache memoryReleaser) *idleTrimmer {
	return &idleTrimmer{
		tick:      250 * time.Millisecond,
		window:    time.Second,
		quietRate: 100 << 10,
		minGap:    5 * time.Second,
		minSpare:  4 << 20,
		read:      heapSpare,
		mapped:    growth{read: residentFileBytes},
		stacks:    growth{read: stackBytes},
		trim:      func(ctx context.Context) { releaseIdle(ctx, cache, log) },
		log:       log,
	}
}

// baseline makes what is resident now the base the mapped and stack
// growth count from: after each trim, and once before the first tick.
// serve calls it right after start-up's own release of the executable's
// pages: what start-up's last steps and the first requests map back in
// then counts as spare, and the first quiet window returns it. Counted from the first tick instead, pages mapped back
// before it stayed until traffic came and went: 7–23 MB of the
// executable when bench/run.sh started sluice beside the other proxies.
func (t *idleTrimmer) baseline() {
	t.mapped.rebase()
	t.stacks.rebase()
}

// run trims until ctx ends.
func (t *idleTrimmer) run(ctx context.Context) {
	tick := time.NewTicker(t.tick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		t.step(ctx)
	}
}

// step reads the counters once, at the end of a tick, and trims when the
// last window was quiet; it reports whether it trimmed.
func (t *idleTrimmer) step(ctx context.Context) bool {
	now := time.Now
	if t.now != nil {
		now = t.now
	}
	allocated, spare := t.read()
	spare += t.mapped.since() + t.stacks.since()
	n := int(t.window/t.tick) + 1 // samples spanning a window
	if len(t.samples) == n {
		copy(t.samples, t.samples[1:])
		t.samples = t.samples[:n-1]
	}
	t.samples = append(t.samples, allocated)
	if len(t.samples) < n {
		return false // not a whole window since start or the last trim
	}
	quiet := t.quietRate * uint64(t.window) / uint64(time.Second)
	if allocated-t.samples[0] >= quiet || spare < t.minSpare {
		return false
	}
	start := now()
	if !t.lastTrim.IsZero() && start.Sub(t.lastTrim) < t.minGap {
		return false
	}
	t.trim(ctx)
	t.lastTrim = now()
	t.baseline() // what the trim left
	if t.log != nil {
		t.log.Debug("returned idle memory", "spare_bytes", spare, "took", t.lastTrim.Sub(start))
	}
	// The collection itself allocates: the next window starts after it.
	t.samples = t.samples[:0]
	return true
}

// releaseIdle is one trim: the cache's memory, then the heap's, then the
// executable's pages. Failures are only logged: each part is an
// optimisation, and the next burst's trim tries again.
func releaseIdle(ctx context.Context, cache memoryReleaser, log *slog.Logger) {
	if cache != nil {
		if err := cache.ReleaseMemory(ctx); err != nil && log != nil {
			log.Debug("could not release the request log's cache", "err", err)
		}
	}
	collectAndRelease()
	if _, err := releaseExecutablePages(); err != nil && log != nil {
		log.Debug("could not release the executable's pages", "err", err)
	}
}

// collectAndRelease empties the sync.Pools (two collections) and returns
// all free heap pages to the operating system.
func collectAndRelease() {
	runtime.GC()
	debug.FreeOSMemory()
}

// stackBytes is the heap memory reserved for goroutine stacks, in use or
// kept for reuse; 0 on a runtime without the counter.
func stackBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// heapSpare reads the runtime's counters: bytes allocated since start, and
// the heap's spare bytes (garbage since the last collection, plus free
// pages not yet returned).
func heapSpare() (allocated, spare uint64) {
	s := []metrics.Sample{
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
	}
	metrics.Read(s)
	for _, v := range s {
		if v.Value.Kind() != metrics.KindUint64 {
			return 0, 0 // an unknown runtime: never trim
		}
	}
	allocated = s[0].Value.Uint64()
	objects, live, free := s[1].Value.Uint64(), s[2].Value.Uint64(), s[3].Value.Uint64()
	if objects > live {
		spare = objects - live
	}
	return allocated, spare + free
}
