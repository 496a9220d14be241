package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluice-gateway/sluice/proxy"
)

// externalFlags configure the external benchmark (-external): each proxy
// runs as its own process on its own core, measured from outside.
type externalFlags struct {
	sluice      string        // sluice binary
	nginx       string        // nginx binary; "" or missing skips nginx
	proxyCPU    int           // the core the proxies are pinned to
	loadCPU     int           // the core the generator and mock run on
	rounds      int           // interleaved rounds
	rate        int           // open-loop rate of plain requests, per second
	streamRate  int           // open-loop rate of streamed requests
	fixed       time.Duration // length of one open-loop run
	warm        time.Duration // unmeasured run at the fixed rate before it
	saturate    time.Duration // length of one closed-loop run (0 skips)
	workers     int           // closed-loop clients
	events      int           // content chunks in a streamed answer
	sluiceFlags string        // extra `sluice serve` flags for every sluice target
	only        string        // modes to run, comma-separated ("" for plain,stream)
	// baseline, when set, is another sluice binary (an earlier build)
	// run in the same rounds as targets base and base-nolog, so that a
	// change is measured against it round by round.
	baseline string
}

// proc is a proxy under test: a process pinned to the proxy core.
type proc struct {
	name string
	url  string
	cmd  *exec.Cmd
	pid  int
	log  *os.File
}

// cpu is the user and system time the process has used so far, from the
// kernel's accounting in /proc/PID/stat (all threads; clock ticks).
func (p *proc) cpu() (time.Duration, error) { return procCPU(p.pid) }

// rss is the process's resident memory, from /proc/PID/status.
func (p *proc) rss() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func (p *proc) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
	if p.log != nil {
		p.log.Close()
	}
}

// clockTick is the unit of /proc/PID/stat's times (USER_HZ): 100 on
// every Linux that matters.
const clockTick = 10 * time.Millisecond

func procCPU(pid int) (time.Duration, error) {
	st, err := readProcStat(pid)
	return st.user + st.sys, err
}

// procStat is a process's CPU time and page faults so far, from the
// kernel's accounting in /proc/PID/stat (all threads).
type procStat struct {
	user, sys time.Duration
	// minflt counts minor page faults: pages mapped without reading the
	// disk (memory handed back to the kernel and touched again, pages of
	// the executable mapped back in).
	minflt int64
}

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// The command name, in parentheses, may hold spaces: count fields
	// from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// After ')': state(3) ... minflt is field 10, utime 14, stime 15
	// (1-based).
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	flt, err0 := strconv.ParseInt(f[7], 10, 64)
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err0, err1, err2); err != nil {
		return procStat{}, err
	}
	return procStat{user: time.Duration(ut) * clockTick, sys: time.Duration(st) * clockTick, minflt: flt}, nil
}

// pinSelf makes sure this process runs on the load core only: when it is
// not already pinned there, it runs itself again under taskset and exits
// with that run's status (affinity set after start would miss the
// runtime's threads already running).
func pinSelf(cpu int) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err == nil && set.Count() == 1 && set.IsSet(cpu) {
		return
	}
	if runtime.NumCPU() < 2 {
		fatal(errors.New("the external benchmark needs two cores: one for the proxies, one for the load"))
	}
	exe, err := os.Executable()
	if err != nil {
		fatal(err)
	}
	cmd := exec.Command("taskset", append([]string{"-c", strconv.Itoa(cpu), exe}, os.Args[1:]...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			os.Exit(ee.ExitCode())
		}
		fatal(fmt.Errorf("taskset: %w", err))
	}
	os.Exit(0)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "sluice-loadbench:", err)
	os.Exit(1)
}

// freeAddr is a loopback address nothing listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startPinned starts argv on the proxy core with GOMAXPROCS=1, its output
// in dir/name.log, and waits until url answers. With cpu < 0 it runs
// argv as it is, on any core (the memory runs, which time nothing).
func startPinned(ctx context.Context, dir, name, url string, cpu int, argv ...string) (*proc, error) {
	var env []string
	if cpu >= 0 {
		env = []string{"GOMAXPROCS=1"}
	}
	return startProc(ctx, dir, name, url, cpu, env, 30*time.Second, argv...)
}

// startProc starts argv with env added to this process's environment,
// pinned to core cpu unless it is negative, its output in dir/name.log,
// and waits up to wait until url answers.
func startProc(ctx context.Context, dir, name, url string, cpu int, env []string, wait time.Duration, argv ...string) (*proc, error) {
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	if cpu >= 0 {
		cmd = exec.Command("taskset", append([]string{"-c", strconv.Itoa(cpu)}, argv...)...)
	}
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	// taskset and valgrind exec the program: the PID is the proxy's own.
	p := &proc{name: name, url: url, cmd: cmd, pid: cmd.Process.Pid, log: logf}
	deadline := time.Now().Add(wait)
	for {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "http://"), time.Second)
		if err == nil {
			c.Close()
			return p, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.stop()
			out, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("%s did not start listening: %s", name, bytes.TrimSpace(out))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serveBare runs the bare reverse proxy (-role bare) until it is
// signalled: the baseline, an httputil.ReverseProxy and nothing else.
// With h2 it serves h2c too and speaks h2c to the upstream; with
// metrics set it serves the Go profiler there, as sluice's
// --metrics-listen does, for the memory runs to read its heap.
func serveBare(listen, upstream, metrics string, h2 bool) error {
	u, err := url.Parse(upstream)
	if err != nil {
		return err
	}
	var tr http.RoundTripper = transport()
	if h2 {
		tr = h2cClient()
	}
	rp := &httputil.ReverseProxy{
		Rewrite:       func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		Transport:     tr,
		FlushInterval: -1,
		ErrorLog:      stdlog.New(io.Discard, "", 0),
	}
	if err := serveProfiler(metrics); err != nil {
		return err
	}
	return serveRole(listen, rp, h2)
}

// serveRole serves h on listen (HTTP/1.1, and h2c with h2) until the
// process is signalled.
func serveRole(listen string, h http.Handler, h2 bool) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	return newServer(h, h2, nil).Serve(ln)
}

// serveProfiler serves the Go profiler on addr in the background; nothing
// when addr is empty.
func serveProfiler(addr string) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	go http.Serve(ln, proxy.PprofHandler())
	return nil
}

const nginxConf = `worker_processes 1;
daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[1]s/nginx-body;
  proxy_temp_path %[1]s/nginx-proxy;
  fastcgi_temp_path %[1]s/nginx-fastcgi;
  uwsgi_temp_path %[1]s/nginx-uwsgi;
  scgi_temp_path %[1]s/nginx-scgi;
  upstream mock { server %[3]s; keepalive 256; }
  server {
    listen %[2]s;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
`

// modeSpec is one kind of request the benchmark sends: sluice gets body
// at path, the other targets (the bare proxy, nginx) baseBody at
// basePath. They differ in the translated modes, where sluice gets an
// Anthropic messages request for a model whose provider speaks chat
// completions only, and the others the same chat request as untranslated.
type modeSpec struct {
	name           string
	path, basePath string
	body, baseBody []byte
	rate           int
}

// request is what mode m sends to p.
func (m modeSpec) request(p *proc) (path string, body []byte) {
	if strings.HasPrefix(p.name, "sluice") {
		return m.path, m.body
	}
	return m.basePath, m.baseBody
}

// externalModes are the modes ef.only names (plain and stream when it
// names none), in the order they run; a name that is no mode is an error.
func externalModes(ef externalFlags) ([]modeSpec, error) {
	const chatPath, messagesPath = "/v1/chat/completions", "/v1/messages"
	plain := []byte(`{"model":"gpt-5","messages":[{"role":"user","content":"hello"}]}`)
	stream := []byte(`{"model":"gpt-5","stream":true,"messages":[{"role":"user","content":"hello"}]}`)
	all := []modeSpec{
		{"plain", chatPath, chatPath, plain, plain, ef.rate},
		{"stream", chatPath, chatPath, stream, stream, ef.streamRate},
		{"translated", messagesPath, chatPath,
			[]byte(`{"model":"claude-bench","max_tokens":1024,"messages":[{"role":"user","content":"hello"}]}`), plain, ef.rate},
		{"translated-stream", messagesPath, chatPath,
			[]byte(`{"model":"claude-bench","max_tokens":1024,"stream":true,"messages":[{"role":"user","content":"hello"}]}`), stream, ef.streamRate},
	}
	only := ef.only
	if only == "" {
		only = "plain,stream"
	}
	wanted := map[string]bool{}
	for name := range strings.SplitSeq(only, ",") {
		name = strings.TrimSpace(name)
		if !slices.ContainsFunc(all, func(m modeSpec) bool { return m.name == name }) {
			return nil, fmt.Errorf("-mode: no mode %q (plain, stream, translated, translated-stream)", name)
		}
		wanted[name] = true
	}
	var modes []modeSpec
	for _, m := range all {
		if wanted[m.name] {
			modes = append(modes, m)
		}
	}
	return modes, nil
}

// externalConfig is the configuration both sluice processes serve: gpt-5
// from a chat completions provider, and claude-bench from one that speaks
// chat completions only and translates for clients of other formats.
func externalConfig(upstreamURL string) string {
	return `{"providers": {
		"openai": {"baseurl": "` + upstreamURL + `", "apikey": "sk-bench", "models": ["gpt-5"],
			"compatibility": {"openai_chat": true}},
		"translating": {"baseurl": "` + upstreamURL + `", "apikey": "sk-bench", "models": ["claude-bench"],
			"compatibility": {"openai_chat": true}, "translate": true}}}`
}

// roundResult is one target's figures in one round of one mode.
type roundResult struct {
	cpuPerReq time.Duration
	// maxCPUPerReq is the CPU time per request of the closed-loop run,
	// where the proxy waits far less for work: the fixed-rate run's
	// figure exceeds it by what waking up between requests costs (see
	// README, Performance).
	maxCPUPerReq time.Duration
	// sysPerReq is the part of cpuPerReq spent in the kernel (system
	// calls, page faults), faultsPerReq the minor page faults per request
	// of the fixed-rate run.
	sysPerReq        time.Duration
	faultsPerReq     float64
	p50, p99, p999   time.Duration
	maxRate          float64
	errors, requests int
}

// runExternal is the external benchmark: the proxies as separate pinned
// processes, the generator and the mock provider here on the other core.
func runExternal(ef externalFlags, out io.Writer) error {
	if _, err := exec.LookPath("taskset"); err != nil {
		return errors.New("the external benchmark pins processes with taskset (util-linux), which is not installed")
	}
	modes, err := externalModes(ef)
	if err != nil {
		return err
	}
	pinSelf(ef.loadCPU)
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "sluice-extbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	upstream, err := serveLoopback(mockProvider(ef.events, true))
	if err != nil {
		return err
	}
	defer upstream.Close()

	var procs []*proc
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	start := func(name string, argv func(addr string) []string) error {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		p, err := startPinned(ctx, dir, name, "http://"+addr, ef.proxyCPU, argv(addr)...)
		if err != nil {
			return err
		}
		procs = append(procs, p)
		return nil
	}
	targets, err := proxyTargets(ef, dir, upstream.URL)
	if err != nil {
		return err
	}
	for _, t := range targets {
		if err := start(t.name, t.argv); err != nil {
			return err
		}
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: time.Minute}}
	// Read the resident memory at start as it is once started: sluice
	// returns what compiling its policy took within a second of being
	// ready, and read at once, the last one started could show twice its
	// settled size.
	time.Sleep(2 * time.Second)
	rssStart := map[string]int64{}
	for _, p := range procs {
		rssStart[p.name] = p.rss()
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(out, "%d rounds; open loop at %d req/s (JSON answers) and %d req/s (streamed, %d events) for %s; closed loop with %d clients for %s\n",
		ef.rounds, ef.rate, ef.streamRate, ef.events+2, ef.fixed, ef.workers, ef.saturate)
	fmt.Fprintf(out, "proxies on CPU %d (GOMAXPROCS=1), load and mock on CPU %d; medians of rounds, [min–max] of per-round ratios to bare\n\n", ef.proxyCPU, ef.loadCPU)
	fmt.Fprintf(tw, "mode\ttarget\tCPU/req\tCPU ÷ bare\tp50\tp99\tp99.9\tadded p99\tmax req/s\tthroughput ÷ bare\tCPU ÷ bare at max\terrors\tsystem\tfaults/req\t\n")
	var compared []string // the table of sluice against its baseline
	for _, m := range modes {
		// Warm every target: connections, caches, the runtime's heap.
		for _, p := range procs {
			path, body := m.request(p)
			openLoop(ctx, client, p.url+path, body, m.rate, time.Second)
		}
		res := map[string][]roundResult{}
		for r := range ef.rounds {
			// Rotate the order so no target always follows the same one.
			for i := range procs {
				p := procs[(i+r)%len(procs)]
				rr, err := measure(ctx, client, p, m, ef)
				if err != nil {
					return err
				}
				res[p.name] = append(res[p.name], rr)
			}
		}
		base := res["bare"]
		for _, p := range procs {
			rs := res[p.name]
			cpuR, thrR := perRound(rs, base, roundCPU), perRound(rs, base, roundRate)
			var addR []float64
			for i, r := range rs {
				addR = append(addR, float64(r.p99-base[i].p99))
			}
			pick := func(f func(roundResult) float64) float64 {
				v := make([]float64, len(rs))
				for i, r := range rs {
					v[i] = f(r)
				}
				return median(v)
			}
			errs := 0
			for _, r := range rs {
				errs += r.errors
			}
			cpuCol, thrCol, addCol, maxCPUCol := "1.00x", "1.00x", "—", "1.00x"
			if p.name != "bare" {
				cpuCol, thrCol = ratioCol(cpuR), ratioCol(thrR)
				addCol = fmtDur(time.Duration(median(addR)))
				maxCPUCol = ratioCol(perRound(rs, base, roundMaxCPU))
			}
			maxCol := "—"
			if ef.saturate > 0 {
				maxCol = fmt.Sprintf("%.0f", pick(func(r roundResult) float64 { return r.maxRate }))
			} else {
				thrCol, maxCPUCol = "—", "—"
			}
			// The system and faults columns came later: last, so that
			// scripts reading the others by position still find them.
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%.1f\t\n", m.name, p.name,
				fmtDur(time.Duration(pick(func(r roundResult) float64 { return float64(r.cpuPerReq) }))), cpuCol,
				fmtDur(time.Duration(pick(func(r roundResult) float64 { return float64(r.p50) }))),
				fmtDur(time.Duration(pick(func(r roundResult) float64 { return float64(r.p99) }))),
				fmtDur(time.Duration(pick(func(r roundResult) float64 { return float64(r.p999) }))),
				addCol, maxCol, thrCol, maxCPUCol, errs,
				fmtDur(time.Duration(pick(func(r roundResult) float64 { return float64(r.sysPerReq) }))),
				pick(func(r roundResult) float64 { return r.faultsPerReq }))
		}
		for _, v := range sluiceTargets(ef) {
			if v.against == "" {
				continue
			}
			rs, base := res[v.name], res[v.against]
			thrCol, maxCPUCol := "—", "—"
			if ef.saturate > 0 {
				thrCol = ratioCol(perRound(rs, base, roundRate))
				maxCPUCol = ratioCol(perRound(rs, base, roundMaxCPU))
			}
			compared = append(compared, fmt.Sprintf("%s\t%s ÷ %s\t%s\t%s\t%s\t\n", m.name, v.name, v.against,
				ratioCol(perRound(rs, base, roundCPU)), thrCol, maxCPUCol))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(compared) > 0 {
		fmt.Fprintf(out, "\nsluice against the baseline %s, round by round: medians [min–max] of per-round ratios\n\n", filepath.Base(ef.baseline))
		fmt.Fprintf(tw, "mode\ttargets\tCPU/req ratio\tthroughput ratio\tCPU/req ratio at max\t\n")
		for _, line := range compared {
			fmt.Fprint(tw, line)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	// Idle memory after the load: give the runtimes a moment to return
	// what they freed.
	time.Sleep(2 * time.Second)
	rssAfter := map[string]int64{}
	for _, p := range procs {
		rssAfter[p.name] = p.rss()
	}
	// And once idle for longer than sluice's --trim-memory interval (5 s),
	// to show what a gateway holds between bursts.
	time.Sleep(12 * time.Second)
	fmt.Fprintln(out)
	fmt.Fprintf(tw, "target\tRSS at start\tRSS after load\tRSS 14 s later\t\n")
	for _, p := range procs {
		fmt.Fprintf(tw, "%s\t%.1f MB\t%.1f MB\t%.1f MB\t\n", p.name, float64(rssStart[p.name])/1e6, float64(rssAfter[p.name])/1e6, float64(p.rss())/1e6)
	}
	return tw.Flush()
}

// proxyTarget is a proxy the external benchmark runs: its name, its
// command line given the address to listen on, and what it adds to the
// environment.
type proxyTarget struct {
	name string
	argv func(addr string) []string
	env  []string
}

// proxyTargets are the proxies of the external benchmark, in the order
// they start: the bare proxy (this program with -role bare), sluice with
// and without its request log (and the baseline's, with -baseline) with
// ef.sluiceFlags, and nginx when installed. Their files go in dir.
func proxyTargets(ef externalFlags, dir, upstreamURL string) ([]proxyTarget, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ts := []proxyTarget{{name: "bare", argv: func(a string) []string {
		return []string{self, "-role", "bare", "-listen", a, "-upstream", upstreamURL}
	}}}
	cfgPath := filepath.Join(dir, "sluice.hujson")
	if err := os.WriteFile(cfgPath, []byte(externalConfig(upstreamURL)), 0o600); err != nil {
		return nil, err
	}
	for _, v := range sluiceTargets(ef) {
		args := []string{v.bin, "serve", "--config", cfgPath, "--state-dir", filepath.Join(dir, v.name), "--local-user", "bench@example.com"}
		if v.db != "" {
			args = append(args, "--db", v.db)
		}
		args = append(args, strings.Fields(ef.sluiceFlags)...)
		ts = append(ts, proxyTarget{name: v.name, argv: func(a string) []string { return append(args, "--listen", a) }})
	}
	if ef.nginx != "" {
		if _, err := os.Stat(ef.nginx); err == nil {
			upHost := strings.TrimPrefix(upstreamURL, "http://")
			ts = append(ts, proxyTarget{name: "nginx", argv: func(a string) []string {
				conf := filepath.Join(dir, "nginx.conf")
				os.WriteFile(conf, []byte(fmt.Sprintf(nginxConf, dir, a, upHost)), 0o600)
				return []string{ef.nginx, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "nginx-error.log")}
			}})
		}
	}
	return ts, nil
}

// sluiceTarget is a sluice process of the external benchmark: its
// name, binary and request log (db, "" for the default), and the target
// it is compared with round by round ("" for none but bare).
type sluiceTarget struct {
	name, bin, db, against string
}

// sluiceTargets are the sluice processes to run: sluice with and without
// its request log, and with a baseline the baseline's two, each of
// sluice's compared with the baseline's of the same log.
func sluiceTargets(ef externalFlags) []sluiceTarget {
	ts := []sluiceTarget{{name: "sluice", bin: ef.sluice}, {name: "sluice-nolog", bin: ef.sluice, db: "none"}}
	if ef.baseline == "" {
		return ts
	}
	ts[0].against, ts[1].against = "base", "base-nolog"
	return append(ts, sluiceTarget{name: "base", bin: ef.baseline}, sluiceTarget{name: "base-nolog", bin: ef.baseline, db: "none"})
}

// perRound is f of each of a's rounds divided by f of the same round of
// b, for the rounds where b's is above zero: targets are compared within
// a round, which shares the machine's state of the moment, rather than
// median against median.
func perRound(a, b []roundResult, f func(roundResult) float64) []float64 {
	var v []float64
	for i := range min(len(a), len(b)) {
		if d := f(b[i]); d > 0 {
			v = append(v, f(a[i])/d)
		}
	}
	return v
}

func roundCPU(r roundResult) float64  { return float64(r.cpuPerReq) }
func roundRate(r roundResult) float64 { return r.maxRate }

// roundMaxCPU is the CPU per request of the closed-loop run.
func roundMaxCPU(r roundResult) float64 { return float64(r.maxCPUPerReq) }

func ratioCol(v []float64) string {
	if len(v) == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2fx [%.2f–%.2f]", median(v), slices.Min(v), slices.Max(v))
}

func fmtDur(d time.Duration) string {
	switch a := max(d, -d); {
	case a >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	case a >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(100 * time.Nanosecond).String()
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// measure runs one target through one round: the fixed-rate run, whose
// CPU time per request and latency it reports, then (if asked) the
// closed-loop run for the most requests per second.
func measure(ctx context.Context, client *http.Client, p *proc, m modeSpec, ef externalFlags) (roundResult, error) {
	path, body := m.request(p)
	url := p.url + path
	if ef.warm > 0 {
		// The target has waited while the others ran: what it gave back
		// meanwhile (sluice's idle trimmer returns memory after 5 s) is
		// taken again here, not in the measured run.
		openLoop(ctx, client, url, body, m.rate, ef.warm)
	}
	st0, err := readProcStat(p.pid)
	if err != nil {
		return roundResult{}, fmt.Errorf("%s: %w (did it exit? see its log)", p.name, err)
	}
	ol := openLoop(ctx, client, url, body, m.rate, ef.fixed)
	st1, err := readProcStat(p.pid)
	if err != nil {
		return roundResult{}, fmt.Errorf("%s: %w", p.name, err)
	}
	rr := roundResult{requests: ol.requests, errors: ol.errors}
	if ol.firstErr != nil {
		fmt.Fprintf(os.Stderr, "%s %s: %d of %d requests failed, the first with: %v\n", m.name, p.name, ol.errors, ol.errors+ol.requests, ol.firstErr)
	}
	if ol.requests > 0 {
		n := time.Duration(ol.requests)
		rr.cpuPerReq = (st1.user + st1.sys - st0.user - st0.sys) / n
		rr.sysPerReq = (st1.sys - st0.sys) / n
		rr.faultsPerReq = float64(st1.minflt-st0.minflt) / float64(ol.requests)
	}
	rr.p50, rr.p99, rr.p999 = ol.percentile(0.50), ol.percentile(0.99), ol.percentile(0.999)
	if ef.saturate > 0 {
		cpu0, err := p.cpu()
		if err != nil {
			return rr, fmt.Errorf("%s: %w", p.name, err)
		}
		cl := load(ctx, client, url, body, ef.workers, ef.saturate, 10_000_000)
		cpu1, err := p.cpu()
		if err != nil {
			return rr, fmt.Errorf("%s: %w", p.name, err)
		}
		rr.maxRate = cl.throughput()
		rr.errors += cl.errors
		if cl.requests > 0 {
			rr.maxCPUPerReq = (cpu1 - cpu0) / time.Duration(cl.requests)
		}
	}
	return rr, nil
}

// openLoop sends POSTs of body to url at a fixed rate for d, each at its
// scheduled time whether or not earlier ones have been answered, and
// measures each latency from its scheduled send time, not from when it was
// actually sent: a stalled server makes the requests behind it late, and
// that lateness counts (no coordinated omission).
func openLoop(ctx context.Context, client *http.Client, url string, body []byte, rate int, d time.Duration) result {
	n := int(d.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	lat := make([]time.Duration, n)
	failed := make([]error, n)
	done := make(chan struct{}, n)
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		if w := time.Until(at); w > 0 {
			time.Sleep(w)
		}
		go func() {
			err := once(ctx, client, url, body)
			lat[i] = time.Since(at)
			failed[i] = err
			done <- struct{}{}
		}()
	}
	for range n {
		<-done
	}
	res := result{elapsed: time.Since(start)}
	for i := range n {
		if failed[i] != nil {
			if res.errors == 0 {
				res.firstErr = failed[i]
			}
			res.errors++
			continue
		}
		res.lat = append(res.lat, lat[i])
	}
	res.requests = len(res.lat)
	sortDurations(res.lat)
	return res
}
