package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluice-gateway/sluice/internal/cputime"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy"
	"github.com/sluice-gateway/sluice/proxy/identity"
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
	start := cputime.Process()
	for deadline := time.Now().Add(20 * time.Second); cputime.Process()-start < 100*time.Millisecond && time.Now().Before(deadline); {
	}
	after, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after-before < 50*time.Millisecond {
		t.Errorf("/proc counts %s for 100 ms of CPU, want at least 50ms", after-before)
	}
}

// TestReadProcStatFaults: touching memory the process never had counts
// minor faults, the figure the benchmark reports per request.
func TestReadProcStatFaults(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	const size = 8 << 20
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	before, err := readProcStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < size; i += 4096 {
		mem[i] = 1
	}
	after, err := readProcStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// One fault a page, or one per 2 MB where the kernel maps huge pages.
	if n := after.minflt - before.minflt; n < size/(2<<20) {
		t.Errorf("touching %d MB of new memory counted %d minor faults", size>>20, n)
	}
	if after.user+after.sys < before.user+before.sys {
		t.Errorf("CPU time went back: %v then %v", before, after)
	}
}

// TestMeasureWarmsFirst: with -warm, the target serves an unmeasured run
// before the fixed-rate one, whose requests are neither counted nor
// charged.
func TestMeasureWarmsFirst(t *testing.T) {
	var served atomic.Int64
	mock := mockProvider(5, true)
	upstream, err := serveLoopback(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		mock.ServeHTTP(w, r)
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer upstream.Close()
	p := &proc{name: "bare", url: upstream.URL, pid: os.Getpid()}
	modes, err := externalModes(externalFlags{only: "plain", rate: 100})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: transport()}
	for _, warm := range []time.Duration{0, 500 * time.Millisecond} {
		served.Store(0)
		ef := externalFlags{fixed: 300 * time.Millisecond, warm: warm}
		rr, err := measure(context.Background(), client, p, modes[0], ef)
		if err != nil {
			t.Fatal(err)
		}
		// 100 a second for 300 ms: 30 requests measured; the warm-up's 50
		// served before them.
		if rr.requests < 20 || rr.requests > 40 {
			t.Errorf("warm %s: %d requests counted, want about 30", warm, rr.requests)
		}
		wantWarm := int64(warm / (10 * time.Millisecond))
		if extra := served.Load() - int64(rr.requests); extra < wantWarm*3/4 || extra > wantWarm*5/4+2 {
			t.Errorf("warm %s: %d requests served beyond the %d counted, want about %d", warm, extra, rr.requests, wantWarm)
		}
	}
}

func TestExternalModes(t *testing.T) {
	tests := []struct {
		only    string
		want    []string
		wantErr bool
	}{
		{only: "", want: []string{"plain", "stream"}},
		{only: "translated-stream", want: []string{"translated-stream"}},
		{only: "translated, plain", want: []string{"plain", "translated"}},
		{only: "plain,streamed", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.only, func(t *testing.T) {
			modes, err := externalModes(externalFlags{only: tt.only, rate: 1000, streamRate: 300})
			if (err != nil) != tt.wantErr {
				t.Fatalf("externalModes(%q) error %v, want error %v", tt.only, err, tt.wantErr)
			}
			var names []string
			for _, m := range modes {
				names = append(names, m.name)
			}
			if !slices.Equal(names, tt.want) {
				t.Errorf("externalModes(%q) = %v, want %v", tt.only, names, tt.want)
			}
		})
	}
}

// TestExternalModeRequests sends every mode's requests as the external
// benchmark does, to sluice serving its configuration and to the bare
// proxy, in front of the benchmark's mock provider: each is answered in
// full, sluice's translated answers in Anthropic's format and the bare
// proxy's in chat's.
func TestExternalModeRequests(t *testing.T) {
	ctx := context.Background()
	upstream, err := serveLoopback(mockProvider(5, true))
	if err != nil {
		t.Fatal(err)
	}
	defer upstream.Close()
	cfg, err := policy.Parse("external.hujson", []byte(externalConfig(upstream.URL)), nil)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	gw, err := proxy.New(ctx, cfg, proxy.Options{Identity: identity.Local("bench@example.com"), Sink: discardSink{}, Logger: log, Transport: transport()})
	if err != nil {
		t.Fatal(err)
	}
	sluice, err := serveLoopback(gw)
	if err != nil {
		t.Fatal(err)
	}
	defer sluice.Close()
	bareAddr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	go serveBare(bareAddr, upstream.URL, "", false)
	targets := []*proc{{name: "sluice", url: sluice.URL}, {name: "bare", url: "http://" + bareAddr}}
	modes, err := externalModes(externalFlags{only: "plain,stream,translated,translated-stream", rate: 1, streamRate: 1})
	if err != nil {
		t.Fatal(err)
	}
	// What ends each answer: a JSON answer's usage, or the stream's end.
	ends := map[string]map[string]string{
		"plain":             {"sluice": `"total_tokens":18}}`, "bare": `"total_tokens":18}}`},
		"stream":            {"sluice": "data: [DONE]\n\n", "bare": "data: [DONE]\n\n"},
		"translated":        {"sluice": `"output_tokens":9}}`, "bare": `"total_tokens":18}}`},
		"translated-stream": {"sluice": "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", "bare": "data: [DONE]\n\n"},
	}
	client := &http.Client{Transport: transport()}
	for _, m := range modes {
		for _, p := range targets {
			t.Run(m.name+"/"+p.name, func(t *testing.T) {
				path, body := m.request(p)
				var resp *http.Response
				// The bare proxy may still be starting.
				for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
					resp, err = client.Post(p.url+path, "application/json", bytes.NewReader(body))
					if err == nil || time.Now().After(deadline) {
						break
					}
				}
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d, %v: %s", resp.StatusCode, err, got)
				}
				if want := ends[m.name][p.name]; !bytes.HasSuffix(got, []byte(want)) {
					t.Errorf("answer ends %q, want it to end %q", got[max(0, len(got)-80):], want)
				}
			})
		}
	}
}

// TestPerRound: targets are compared within each round, so a round
// where the machine was slower for everyone does not count as a change.
func TestPerRound(t *testing.T) {
	ms := func(v ...int) []roundResult {
		rs := make([]roundResult, len(v))
		for i, x := range v {
			rs[i] = roundResult{cpuPerReq: time.Duration(x) * time.Microsecond, maxRate: float64(x)}
		}
		return rs
	}
	tests := []struct {
		name string
		a, b []roundResult
		want []float64
	}{
		{"same rounds", ms(110, 220, 330), ms(100, 200, 300), []float64{1.1, 1.1, 1.1}},
		// Medians alone would give 1.0 here: the rounds say 0.5 and 2.
		{"rounds disagree", ms(100, 400), ms(200, 200), []float64{0.5, 2}},
		{"a round without a measure", ms(100, 100), ms(0, 50), []float64{2}},
		{"fewer rounds of one", ms(100), ms(50, 50), []float64{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := perRound(tt.a, tt.b, roundCPU)
			if len(got) != len(tt.want) {
				t.Fatalf("perRound = %v, want %v", got, tt.want)
			}
			for i := range got {
				if math.Abs(got[i]-tt.want[i]) > 1e-9 {
					t.Errorf("perRound = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// TestSluiceTargets: with a baseline binary, the baseline runs with and
// without its request log beside sluice, and each sluice target is
// compared with the baseline's of the same log.
func TestSluiceTargets(t *testing.T) {
	got := sluiceTargets(externalFlags{sluice: "new"})
	want := []sluiceTarget{{name: "sluice", bin: "new"}, {name: "sluice-nolog", bin: "new", db: "none"}}
	if !slices.Equal(got, want) {
		t.Errorf("without a baseline: %+v, want %+v", got, want)
	}
	got = sluiceTargets(externalFlags{sluice: "new", baseline: "old"})
	want = []sluiceTarget{
		{name: "sluice", bin: "new", against: "base"},
		{name: "sluice-nolog", bin: "new", db: "none", against: "base-nolog"},
		{name: "base", bin: "old"},
		{name: "base-nolog", bin: "old", db: "none"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("with a baseline: %+v, want %+v", got, want)
	}
}

// TestMeasureClosedLoopCPU: a round with a closed-loop run reports that
// run's CPU time per request beside the fixed-rate run's, read from the
// target's /proc entry (this process, which serves the mock here); a
// round without one reports neither its rate nor its CPU.
func TestMeasureClosedLoopCPU(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	upstream, err := serveLoopback(mockProvider(5, true))
	if err != nil {
		t.Fatal(err)
	}
	defer upstream.Close()
	p := &proc{name: "bare", url: upstream.URL, pid: os.Getpid()}
	modes, err := externalModes(externalFlags{only: "stream", streamRate: 50})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: transport()}
	tests := []struct {
		name     string
		saturate time.Duration
	}{
		{"with a closed-loop run", 300 * time.Millisecond},
		{"without one", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ef := externalFlags{fixed: 200 * time.Millisecond, saturate: tt.saturate, workers: 4}
			rr, err := measure(context.Background(), client, p, modes[0], ef)
			if err != nil {
				t.Fatal(err)
			}
			if rr.requests == 0 || rr.errors != 0 {
				t.Fatalf("fixed-rate run: %d requests, %d errors", rr.requests, rr.errors)
			}
			if rr.sysPerReq < 0 || rr.sysPerReq > rr.cpuPerReq || rr.faultsPerReq < 0 {
				t.Errorf("fixed-rate run: %s of system time in %s of CPU per request, %.1f faults", rr.sysPerReq, rr.cpuPerReq, rr.faultsPerReq)
			}
			if tt.saturate == 0 {
				if rr.maxRate != 0 || rr.maxCPUPerReq != 0 {
					t.Errorf("no closed-loop run, yet max rate %.0f and CPU per request %s", rr.maxRate, rr.maxCPUPerReq)
				}
				return
			}
			if rr.maxRate <= 0 {
				t.Errorf("max rate %.0f, want above zero", rr.maxRate)
			}
			// A streamed request through this process costs tens of
			// microseconds at least; a second would mean the count of
			// requests went missing.
			if rr.maxCPUPerReq <= 0 || rr.maxCPUPerReq > time.Second {
				t.Errorf("closed-loop CPU per request %s, want a positive figure under a second", rr.maxCPUPerReq)
			}
		})
	}
}
