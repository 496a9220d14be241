package gcfloor

import (
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mb = 1 << 20
	tests := []struct {
		name               string
		live, roots, floor uint64
		base, want         int
	}{
		{"small heap rises to the floor", 5 * mb, 0, 32 * mb, 100, 540},
		{"rounded up so the goal is not under the floor", 3 * mb, 0, 32 * mb, 100, 967},
		{"stacks and globals count in the goal", 5 * mb, 5 * mb, 32 * mb, 100, 270},
		{"heap at the floor keeps the base", 32 * mb, 0, 32 * mb, 100, 100},
		{"large heap keeps the base", 300 * mb, mb, 32 * mb, 100, 100},
		{"floor under twice the heap keeps the base", 20 * mb, 0, 32 * mb, 100, 100},
		{"a higher base wins", 5 * mb, 0, 32 * mb, 800, 800},
		{"no live heap measured yet", 0, 0, 32 * mb, 100, 100},
		{"near-empty heap is capped", 1, 0, 32 * mb, 100, 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Percent(tt.live, tt.roots, tt.floor, tt.base)
			if got != tt.want {
				t.Fatalf("Percent(%d, %d, %d, %d) = %d, want %d", tt.live, tt.roots, tt.floor, tt.base, got, tt.want)
			}
			// The runtime's goal for that percent: at the floor (within
			// a percent's rounding) unless the base asks for more.
			goal := func(p int) uint64 { return tt.live + (tt.live+tt.roots)*uint64(p)/100 }
			if tt.live == 0 || got == 1<<20 {
				return
			}
			if g := goal(got); g < min(tt.floor, goal(tt.base)) || (got > tt.base && g > tt.floor+(tt.live+tt.roots)/100) {
				t.Fatalf("goal %d for a floor of %d", g, tt.floor)
			}
		})
	}
}

func readMetric(t *testing.T, name string) uint64 {
	t.Helper()
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		t.Fatalf("metric %s unavailable", name)
	}
	return s[0].Value.Uint64()
}

var sink []byte

// churn allocates n bytes of garbage, as requests do, and reports how
// many collections ran meanwhile.
func churn(t *testing.T, n int) uint64 {
	t.Helper()
	before := readMetric(t, "/gc/cycles/total:gc-cycles")
	for range n / (32 << 10) {
		sink = make([]byte, 32<<10)
	}
	sink = nil
	return readMetric(t, "/gc/cycles/total:gc-cycles") - before
}

// waitPercent waits for the floor's adjustment, which runs on the
// cleanup goroutine after a collection.
func waitPercent(t *testing.T, ok func(uint64) bool) uint64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p := readMetric(t, "/gc/gogc:percent")
		if ok(p) || time.Now().After(deadline) {
			return p
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

// The floor's point: a small heap is collected a fraction as often.
func TestFloorCutsCollections(t *testing.T) {
	t.Setenv("GOGC", "") // the test must not inherit a chosen pace
	runtime.GC()
	without := churn(t, 256<<20)

	const floor = 64 << 20
	f := Start(floor)
	if f == nil {
		t.Fatal("Start returned nil with GOGC unset")
	}
	t.Cleanup(f.Stop)
	if again := Start(floor); again != nil {
		again.Stop()
		t.Fatal("a second Floor started while one runs")
	}
	if p := waitPercent(t, func(p uint64) bool { return p > 100 }); p <= 100 {
		t.Fatalf("GOGC = %d with a %d-byte floor over a small heap, want > 100", p, floor)
	}
	if goal := readMetric(t, "/gc/heap/goal:bytes"); goal < floor {
		t.Errorf("heap goal %d, under the floor %d", goal, floor)
	}
	with := churn(t, 256<<20)
	t.Logf("collections while allocating 256 MB: %d without the floor, %d with it (GOGC=%d)", without, with, f.Percent())
	if with*3 > without {
		t.Errorf("%d collections with the floor, %d without: want at most a third", with, without)
	}

	f.Stop()
	if p := readMetric(t, "/gc/gogc:percent"); p != 100 {
		t.Errorf("GOGC = %d after Stop, want 100", p)
	}
	runtime.GC()
	runtime.GC()
	if p := readMetric(t, "/gc/gogc:percent"); p != 100 {
		t.Errorf("GOGC = %d after Stop and two collections, want 100 (the floor kept adjusting)", p)
	}
}

func TestFloorLeavesAChosenPace(t *testing.T) {
	t.Setenv("GOGC", "50")
	if f := Start(64 << 20); f != nil {
		f.Stop()
		t.Fatal("Start ran with GOGC set in the environment")
	}
	if f := Start(0); f != nil {
		f.Stop()
		t.Fatal("Start ran with a zero floor")
	}
}
