package main

import (
	"context"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/store"
)

// TestIdleTrimmerStep holds the trimming rule to what an operator sees: a
// busy gateway is never paused for a collection, a quiet one gives its
// spare memory back once, and not again until there is more to give.
func TestIdleTrimmerStep(t *testing.T) {
	const mb = 1 << 20
	tests := []struct {
		name      string
		prev      uint64
		allocated uint64
		spare     uint64
		want      bool
	}{
		{"busy: allocating, much spare", 0, 50 * mb, 100 * mb, false},
		{"just over quiet", 10 * mb, 11 * mb, 100 * mb, false},
		{"quiet with much spare", 10 * mb, 10*mb + 100, 100 * mb, true},
		{"quiet with spare at the threshold", 10 * mb, 10 * mb, 4 * mb, true},
		{"quiet with little spare", 10 * mb, 10 * mb, 4*mb - 1, false},
		{"idle with nothing spare", 10 * mb, 10 * mb, 0, false},
		{"runtime without the counters", 10 * mb, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trims := 0
			tr := &idleTrimmer{
				quiet: 1 * mb, minSpare: 4 * mb,
				read: func() (uint64, uint64) { return tt.allocated, tt.spare },
				trim: func(context.Context) { trims++ },
			}
			next, trimmed := tr.step(t.Context(), tt.prev)
			if trimmed != tt.want || trims != map[bool]int{false: 0, true: 1}[tt.want] {
				t.Errorf("trimmed %v (%d calls), want %v", trimmed, trims, tt.want)
			}
			if next != tt.allocated {
				t.Errorf("next interval starts at %d, want %d", next, tt.allocated)
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

// TestIdleTrimmerReturnsMemory runs the real trimmer in this process: after
// a burst of allocation stops, the heap's free pages go back to the system
// within an interval or two, without anyone calling the collector.
func TestIdleTrimmerReturnsMemory(t *testing.T) {
	released := func() uint64 {
		s := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
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
	before := released()
	tr := newIdleTrimmer(nil, nil)
	tr.interval = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tr.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(5 * time.Second)
	for released() < before+32<<20 {
		if time.Now().After(deadline) {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			t.Fatalf("released %d MB → %d MB after the burst; heap idle %d MB", before>>20, released()>>20, ms.HeapIdle>>20)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
