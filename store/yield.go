package store

import (
	"runtime"
	"time"
)

// sliceBudget is how long the goroutine storing records runs before it
// gives way to others. The SQLite driver is Go code, so a batch insert is
// milliseconds of CPU on one goroutine; with one processor
// (GOMAXPROCS=1, as a gateway pinned to a core runs) the scheduler would
// preempt it only after 10 ms, and requests arriving meanwhile would
// wait that long.
const sliceBudget = 100 * time.Microsecond

// yieldAfter tracks one goroutine's run of CPU-bound work: call it
// between steps and it gives way once sliceBudget has passed since the
// run started or last gave way. Only with one processor: with more, the
// others poll the network while this one works, and giving way would only
// cost (a few microseconds, against 12 µs of CPU per row).
type yieldAfter struct {
	since time.Time
}

func (y *yieldAfter) check() {
	if y.since.IsZero() {
		y.since = time.Now()
		return
	}
	if time.Since(y.since) < sliceBudget || runtime.GOMAXPROCS(0) > 1 {
		return
	}
	giveWayFunc()
	y.since = time.Now()
}

// giveWayFunc is giveWay; tests count its calls.
var giveWayFunc = giveWay

// giveWay lets every goroutine that is runnable, or that the network has
// woken, run before the caller continues.
//
// runtime.Gosched alone is not enough: it puts the caller on the global
// run queue, which the scheduler takes from before it polls the network,
// so with one processor the caller runs again at once and requests whose
// bytes have arrived stay unnoticed. Instead the caller waits on a pipe,
// the wake-up byte written by a goroutine that runs only once the caller
// has parked: the caller can then only be woken by a network poll, the
// same poll that wakes the goroutines waiting on sockets; and it yields
// once more so that those, queued on its processor, run before it does.
func giveWay() {
	pollWait()
	runtime.Gosched()
}
