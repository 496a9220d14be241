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
// silence, most of it garbage and free pages. When a whole interval
// passes with next to no allocation (quiet), and at least minSpare bytes
// could be given back (garbage since the last collection plus free
// pages), the trimmer collects twice and returns the free pages at once
// (runtime.GC, then debug.FreeOSMemory): the first collection moves what
// sync.Pools hold (net/http's per-connection buffers among them) to their
// victim caches, the second frees it. Before that, the store empties its
// connections' page caches (SQLite keeps them outside the Go heap, where
// no collection reaches); after it, the executable's read-only pages are
// dropped as at start (see releaseExecutablePages), last because the
// collections run code too. The next request maps back the code it runs
// from the file cache: about 140 minor faults, some 0.5 ms added to that
// one request on a busy two-core machine. A busy gateway is never
// trimmed, and a quiet one once per burst: a trim then costs a few
// milliseconds of one core.
// Nothing here limits memory: the heap still grows as traffic needs.
type idleTrimmer struct {
	interval time.Duration
	// quiet is the allocation, in bytes per interval, under which the
	// process counts as idle (a request allocates tens of KB).
	quiet uint64
	// minSpare is the least memory worth a collection.
	minSpare uint64
	// read returns the bytes allocated so far and the spare bytes.
	read func() (allocated, spare uint64)
	// trim returns what can be given back.
	trim func(ctx context.Context)
	log  *slog.Logger
}

// memoryReleaser holds memory outside the Go heap that it can give back
// when idle: the SQLite request log (store's ReleaseMemory).
type memoryReleaser interface {
	ReleaseMemory(ctx context.Context) error
}

// newIdleTrimmer is the trimmer serve runs: every 5s, quiet under 512 KB
// allocated (a few requests, a metrics scrape), at least 4 MB to give
// back. cache, when not nil, is asked to release its memory first.
func newIdleTrimmer(log *slog.Logger, cache memoryReleaser) *idleTrimmer {
	return &idleTrimmer{
		interval: 5 * time.Second,
		quiet:    512 << 10,
		minSpare: 4 << 20,
		read:     heapSpare,
		trim:     func(ctx context.Context) { releaseIdle(ctx, cache, log) },
		log:      log,
	}
}

// run trims until ctx ends.
func (t *idleTrimmer) run(ctx context.Context) {
	tick := time.NewTicker(t.interval)
	defer tick.Stop()
	prev, _ := t.read()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var trimmed bool
		prev, trimmed = t.step(ctx, prev)
		if trimmed {
			// The collection itself allocates; start the next interval
			// from after it.
			prev, _ = t.read()
		}
	}
}

// step looks at one interval, prev being the allocation count at its
// start; it returns the count at its end and whether it trimmed.
func (t *idleTrimmer) step(ctx context.Context, prev uint64) (uint64, bool) {
	allocated, spare := t.read()
	if allocated-prev >= t.quiet || spare < t.minSpare {
		return allocated, false
	}
	start := time.Now()
	t.trim(ctx)
	if t.log != nil {
		t.log.Debug("returned idle memory", "spare_bytes", spare, "took", time.Since(start))
	}
	return allocated, true
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
