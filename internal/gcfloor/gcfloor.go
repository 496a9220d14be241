// Package gcfloor keeps the Go garbage collector from running more often
// than a small heap needs.
//
// The collector's default (GOGC=100) starts a cycle each time the heap
// grows by as much as was live after the last one. A gateway's live heap
// is small, a few megabytes of compiled policy and configuration, while
// every request allocates tens of kilobytes of garbage; so under load the
// collector runs several times a second, and each cycle marks the whole
// live heap again. On one core, that marking is CPU taken from requests
// and latency added to those that arrive during it.
//
// A floor on the heap goal fixes the frequency without touching large
// heaps: after each cycle, GOGC is set so that the next goal is the live
// heap plus what GOGC=100 allows, but never less than the floor. With
// 5 MB live and a 32 MB floor, a cycle comes every ~27 MB allocated
// instead of every ~5 MB; with 300 MB live (thousands of open streams)
// the floor does nothing. The price is memory: up to the floor of
// garbage between cycles, returned to the system when traffic stops.
package gcfloor

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// running is set while a Floor runs: GOGC is the process's, so there is
// one at most (in-process tests run several servers).
var running atomic.Bool

// The runtime metrics the goal is computed from: the heap found live by
// the last cycle, and the stacks and globals it scanned.
var metricNames = []string{"/gc/heap/live:bytes", "/gc/scan/stack:bytes", "/gc/scan/globals:bytes"}

// Percent is the GOGC value that makes the heap goal as near floor bytes
// as it can without going under it, for a live heap of live bytes and
// roots bytes of stacks and globals; never less than base (the percent
// the user would otherwise run with).
//
// The runtime's goal is live + (live + roots) * GOGC/100, so roots count
// in the divisor: a floor set from the heap alone would overshoot by
// roots times the (large) percent when many goroutines are parked.
func Percent(live, roots, floor uint64, base int) int {
	if live == 0 || floor <= live {
		return base
	}
	scanned := live + roots
	p := ((floor-live)*100 + scanned - 1) / scanned // rounded up
	if p > 1<<20 {
		p = 1 << 20 // a near-empty heap; the floor still bounds the goal
	}
	return max(base, int(p))
}

// Floor adjusts GOGC after every collection until Stop.
type Floor struct {
	floor uint64
	base  int

	mu      sync.Mutex
	stopped bool
	percent int // what GOGC was last set to
	sample  []metrics.Sample
}

// Start keeps the heap goal at or above floor bytes. It does nothing,
// and returns nil, when floor is 0, when the environment sets GOGC (the
// user has chosen the collector's pace) or when a Floor already runs.
func Start(floor uint64) *Floor {
	if floor == 0 || os.Getenv("GOGC") != "" || !running.CompareAndSwap(false, true) {
		return nil
	}
	f := &Floor{floor: floor, base: 100, percent: 100, sample: make([]metrics.Sample, len(metricNames))}
	for i, name := range metricNames {
		f.sample[i].Name = name
	}
	if f.adjust() {
		f.arm()
	}
	return f
}

// Stop restores GOGC=100 and stops adjusting it.
func (f *Floor) Stop() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stopped {
		f.stopped = true
		debug.SetGCPercent(f.base)
		running.Store(false)
	}
}

// Percent is the GOGC value the floor set last.
func (f *Floor) Percent() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.percent
}

// arm schedules adjust for the end of the next collection: a fresh
// object, unreachable at once, whose cleanup runs after the cycle that
// frees it and arms the next one.
func (f *Floor) arm() {
	sentinel := new([16]byte) // not tiny-allocated: its cleanup must run when it alone dies
	runtime.AddCleanup(sentinel, func(f *Floor) {
		if f.adjust() {
			f.arm()
		}
	}, f)
}

// adjust sets GOGC from the live heap the last cycle found; it reports
// false once stopped.
func (f *Floor) adjust() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return false
	}
	metrics.Read(f.sample)
	var v [3]uint64
	for i, s := range f.sample {
		if s.Value.Kind() != metrics.KindUint64 {
			return true // a runtime without the metric: leave GOGC alone
		}
		v[i] = s.Value.Uint64()
	}
	if p := Percent(v[0], v[1]+v[2], f.floor, f.base); p != f.percent {
		debug.SetGCPercent(p)
		f.percent = p
	}
	return true
}
