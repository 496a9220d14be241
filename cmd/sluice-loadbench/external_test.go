package main

import (
	"context"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"
)

// TestOpenLoopCountsStalls checks that the fixed-rate run measures what a
// stall costs the requests scheduled behind it: a server that stops
// answering for 300 ms once must show at p99 (a closed-loop generator
// would have paused and seen one slow request).
func TestOpenLoopCountsStalls(t *testing.T) {
	tests := []struct {
		name    string
		stall   time.Duration
		wantP99 time.Duration // at least
		maxP50  time.Duration
	}{
		{name: "steady server", stall: 0, maxP50: 250 * time.Millisecond},
		{name: "one 300ms stall", stall: 300 * time.Millisecond, wantP99: 150 * time.Millisecond, maxP50: 250 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			stalled := false
			srv, err := serveLoopback(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// The whole server stops while one request holds the lock.
				mu.Lock()
				if !stalled && tt.stall > 0 {
					stalled = true
					time.Sleep(tt.stall)
				}
				mu.Unlock()
				w.Write([]byte("{}"))
			}))
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			client := &http.Client{Transport: transport()}
			res := openLoop(context.Background(), client, srv.URL, []byte("{}"), 200, time.Second)
			if res.errors != 0 || res.requests != 200 {
				t.Fatalf("%d answered, %d errors (first: %v); want 200, 0", res.requests, res.errors, res.firstErr)
			}
			if p99 := res.percentile(0.99); p99 < tt.wantP99 {
				t.Errorf("p99 %s, want at least %s", p99, tt.wantP99)
			}
			if p50 := res.percentile(0.50); p50 > tt.maxP50 {
				t.Errorf("p50 %s, want at most %s", p50, tt.maxP50)
			}
		})
	}
}

// TestProcCPU reads this process's CPU time from /proc as the benchmark
// reads the proxies': it grows with work done.
func TestProcCPU(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	before, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Spin until getrusage counts 100 ms of CPU (however busy the
	// machine), then /proc must count most of it too.
	start := processCPU()
	for deadline := time.Now().Add(20 * time.Second); processCPU()-start < 100*time.Millisecond && time.Now().Before(deadline); {
	}
	after, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after-before < 50*time.Millisecond {
		t.Errorf("/proc counts %s for 100 ms of CPU, want at least 50ms", after-before)
	}
}
