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
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// The external stream runs (-streams N -external): the mock provider,
// the bare proxy and sluice each run as their own process, so what a
// proxy's resident set and heap grow by while N streams are open is its
// own cost per stream, not the clients' or the mock's (as in the
// in-process runs), and no process needs more descriptors than its own
// share (a proxy two per HTTP/1.1 stream, the mock and the clients one).

// streamFlags configure the external stream runs.
type streamFlags struct {
	sluice      string // sluice binary
	sluiceFlags string // more `sluice serve` flags
	streams     int
	paced       pacedSetup // with paced.interval > 0, a paced run
	heapProfile string     // path prefix for heap profiles while open
}

// settleFor is how long the memory runs wait after the streams ended
// before reading what the proxies kept: two of sluice's idle-trim
// intervals (5 s) and a margin, since a trim needs one whole quiet one.
const settleFor = 12 * time.Second

// idleFor is when, after the streams ended, the held runs read a proxy's
// resident memory as a user sees it at idle: from /proc alone, before the
// heap sample. That sample is a request to the proxy's profiler (with a
// collection), which maps back code and data the idle process had given
// back: sluice's "RSS after" read 20 MB above its idle resident set
// after 1,000 streams. Sluice gives its memory back a second after the
// last request; 4 s leaves a margin for the collections it runs then.
const idleFor = 4 * time.Second

// procProbe reads a proxy process's memory from outside: its resident
// set from /proc, its heap and stacks from the Go profiler it serves
// (debug=1 ends with the runtime's MemStats; gc=1 collects first).
type procProbe struct {
	p     *proc
	pprof string // the profiler's base URL, ending in /debug/pprof/
	// more, when set, gets the goroutine count and the stacks in use at
	// each sample.
	more *[]sampleMore
}

// sampleMore is what a procProbe sample adds to the heap and RSS.
type sampleMore struct {
	goroutines int
	stacks     int64
}

func (e procProbe) sample() (heap, rss int64, err error) {
	resp, err := http.Get(e.pprof + "heap?debug=1&gc=1")
	if err != nil {
		return 0, 0, fmt.Errorf("%s heap: %w", e.p.name, err)
	}
	defer resp.Body.Close()
	heap, stacks, err := memStatsInUse(resp.Body)
	if err != nil {
		return 0, 0, fmt.Errorf("%s heap: %w", e.p.name, err)
	}
	if e.more != nil {
		*e.more = append(*e.more, sampleMore{e.goroutineCount(), stacks})
	}
	return heap, e.p.rss(), nil
}

// goroutineCount is the number of goroutines in the process; -1 when
// it cannot be read.
func (e procProbe) goroutineCount() int {
	resp, err := http.Get(e.pprof + "goroutine?debug=1")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "goroutine profile: total ")))
	if err != nil {
		return -1
	}
	return n
}

// profile writes the heap profile to path, and next to it (path.goroutines)
// where each goroutine waits, to see what holds the stacks.
func (e procProbe) profile(path string) error {
	if err := e.save("heap?gc=1", path); err != nil {
		return err
	}
	return e.save("goroutine?debug=1", path+".goroutines")
}

func (e procProbe) save(what, path string) error {
	resp, err := http.Get(e.pprof + what)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (e procProbe) settle() int64 {
	time.Sleep(idleFor)
	idle := e.p.rss()
	time.Sleep(settleFor - idleFor)
	return idle
}

// warmProbe measures nothing and does not wait: the warm-up runs.
type warmProbe struct{}

func (warmProbe) sample() (int64, int64, error) { return 0, 0, nil }
func (warmProbe) profile(string) error          { return nil }
func (warmProbe) settle() int64                 { return 0 }

// memStatsInUse is HeapInuse + StackInuse, and StackInuse, from a
// debug=1 heap profile.
func memStatsInUse(r io.Reader) (inUse, stacks int64, err error) {
	var heap, stack int64 = -1, -1
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "# HeapInuse = "); ok {
			heap, _ = strconv.ParseInt(v, 10, 64)
		}
		if v, ok := strings.CutPrefix(line, "# Stack = "); ok {
			inuse, _, _ := strings.Cut(v, " ")
			stack, _ = strconv.ParseInt(inuse, 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if heap < 0 || stack < 0 {
		return 0, 0, errors.New("no HeapInuse and Stack in the profile")
	}
	return heap + stack, stack, nil
}

// streamProcs are the processes of an external stream run.
type streamProcs struct {
	mock, bare, sluice *proc
	probes             map[string]procProbe
	all                []*proc
}

func (s *streamProcs) stop() {
	for _, p := range s.all {
		p.stop()
	}
}

// startStreamProcs starts the mock (holding streams until released, or
// paced), the bare proxy and sluice, each serving its profiler.
func startStreamProcs(ctx context.Context, dir string, sf streamFlags) (*streamProcs, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	s := &streamProcs{probes: map[string]procProbe{}}
	start := func(name string, argv func(addr, metrics string) []string) (*proc, error) {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		metrics, err := freeAddr()
		if err != nil {
			return nil, err
		}
		p, err := startPinned(ctx, dir, name, "http://"+addr, -1, argv(addr, metrics)...)
		if err != nil {
			return nil, err
		}
		s.all = append(s.all, p)
		s.probes[name] = procProbe{p: p, pprof: "http://" + metrics + "/debug/pprof/"}
		return p, nil
	}
	h2 := strconv.FormatBool(sf.paced.h2)
	if s.mock, err = start("mock", func(a, m string) []string {
		return []string{self, "-role", "mock", "-listen", a, "-metrics", m, "-h2=" + h2,
			"-events", strconv.Itoa(sf.paced.events), "-interval", sf.paced.interval.String()}
	}); err != nil {
		return s, err
	}
	if s.bare, err = start("bare", func(a, m string) []string {
		return []string{self, "-role", "bare", "-listen", a, "-metrics", m, "-h2=" + h2, "-upstream", s.mock.url}
	}); err != nil {
		return s, err
	}
	cfg := externalConfig(s.mock.url)
	if sf.paced.h2 {
		cfg = strings.ReplaceAll(cfg, `"compatibility"`, `"h2c": true, "compatibility"`)
	}
	cfgPath := filepath.Join(dir, "sluice.hujson")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return s, err
	}
	s.sluice, err = start("sluice", func(a, m string) []string {
		// --max-conns 0: the default 4096 would keep HTTP/1.1 streams
		// beyond it waiting to be accepted.
		args := []string{sf.sluice, "serve", "--config", cfgPath, "--state-dir", filepath.Join(dir, "sluice"),
			"--local-user", "bench@example.com", "--listen", a, "--metrics-listen", m, "--max-conns", "0"}
		return append(args, strings.Fields(sf.sluiceFlags)...)
	})
	return s, err
}

// externalStreams runs the external stream measurement: held streams,
// or with sf.paced.interval set the paced run.
func externalStreams(sf streamFlags, out io.Writer) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "sluice-streambench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	procs, err := startStreamProcs(ctx, dir, sf)
	defer procs.stop()
	if err != nil {
		return err
	}
	if sf.paced.interval > 0 {
		return externalPaced(ctx, procs, sf, out)
	}
	return externalHeld(procs, sf, out)
}

// externalHeld holds sf.streams streams open through each proxy.
func externalHeld(procs *streamProcs, sf streamFlags, out io.Writer) error {
	release := func() error {
		resp, err := http.Post(procs.mock.url+"/release", "text/plain", nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	fmt.Fprintf(out, "%d streams held open at once over HTTP/1.1; each proxy its own process; heap = HeapInuse+StackInuse after a GC; RSS after: %s after the streams ended, after a heap sample; RSS idle: %s after, before it\n",
		sf.streams, settleFor, idleFor)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "target\tcompleted\tRSS per stream\theap+stacks per stream\tof which stacks\tgoroutines per stream\tRSS before\tRSS open\tRSS after\theap+stacks after\tRSS idle\t\n")
	for _, p := range []*proc{procs.bare, procs.sluice} {
		probe := procs.probes[p.name]
		// Warm the path (code, connections, the request log) first.
		if w, err := holdStreams(p.url, 16, release, warmProbe{}, ""); err != nil || w.failed > 0 {
			return fmt.Errorf("%s warm-up: %w", p.name, errors.Join(err, w.firstErr))
		}
		profile := ""
		if sf.heapProfile != "" {
			profile = sf.heapProfile + "-" + p.name + ".pprof"
		}
		var more []sampleMore
		probe.more = &more
		m, err := holdStreams(p.url, sf.streams, release, probe, profile)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		stacks, goroutines := perStreamMore(more, sf.streams)
		if m.failed > 0 {
			fmt.Fprintf(os.Stderr, "%s: %d of %d streams failed, the first with: %v\n", p.name, m.failed, sf.streams, m.firstErr)
		}
		fmt.Fprintf(tw, "%s\t%d/%d\t%.1f KB\t%.1f KB\t%s\t%s\t%.1f MB\t%.1f MB\t%.1f MB\t%.1f MB\t%.1f MB\t\n", p.name, sf.streams-m.failed, sf.streams,
			m.rssPerStream()/1024, m.heapPerStream()/1024, stacks, goroutines, mb(m.rssBefore), mb(m.rssOpen), mb(m.rssAfter), mb(m.heapAfter), mb(m.rssIdle))
	}
	return tw.Flush()
}

// perStreamMore is the growth of the stacks and of the goroutines per
// stream from the first sample (before) to the second (open).
func perStreamMore(more []sampleMore, n int) (stacks, goroutines string) {
	if len(more) < 2 || more[0].goroutines < 0 || more[1].goroutines < 0 {
		return "–", "–"
	}
	return fmt.Sprintf("%.1f KB", float64(more[1].stacks-more[0].stacks)/float64(n)/1024),
		fmt.Sprintf("%.2f", float64(more[1].goroutines-more[0].goroutines)/float64(n))
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// externalPaced runs the paced streams directly to the mock, through the
// bare proxy and through sluice, each proxy its own process.
func externalPaced(ctx context.Context, procs *streamProcs, sf streamFlags, out io.Writer) error {
	ps := sf.paced
	fmt.Fprintf(out, "%d streams, %s, %d events %s apart each; late: more than %s after the mock sent it; each proxy its own process\n",
		ps.streams, ps.protocol(), ps.events+2, ps.interval, lateAfter)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "target\tcompleted\tpeak open\tlate events\tworst delay\tfds open\tRSS per stream\theap+stacks per stream\tof which stacks\tgoroutines per stream\tRSS open\tRSS after\t\n")
	for _, p := range []*proc{procs.mock, procs.bare, procs.sluice} {
		name := p.name
		if p == procs.mock {
			name = "direct to mock"
		}
		run := ps
		probe := procs.probes[p.name]
		var more []sampleMore
		probe.more = &more
		run.probe = probe
		if sf.heapProfile != "" && p != procs.mock {
			run.profile = sf.heapProfile + "-" + p.name + ".pprof"
		}
		var fds int
		var once sync.Once
		run.onOpen = func() { once.Do(func() { fds = p.fds() }) }
		r, err := runPaced(ctx, p.url, run)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		time.Sleep(settleFor)
		stacks, goroutines := perStreamMore(more, ps.streams)
		fmt.Fprintf(tw, "%s\t%d/%d\t%d\t%d/%d\t%s\t%d\t%.1f KB\t%.1f KB\t%s\t%s\t%.1f MB\t%.1f MB\t\n", name, r.completed, ps.streams, r.peak,
			r.late, r.events, r.worst.Round(time.Millisecond), fds,
			float64(r.rssOpen-r.rssBefore)/float64(ps.streams)/1024, float64(r.heapOpen-r.heapBefore)/float64(ps.streams)/1024,
			stacks, goroutines, mb(r.rssOpen), mb(p.rss()))
		if r.firstErr != nil {
			fmt.Fprintf(tw, "%s: first error\t%v\t\n", name, r.firstErr)
		}
	}
	return tw.Flush()
}

// fds is how many descriptors the process has open.
func (p *proc) fds() int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.pid))
	return len(ents)
}

// serveMock runs the mock provider of the external stream runs (-role
// mock): with interval 0 each stream sends one event and waits for POST
// /release, else events come interval apart (pacedProvider). A request
// that is not streamed gets a JSON answer at once.
func serveMock(listen, metrics string, h2 bool, events int, interval time.Duration) error {
	var streams http.Handler
	if interval > 0 {
		streams = pacedProvider(events, interval)
	} else {
		release := make(chan struct{})
		holdRelease.Store(&release)
		streams = holdingProvider()
	}
	plain := mockProvider(events, true)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/release" {
			next := make(chan struct{})
			close(*holdRelease.Swap(&next))
			return
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if !bytes.Contains(body, []byte(`"stream":true`)) {
			plain.ServeHTTP(w, r)
			return
		}
		streams.ServeHTTP(w, r)
	})
	if err := serveProfiler(metrics); err != nil {
		return err
	}
	return serveRole(listen, h, h2)
}
