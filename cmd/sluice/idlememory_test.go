package main

import (
	"context"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/store"
)

// TestIdleTrimmerStep holds the trimming rule to what an operator sees: a
// busy gateway is never paused for a collection, a quiet one gives its
// spare memory back about a window after its last request, once, and not
// again until there is more to give and minGap has passed.
func TestIdleTrimmerStep(t *testing.T) {
	const mb = 1 << 20
	type sample struct {
		at               time.Duration // since the trimmer started
		allocated, spare uint64
	}
	// Ticks of 250 ms, a window of 1 s (5 samples), quiet under 1 MB/s.
	tests := []struct {
		name    string
		samples []sample
		want    []time.Duration // when it trims
	}{
		{"busy: allocating, much spare", []sample{
			{250 * time.Millisecond, 10 * mb, 100 * mb}, {500 * time.Millisecond, 20 * mb, 100 * mb},
			{750 * time.Millisecond, 30 * mb, 100 * mb}, {time.Second, 40 * mb, 100 * mb},
			{1250 * time.Millisecond, 50 * mb, 100 * mb}, {1500 * time.Millisecond, 60 * mb, 100 * mb},
		}, nil},
		{"quiet a whole window after a burst: trims at once", []sample{
			{250 * time.Millisecond, 50 * mb, 30 * mb}, {500 * time.Millisecond, 50 * mb, 30 * mb},
			{750 * time.Millisecond, 50 * mb, 30 * mb}, {time.Second, 50 * mb, 30 * mb},
			{1250 * time.Millisecond, 50*mb + 100, 30 * mb},
		}, []time.Duration{1250 * time.Millisecond}},
		{"not before a whole window", []sample{
			{250 * time.Millisecond, 50 * mb, 30 * mb}, {500 * time.Millisecond, 50 * mb, 30 * mb},
			{750 * time.Millisecond, 50 * mb, 30 * mb}, {time.Second, 50 * mb, 30 * mb},
		}, nil},
		{"the window slides: the burst ends, a second later the trim", []sample{
			{250 * time.Millisecond, 10 * mb, 30 * mb}, {500 * time.Millisecond, 20 * mb, 30 * mb},
			{750 * time.Millisecond, 30 * mb, 30 * mb}, {time.Second, 40 * mb, 30 * mb},
			{1250 * time.Millisecond, 50 * mb, 30 * mb}, // the last request
			{1500 * time.Millisecond, 50 * mb, 30 * mb}, {1750 * time.Millisecond, 50 * mb, 30 * mb},
			{2 * time.Second, 50 * mb, 30 * mb},
			{2250 * time.Millisecond, 50 * mb, 30 * mb}, // a whole window since it
		}, []time.Duration{2250 * time.Millisecond}},
		{"just over quiet in the window", []sample{
			{250 * time.Millisecond, 10 * mb, 100 * mb}, {500 * time.Millisecond, 10 * mb, 100 * mb},
			{750 * time.Millisecond, 10 * mb, 100 * mb}, {time.Second, 10 * mb, 100 * mb},
			{1250 * time.Millisecond, 11 * mb, 100 * mb},
		}, nil},
		{"quiet with spare at the threshold", []sample{
			{250 * time.Millisecond, 10 * mb, 4 * mb}, {500 * time.Millisecond, 10 * mb, 4 * mb},
			{750 * time.Millisecond, 10 * mb, 4 * mb}, {time.Second, 10 * mb, 4 * mb},
			{1250 * time.Millisecond, 10 * mb, 4 * mb},
		}, []time.Duration{1250 * time.Millisecond}},
		{"quiet with little spare", []sample{
			{250 * time.Millisecond, 10 * mb, 4*mb - 1}, {500 * time.Millisecond, 10 * mb, 4*mb - 1},
			{750 * time.Millisecond, 10 * mb, 4*mb - 1}, {time.Second, 10 * mb, 4*mb - 1},
			{1250 * time.Millisecond, 10 * mb, 4*mb - 1},
		}, nil},
		{"runtime without the counters", []sample{
			{250 * time.Millisecond, 0, 0}, {500 * time.Millisecond, 0, 0}, {750 * time.Millisecond, 0, 0},
			{time.Second, 0, 0}, {1250 * time.Millisecond, 0, 0},
		}, nil},
		{"bursts every 2 s: at most one trim per minGap", func() []sample {
			// 300 ms of traffic every 2 s, leaving 8 MB spare each time.
			var s []sample
			var alloc uint64
			for at := 250 * time.Millisecond; at <= 12*time.Second; at += 250 * time.Millisecond {
				if at%(2*time.Second) < 300*time.Millisecond {
					alloc += 8 * mb
				}
				s = append(s, sample{at, alloc, 8 * mb})
			}
			return s
		}(), []time.Duration{1250 * time.Millisecond, 7250 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var now time.Duration
			i := 0
			var trims []time.Duration
			start := time.Unix(1_800_000_000, 0)
			tr := &idleTrimmer{
				tick: 250 * time.Millisecond, window: time.Second, quietRate: 1 * mb,
				minGap: 5 * time.Second, minSpare: 4 * mb,
				read: func() (uint64, uint64) {
					s := tt.samples[i]
					now = s.at
					return s.allocated, s.spare
				},
				trim: func(context.Context) { trims = append(trims, now) },
				now:  func() time.Time { return start.Add(now) },
			}
			for i = range tt.samples {
				tr.step(t.Context())
			}
			if !slices.Equal(trims, tt.want) {
				t.Errorf("trimmed at %v, want at %v", trims, tt.want)
			}
		})
	}
}

// TestIdleTrimmerCountsMappedPages: the executable's pages mapped back
// since the last trim count as spare, so a quiet gateway whose heap has
// little to give back still drops them (a trim that came while the
// request log stored a backlog, which mapped them back); pages that were
// resident when it started, or after its last trim, do not.
func TestIdleTrimmerCountsMappedPages(t *testing.T) {
	const mb = 1 << 20
	tests := []struct {
		name   string
		start  uint64   // resident when serve sets the baseline; 0: no baseline
		mapped []uint64 // file-backed resident bytes at each tick
		want   int
	}{
		{"mapped back since start", 0, []uint64{30 * mb, 30 * mb, 40 * mb, 40 * mb, 40 * mb}, 1},
		{"resident since start only", 0, []uint64{30 * mb, 30 * mb, 30 * mb, 30 * mb, 31 * mb}, 0},
		// What start-up's last steps map back before the first tick, after
		// its own release, is returned once the first window is quiet.
		{"mapped back between the start's release and the first tick", 10 * mb, []uint64{30 * mb, 30 * mb, 30 * mb, 30 * mb, 30 * mb}, 1},
		{"nothing mapped back after the start's release", 30 * mb, []uint64{30 * mb, 30 * mb, 30 * mb, 30 * mb, 31 * mb}, 0},
		{"mapped back, then trimmed, then mapped back again", 0, []uint64{10 * mb, 20 * mb, 20 * mb, 20 * mb, 20 * mb,
			/* trimmed: */ 10 * mb, 10 * mb, 10 * mb, 10 * mb, 10 * mb, 20 * mb, 20 * mb, 20 * mb, 20 * mb, 20 * mb, 20 * mb}, 2},
		{"dropped by the trim, resident again only as much", 0, []uint64{10 * mb, 20 * mb, 20 * mb, 20 * mb, 20 * mb,
			/* trimmed: */ 10 * mb, 12 * mb, 12 * mb, 12 * mb, 12 * mb, 12 * mb, 12 * mb, 12 * mb, 12 * mb, 12 * mb, 12 * mb}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i, trims := 0, 0
			starting := tt.start != 0
			var now time.Duration
			tr := &idleTrimmer{
				tick: 250 * time.Millisecond, window: time.Second, quietRate: 1 * mb,
				minGap: time.Second, minSpare: 4 * mb,
				read: func() (uint64, uint64) { return 10 * mb, 1 * mb }, // quiet, 1 MB of heap spare
				mapped: growth{read: func() uint64 {
					if starting {
						return tt.start
					}
					return tt.mapped[min(i, len(tt.mapped)-1)]
				}},
				trim: func(context.Context) { trims++; i++ }, // the trim's own reading is the next tick's
				now:  func() time.Time { return time.Unix(1_800_000_000, 0).Add(now) },
			}
			if starting {
				tr.baseline()
				starting = false
			}
			for ; i < len(tt.mapped); i++ {
				now += 250 * time.Millisecond
				tr.step(t.Context())
			}
			if trims != tt.want {
				t.Errorf("%d trims, want %d", trims, tt.want)
			}
		})
	}
}

// TestStoreReleasesMemory: the request log serve opens by default gives
// the idle trimmer its SQLite page caches to release (serve finds the
// method by a type assertion, which a renamed method would silently
// defeat).
func TestStoreReleasesMemory(t *testing.T) {
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "sluice.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cache, ok := st.(memoryReleaser)
	if !ok {
		t.Fatalf("%T has no ReleaseMemory method: the idle trimmer would not release its cache", st)
	}
	if err := cache.ReleaseMemory(t.Context()); err != nil {
		t.Fatal(err)
	}
}

var sink [][]byte

// heapReleased is the heap memory returned to the system.
func heapReleased() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// holdHeapGoal raises the heap goal for the rest of the test. The
// runtime's background scavenger returns free pages above about 1.1 times
// the goal on its own, at its own pace, and a low goal also starts
// collections of the runtime's own: with the goal this high both leave
// the memory to the trimmer, whose work the tests measure, instead of
// returning some of it before the test reads what was released.
func holdHeapGoal(t *testing.T) {
	old := debug.SetGCPercent(100_000)
	t.Cleanup(func() { debug.SetGCPercent(old) })
}

// runTrimmer runs tr until the test ends.
func runTrimmer(t *testing.T, tr *idleTrimmer) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tr.run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestIdleTrimmerReturnsMemory runs the real trimmer in this process: after
// a burst of allocation stops, the heap's free pages go back to the system
// within an interval or two, without anyone calling the collector.
func TestIdleTrimmerReturnsMemory(t *testing.T) {
	holdHeapGoal(t)
	// A burst: 64 MB of 64 KB buffers, then dropped.
	for range 1024 {
		sink = append(sink, make([]byte, 64<<10))
	}
	sink = nil
	// The collection the runtime would start soon after: without it the
	// buffers only count as garbage once a collection has run since the
	// burst (heapSpare's estimate), and when the last one ran late in the
	// burst the trimmer rightly saw under 4 MB to give back. It frees the
	// pages; returning them is left to the trimmer.
	runtime.GC()
	before := heapReleased()
	tr := newIdleTrimmer(nil, nil)
	// minGap 0: on a loaded machine a first trim may come before the
	// collector has swept all of the burst; the next tick may trim again.
	tr.tick, tr.window, tr.minGap = 10*time.Millisecond, 50*time.Millisecond, 0
	runTrimmer(t, tr)
	deadline := time.Now().Add(5 * time.Second)
	for heapReleased() < before+32<<20 {
		if time.Now().After(deadline) {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			t.Fatalf("released %d MB → %d MB after the burst; heap idle %d MB", before>>20, heapReleased()>>20, ms.HeapIdle>>20)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestIdleTrimmerCountsStacks: the stacks of goroutines that ended since
// the last trim count as spare, so a quiet gateway gives them back even
// when its heap has little garbage; stacks that were there at start or
// after the last trim do not count.
func TestIdleTrimmerCountsStacks(t *testing.T) {
	const mb = 1 << 20
	tests := []struct {
		name   string
		stacks []uint64 // stack bytes at each tick
		want   int
	}{
		{"grew since start", []uint64{1 * mb, 1 * mb, 9 * mb, 9 * mb, 9 * mb}, 1},
		{"there since start", []uint64{9 * mb, 9 * mb, 9 * mb, 9 * mb, 10 * mb}, 0},
		{"grew, trimmed, grew again", []uint64{1 * mb, 9 * mb, 9 * mb, 9 * mb, 9 * mb,
			/* trimmed: */ 1 * mb, 1 * mb, 1 * mb, 1 * mb, 1 * mb, 9 * mb, 9 * mb, 9 * mb, 9 * mb, 9 * mb, 9 * mb}, 2},
		{"held by goroutines still running: one trim, not one per minGap", []uint64{1 * mb, 9 * mb, 9 * mb, 9 * mb, 9 * mb,
			/* trimmed, nothing returned: */ 9 * mb, 9 * mb, 9 * mb, 9 * mb, 9 * mb, 9 * mb, 9 * mb, 9 * mb, 9 * mb, 9 * mb, 9 * mb}, 1},
		{"freed by a collection, then grew again", []uint64{9 * mb, 9 * mb, 1 * mb, 1 * mb, 9 * mb,
			9 * mb, 9 * mb, 9 * mb, 9 * mb}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i, trims := 0, 0
			var now time.Duration
			tr := &idleTrimmer{
				tick: 250 * time.Millisecond, window: time.Second, quietRate: 1 * mb,
				minGap: time.Second, minSpare: 4 * mb,
				read:   func() (uint64, uint64) { return 10 * mb, 1 * mb }, // quiet, 1 MB of heap spare
				stacks: growth{read: func() uint64 { return tt.stacks[min(i, len(tt.stacks)-1)] }},
				trim:   func(context.Context) { trims++; i++ },
				now:    func() time.Time { return time.Unix(1_800_000_000, 0).Add(now) },
			}
			for ; i < len(tt.stacks); i++ {
				now += 250 * time.Millisecond
				tr.step(t.Context())
			}
			if trims != tt.want {
				t.Errorf("%d trims, want %d", trims, tt.want)
			}
		})
	}
}

// TestIdleTrimmerReturnsStacks runs the real trimmer in this process: the
// stacks of 4,000 goroutines that ended go back to the system without a
// collection in between, with next to no garbage on the heap.
func TestIdleTrimmerReturnsStacks(t *testing.T) {
	holdHeapGoal(t) // no collection of the runtime's own frees the stacks
	runtime.GC()
	debug.FreeOSMemory()
	stacksBefore := stackBytes()
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range 4000 {
		wg.Add(1)
		go func() { defer wg.Done(); <-start }()
	}
	close(start)
	wg.Wait()
	kept := stackBytes() - stacksBefore
	if kept < 4<<20 {
		t.Skipf("the ended goroutines keep %d KB of stacks: the runtime frees them at once", kept>>10)
	}
	before := heapReleased()
	tr := newIdleTrimmer(nil, nil)
	tr.tick, tr.window = 10*time.Millisecond, 50*time.Millisecond
	tr.mapped = growth{} // the heap and the stacks only
	// The stacks as serve's trimmer, running since start, saw them.
	tr.stacks = growth{read: stackBytes, base: stacksBefore, seen: true}
	runTrimmer(t, tr)
	deadline := time.Now().Add(5 * time.Second)
	for heapReleased() < before+kept/2 {
		if time.Now().After(deadline) {
			t.Fatalf("released %d KB after 4,000 goroutines ended keeping %d KB of stacks", (heapReleased()-before)>>10, kept>>10)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
