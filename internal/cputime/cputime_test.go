package cputime

import (
	"runtime"
	"testing"
	"time"
)

// spin burns CPU on the calling thread until d of it is used, or a
// deadline passes.
func spin(d time.Duration) (used time.Duration) {
	start := Thread()
	for deadline := time.Now().Add(10 * time.Second); Thread()-start < d && time.Now().Before(deadline); {
		for range 100_000 {
		}
	}
	return Thread() - start
}

func TestCPUTimeAdvancesWithWork(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("thread CPU time is read on Linux only")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p0 := Process()
	if used := spin(50 * time.Millisecond); used < 50*time.Millisecond {
		t.Fatalf("thread CPU went up %v while spinning, want at least 50ms", used)
	}
	if d := Process() - p0; d < 50*time.Millisecond {
		t.Errorf("process CPU went up %v while a thread spun 50ms", d)
	}
	// A sleeping thread is charged next to nothing.
	t0 := Thread()
	time.Sleep(100 * time.Millisecond)
	if d := Thread() - t0; d > 50*time.Millisecond {
		t.Errorf("thread CPU went up %v while it slept", d)
	}
}
