package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Counting instructions (-external -instructions N)
//
// CPU time per request moves with everything else the machine does, and
// with how warm the core's caches and TLBs are when a request arrives:
// at a low fixed rate a core sleeps between requests, and a larger
// program pays more to wake up on it. valgrind's callgrind counts the
// instructions a process executes instead, which is the same for the same
// program, inputs and environment whatever else runs. So each proxy runs
// under callgrind in turn, serves warm-up requests, has its counters
// zeroed, serves n requests one at a time and dumps its count. Against
// the bare proxy's count this is the work sluice does beyond forwarding;
// where the CPU-time ratio is above it, the difference is time per
// instruction, not work.
//
// What the count leaves out or shifts:
//   - the kernel's work (system calls, page faults, the network stack):
//     callgrind counts the process's own instructions only. The timed
//     table's "system" column has the kernel's share of CPU time;
//   - sluice runs with --trim-memory=false: the idle trimmer tells idle
//     from busy by what 5 s of wall time allocate, which callgrind's
//     slowdown makes look idle, so it would collect and unmap while
//     requests are counted;
//   - requests come a few dozen a second under callgrind, so a handful
//     of request log rows share each commit of the log's writer: its
//     figure is the log's cost on a quiet gateway. At hundreds a second
//     a commit carries more rows and each row costs less.
//
// Time per instruction: -cache-sim has callgrind simulate the first-level
// caches too (--cache-sim=yes, with the host's geometry) and adds their
// misses per request. Two programs that execute as many instructions can
// still take different times, and the count alone does not say why; the
// misses of the instruction cache do, for a program whose code for one
// event does not fit in it. The simulation keeps the caches warm across
// the waits between events, which a real core does not: read the misses
// as a floor.

// eventSpacing is how far apart the mock sends a stream's content events
// in the instruction count. Sent at once, as the timed runs' mock does,
// they would reach a proxy slowed down by callgrind several to a read;
// spaced, each is its own read, write and flush, as from a provider.
const eventSpacing = 2 * time.Millisecond

// spacedEvents is the mock provider of the instruction count: JSON
// answers as mockProvider gives them, streams from pacedProvider with
// their events eventSpacing apart.
func spacedEvents(events int) http.Handler {
	plain, streams := mockProvider(events, true), pacedProvider(events, eventSpacing)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if bytes.Contains(body, []byte(`"stream":true`)) {
			streams.ServeHTTP(w, r)
			return
		}
		plain.ServeHTTP(w, r)
	})
}

// instructionsFlags configure the instruction count.
type instructionsFlags struct {
	requests int    // counted requests per target and mode
	keep     string // directory for the callgrind dumps; "" removes them
	cacheSim bool   // simulate the first-level caches and report their misses
}

// callgrindEnv is the environment of a proxy under callgrind: one P, as
// the timed runs give it, and no asynchronous preemption, whose signals
// callgrind does not survive (it aborts on an assertion in its signal
// handling).
var callgrindEnv = []string{"GOMAXPROCS=1", "GODEBUG=asyncpreemptoff=1"}

// callgrindStart is how long a proxy may take to start listening under
// callgrind: sluice compiles its policy at start, about fifty times
// slower than natively.
const callgrindStart = 5 * time.Minute

// runInstructions counts each target's instructions per request in every
// mode of ef and prints the table.
func runInstructions(ef externalFlags, inf instructionsFlags, out io.Writer) error {
	for _, tool := range []string{"valgrind", "vgdb"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("-instructions runs each proxy under valgrind's callgrind, and %s is not installed (Debian: apt-get install valgrind)", tool)
		}
	}
	if inf.requests <= 0 {
		return fmt.Errorf("-instructions %d: want a count of requests above zero", inf.requests)
	}
	modes, err := externalModes(ef)
	if err != nil {
		return err
	}
	dir := inf.keep
	if dir == "" {
		if dir, err = os.MkdirTemp("", "sluice-instructions-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	upstream, err := serveLoopback(spacedEvents(ef.events))
	if err != nil {
		return err
	}
	defer upstream.Close()
	// See "What the count leaves out" above.
	ef.sluiceFlags += " --trim-memory=false"
	targets, err := proxyTargets(ef, dir, upstream.URL)
	if err != nil {
		return err
	}

	warm := max(20, inf.requests/5)
	fmt.Fprintf(out, "instructions per request: each proxy under callgrind (%s), %d requests one at a time after %d to warm up; streams of %d events, %s apart\n\n",
		strings.Join(callgrindEnv, " "), inf.requests, warm, ef.events+2, eventSpacing)
	counts := map[string]map[string]instructionCount{} // by mode, then target
	for _, m := range modes {
		counts[m.name] = map[string]instructionCount{}
	}
	client := &http.Client{Transport: transport()}
	ctx := context.Background()
	for _, t := range targets {
		per, err := countTarget(ctx, client, t, modes, warm, inf.requests, dir, inf.cacheSim)
		if err != nil {
			return err
		}
		for mode, v := range per {
			counts[mode][t.name] = v
		}
	}

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "mode\ttarget\tinstructions/req\t÷ bare\tfailed\t")
	if inf.cacheSim {
		fmt.Fprintf(tw, "I1 misses/req\t÷ bare\tD1 misses/req\t÷ bare\t")
	}
	fmt.Fprintln(tw)
	ratio := func(v, bare float64) string {
		if bare <= 0 {
			return "–"
		}
		return fmt.Sprintf("%.2fx", v/bare)
	}
	for _, m := range modes {
		bare := counts[m.name]["bare"]
		for _, t := range targets {
			c := counts[m.name][t.name]
			fmt.Fprintf(tw, "%s\t%s\t%.0fk\t%s\t%d\t", m.name, t.name, c.perRequest/1000, ratio(c.perRequest, bare.perRequest), c.failed)
			if inf.cacheSim {
				fmt.Fprintf(tw, "%.1fk\t%s\t%.1fk\t%s\t", c.i1Misses/1000, ratio(c.i1Misses, bare.i1Misses), c.d1Misses/1000, ratio(c.d1Misses, bare.d1Misses))
			}
			fmt.Fprintln(tw)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nfailed: requests that broke off under callgrind, each counted as one (see countRequests)")
	if inf.cacheSim {
		fmt.Fprintln(out, "misses: first-level instruction (I1) and data (D1, reads and writes) cache misses callgrind simulated, caches warm between events")
	}
	if inf.keep != "" {
		fmt.Fprintf(out, "in %s: each target's log and callgrind dumps (callgrind_annotate TARGET.callgrind.N, N counting the modes from 1)\n", inf.keep)
	}
	return nil
}

// instructionCount is one target's count in one mode: instructions per
// request, the requests that failed while counting (see countRequests)
// and, with the caches simulated, their misses per request.
type instructionCount struct {
	perRequest float64
	failed     int
	i1Misses   float64 // instruction cache
	d1Misses   float64 // data cache, reads and writes
}

// countTarget starts t under callgrind and returns its instructions per
// request in each mode.
func countTarget(ctx context.Context, client *http.Client, t proxyTarget, modes []modeSpec, warm, n int, dir string, cacheSim bool) (map[string]instructionCount, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	out := filepath.Join(dir, t.name+".callgrind")
	argv := []string{"valgrind", "--tool=callgrind", "--callgrind-out-file=" + out}
	if cacheSim {
		argv = append(argv, "--cache-sim=yes")
	}
	argv = append(argv, t.argv(addr)...)
	env := append(slices.Clip(callgrindEnv), t.env...)
	p, err := startProc(ctx, dir, t.name, "http://"+addr, -1, env, callgrindStart, argv...)
	if err != nil {
		return nil, err
	}
	defer p.stop()
	per := map[string]instructionCount{}
	for i, m := range modes {
		path, body := m.request(p)
		url := p.url + path
		// A lost warm-up stream (see countRequests) counts for nothing.
		var warmed int
		var warmErr error
		for range warm {
			if warmErr = once(ctx, client, url, body); warmErr == nil {
				warmed++
			}
		}
		if warmed < warm/2 {
			return nil, fmt.Errorf("%s %s: %d of %d warm-up requests failed, the last with: %w", m.name, t.name, warm-warmed, warm, warmErr)
		}
		send := func() error { return once(ctx, client, url, body) }
		c, err := countRequests(p, send, n, fmt.Sprintf("%s.%d", out, i+1))
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", m.name, t.name, err)
		}
		if c.failed*4 > n {
			return nil, fmt.Errorf("%s %s: %d of %d requests failed (see %s)", m.name, t.name, c.failed, n, p.log.Name())
		}
		per[m.name] = c
	}
	return per, nil
}

// countRequests zeroes p's counters, sends it n requests one at a time,
// dumps the counters to dump, and returns the instructions (and cache
// misses, when simulated) per request and how many of the requests
// failed. Under callgrind a Go proxy now and then loses a stream midway
// (the bare proxy's upstream connection reads "use of closed network
// connection": one to three streams in a hundred with events spaced as
// here; never seen outside valgrind, nor through sluice). Such a request
// counts as one: it did part of the work.
func countRequests(p *proc, send func() error, n int, dump string) (instructionCount, error) {
	var c instructionCount
	if _, err := callgrindCommand(p.pid, "zero", send); err != nil {
		return c, err
	}
	for range n {
		if send() != nil {
			c.failed++
		}
	}
	// Let a request log write its last rows: its writer flushes every
	// 250 ms. Every target waits alike.
	time.Sleep(time.Second)
	triggers, err := callgrindCommand(p.pid, "dump", send)
	if err != nil {
		return c, err
	}
	events, err := callgrindEvents(dump)
	if err != nil {
		return c, err
	}
	// The count began during the request that carried the zero command
	// in and ended during the last one that carried the dump command:
	// together about one request, beyond the n counted and the triggers
	// before the last.
	requests := float64(n + max(triggers, 1))
	c.perRequest = float64(events["Ir"]) / requests
	c.i1Misses = float64(events["I1mr"]) / requests
	c.d1Misses = float64(events["D1mr"]+events["D1mw"]) / requests
	return c, nil
}

// callgrindCommand has the callgrind run with PID pid carry out a monitor
// command ("zero" the counters, "dump" them), and returns how many
// requests it sent to make it. vgdb hands the command over when the
// process next runs valgrind's polling, which an idle process blocked in
// the kernel never does; callgrind_control then interrupts it through
// ptrace, which now and then broke the bare proxy's next stream. So vgdb
// here never interrupts (--max-invoke-ms=0), and requests sent with send
// make the process run until it has taken the command.
func callgrindCommand(pid int, cmd string, send func() error) (triggers int, err error) {
	c := exec.Command("vgdb", "--pid="+strconv.Itoa(pid), "--max-invoke-ms=0", cmd)
	var out strings.Builder
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		return 0, fmt.Errorf("vgdb %s: %w", cmd, err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	wait := time.NewTimer(200 * time.Millisecond) // vgdb connecting
	defer wait.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return triggers, fmt.Errorf("vgdb %s: %w: %s", cmd, err, strings.TrimSpace(out.String()))
			}
			return triggers, nil
		case <-wait.C:
		}
		if triggers == 50 {
			c.Process.Kill()
			<-done
			return triggers, fmt.Errorf("vgdb %s: the process did not take the command in %d requests: %s", cmd, triggers, strings.TrimSpace(out.String()))
		}
		triggers++
		send() // a lost stream here counts as much as a whole one
		wait.Reset(200 * time.Millisecond)
	}
}

// callgrindEvents reads the totals of a callgrind dump by event name:
// Ir (instructions) always, the cache events with --cache-sim=yes.
func callgrindEvents(path string) (map[string]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseCallgrindSummary(f)
}

// parseCallgrindSummary reads a dump's "events:" line, the names, and its
// "summary:" line, their totals in the same order.
func parseCallgrindSummary(r io.Reader) (map[string]int64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var names []string
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "events:"); ok {
			names = strings.Fields(v)
			continue
		}
		v, ok := strings.CutPrefix(line, "summary:")
		if !ok {
			continue
		}
		if len(names) == 0 {
			return nil, errors.New("callgrind dump with a summary line before its events line")
		}
		values := strings.Fields(v)
		if len(values) == 0 || len(values) > len(names) {
			return nil, fmt.Errorf("callgrind summary %q does not match its events %q", strings.TrimSpace(v), names)
		}
		totals := make(map[string]int64, len(names))
		for i, s := range values {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("callgrind summary: %w", err)
			}
			totals[names[i]] = n
		}
		if _, ok := totals["Ir"]; !ok {
			return nil, fmt.Errorf("callgrind dump without an instruction count (events %q)", names)
		}
		return totals, nil
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return nil, errors.New("callgrind dump without a summary line")
}
