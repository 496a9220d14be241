// Command sluice-loadbench measures the gateway's overhead: it runs sluice
// (policy, routing, recording and the request log on) and a bare
// httputil.ReverseProxy side by side in front of the same fast mock
// provider on loopback, sends the same load through both, and prints
// throughput, latency percentiles and CPU time per request of each and
// their ratios, for plain and streamed chat completions.
//
//	go run ./cmd/sluice-loadbench -duration 5s -workers 32
//
// The translated modes (-mode translated,translated-stream) send sluice
// Anthropic messages requests for a model whose provider speaks OpenAI
// chat only ("translate": true), so each request and answer is
// translated, and compare them with the same chat completions sent
// through the bare proxy; -external runs the same modes against the
// proxies as separate processes (bench/run.sh).
//
// With -streams N it measures concurrent streams instead: held open
// (memory), or with -h2 / -interval paced as a model's tokens are, over
// HTTP/2 (h2c) on both sides or HTTP/1.1, reporting completion, late
// events, connections and memory per stream.
//
// With -observe it compares sluice with itself instead: metrics scraped
// and tracing on (1% sampled, exported over OTLP/HTTP to a receiver the
// benchmark runs) against tracing off and nobody scraping.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy"
	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/store"
)

func main() {
	duration := flag.Duration("duration", 5*time.Second, "length of each measured run")
	workers := flag.Int("workers", 32, "concurrent clients")
	max := flag.Int("max", 1_000_000, "most requests in one run")
	rounds := flag.Int("rounds", 2, "runs per target and mode, alternating targets (-external: 3 unless set)")
	events := flag.Int("events", 20, "content chunks in a streamed answer")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.StringVar(&onlyMode, "mode", "", "run only these modes, comma-separated: plain, stream, translated, translated-stream (default plain,stream)")
	flag.StringVar(&logMode, "log", "sqlite", "sluice's request log: sqlite (as serve runs by default) or none (records discarded)")
	flag.BoolVar(&observe, "observe", false, "compare sluice with metrics scraped (per-user series on) and tracing on (sampled at -sample, exported to a local OTLP receiver) against sluice with tracing off and no scraper")
	flag.Float64Var(&sampleRatio, "sample", 0.01, "with -observe, the share of requests traced")
	external := flag.Bool("external", false, "measure from outside: sluice (with and without its request log), a bare reverse proxy and nginx each as their own process pinned to one core, the load on another (see bench/run.sh)")
	var ef externalFlags
	flag.StringVar(&ef.sluice, "sluice", "", "with -external (and -streams -external), the sluice binary to run")
	flag.StringVar(&ef.nginx, "nginx", "/usr/sbin/nginx", "with -external, the nginx binary (skipped when absent; empty for none)")
	flag.IntVar(&ef.proxyCPU, "proxy-cpu", 0, "with -external, the core the proxies run on")
	flag.IntVar(&ef.loadCPU, "load-cpu", 1, "with -external, the core the load generator and mock provider run on")
	flag.IntVar(&ef.rate, "rate", 1000, "with -external, plain requests per second in the fixed-rate run")
	flag.IntVar(&ef.streamRate, "stream-rate", 300, "with -external, streamed requests per second in the fixed-rate run")
	flag.DurationVar(&ef.fixed, "fixed", 5*time.Second, "with -external, length of each fixed-rate run")
	flag.DurationVar(&ef.warm, "warm", 0, "with -external, an unmeasured run at the fixed rate this long right before each measured one, so that a target resumes from its wait between rounds outside the measure (0: none)")
	flag.DurationVar(&ef.saturate, "saturate", 2*time.Second, "with -external, length of each closed-loop run for the most requests per second (0: none)")
	flag.StringVar(&ef.sluiceFlags, "sluice-flags", "", "with -external, more `sluice serve` flags for every sluice process (the baseline's too), space-separated")
	flag.StringVar(&ef.baseline, "baseline", "", "with -external, another sluice binary (an earlier build) to run in the same rounds, with and without its request log, and compare sluice with round by round")
	var inf instructionsFlags
	flag.IntVar(&inf.requests, "instructions", 0, "with -external, count instructions instead of timing: each proxy under valgrind's callgrind, this many requests per mode one at a time (needs valgrind; about a minute per target and mode at 300)")
	flag.StringVar(&inf.keep, "callgrind-dir", "", "with -instructions, keep the callgrind dumps in this directory (read them with callgrind_annotate)")
	flag.BoolVar(&inf.cacheSim, "cache-sim", false, "with -instructions, simulate the first-level caches too (callgrind --cache-sim=yes, the host's geometry) and add each target's instruction- and data-cache misses per request; about twice as slow")
	streams := flag.Int("streams", 0, "measure memory instead: hold this many streams open at once through sluice and through a bare reverse proxy, in this process (with -external: each proxy and the mock provider their own process, each proxy's own memory per stream)")
	heapprofile := flag.String("heapprofile", "", "with -streams, write heap profiles (of the proxies, with -external) to this path prefix while the streams are open")
	h2 := flag.Bool("h2", false, "with -streams, a paced run over HTTP/2: h2c from the clients to the proxies and from the proxies to the mock")
	interval := flag.Duration("interval", 0, "with -streams, a paced run: the mock spaces a stream's -events this far apart and the run reports completion and late events (-h2 alone: 1s)")
	flag.BoolVar(&netHTTPH2C, "nethttp-h2c", false, "with -h2, the clients and the bare proxy use net/http's h2c transport instead of sluice's pool (sluice keeps its own)")
	streamsTimeout := flag.Duration("streams-timeout", 5*time.Minute, "with -h2 or -interval, the longest one target's run may take")
	role := flag.String("role", "", "internal: run as the bare proxy (-role bare -listen ADDR -upstream URL [-h2]) or the stream runs' mock provider (-role mock -listen ADDR [-h2] [-interval D]) of -external")
	metricsAddr := flag.String("metrics", "", "internal: with -role, serve the Go profiler on this address")
	listen := flag.String("listen", "", "internal: with -role, the address to listen on")
	upstreamFlag := flag.String("upstream", "", "internal: with -role, the mock provider's URL")
	flag.Parse()
	switch *role {
	case "":
	case "bare":
		if err := serveBare(*listen, *upstreamFlag, *metricsAddr, *h2); err != nil {
			fatal(err)
		}
		return
	case "mock":
		if err := serveMock(*listen, *metricsAddr, *h2, *events, *interval); err != nil {
			fatal(err)
		}
		return
	default:
		fatal(fmt.Errorf("-role %q: bare or mock", *role))
	}
	if ef.baseline != "" && (!*external || *streams > 0) {
		fatal(errors.New("-baseline compares load runs of -external (without -streams) only"))
	}
	if *streams > 0 && *h2 && *interval <= 0 {
		*interval = time.Second
	}
	ps := pacedSetup{streams: *streams, h2: *h2, events: *events, interval: *interval, timeout: *streamsTimeout}
	if *streams > 0 && *external {
		if ef.sluice == "" {
			fatal(errors.New("-streams with -external needs -sluice PATH (go build -o sluice ./cmd/sluice)"))
		}
		sf := streamFlags{sluice: ef.sluice, sluiceFlags: ef.sluiceFlags, streams: *streams, paced: ps, heapProfile: *heapprofile}
		if err := externalStreams(sf, os.Stdout); err != nil {
			fatal(err)
		}
		return
	}
	if *streams > 0 && *interval > 0 {
		if err := pacedStreams(ps, os.Stdout); err != nil {
			fatal(err)
		}
		return
	}
	if *streams > 0 {
		if err := heldStreams(*streams, *heapprofile, os.Stdout); err != nil {
			fatal(err)
		}
		return
	}
	if inf.cacheSim && inf.requests == 0 {
		fatal(errors.New("-cache-sim simulates the caches in the instruction count: add -instructions N"))
	}
	if inf.requests != 0 && (!*external || *streams > 0) {
		fatal(errors.New("-instructions counts the proxies of -external load runs: add -external -sluice PATH, without -streams"))
	}
	if *external {
		if ef.sluice == "" {
			fatal(errors.New("-external needs -sluice PATH (bench/run.sh builds it)"))
		}
		ef.rounds, ef.workers, ef.events, ef.only = 3, *workers, *events, onlyMode
		if inf.requests != 0 {
			if err := runInstructions(ef, inf, os.Stdout); err != nil {
				fatal(err)
			}
			return
		}
		flag.Visit(func(f *flag.Flag) {
			if f.Name == "rounds" {
				ef.rounds = *rounds
			}
		})
		if err := runExternal(ef, os.Stdout); err != nil {
			fatal(err)
		}
		return
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sluice-loadbench:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := bench(*duration, *workers, *max, *rounds, *events, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sluice-loadbench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func bench(d time.Duration, workers, max, rounds, events int, out io.Writer) error {
	ctx := context.Background()
	upstream, err := serveLoopback(mockProvider(events, false))
	if err != nil {
		return err
	}
	defer upstream.Close()

	upstreamURL, _ := url.Parse(upstream.URL)
	bare := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(upstreamURL) },
		Transport: transport(),
		// Requests cut off at the end of a run are expected.
		ErrorLog: stdlog.New(io.Discard, "", 0),
	}
	bareSrv, err := serveLoopback(bare)
	if err != nil {
		return err
	}
	defer bareSrv.Close()

	sluiceSrv, closeSluice, err := startSluice(ctx, upstream.URL, nil)
	if err != nil {
		return err
	}
	defer closeSluice()
	defer sluiceSrv.Close()

	// The two targets compared: the bare proxy and sluice, or with
	// -observe sluice without and with its observability.
	baseline, measured := target{"bare", bareSrv.URL}, target{"sluice", sluiceSrv.URL}
	if observe {
		obs, stop, err := startObserved(ctx, upstream.URL)
		if err != nil {
			return err
		}
		defer stop()
		baseline, measured = target{"sluice", sluiceSrv.URL}, target{"sluice+obs", obs}
	}

	client := &http.Client{Transport: transport()}
	const chatPath, messagesPath = "/v1/chat/completions", "/v1/messages"
	plain := `{"model":"gpt-5","messages":[{"role":"user","content":"hello"}]}`
	stream := `{"model":"gpt-5","stream":true,"messages":[{"role":"user","content":"hello"}]}`
	// A mode sends the baseline body to the baseline's path and the
	// measured body to the measured target's.
	modes := []struct{ name, path, body, basePath, baseBody string }{
		{"plain", chatPath, plain, chatPath, plain},
		{"stream", chatPath, stream, chatPath, stream},
		{"translated", messagesPath, `{"model":"claude-bench","max_tokens":1024,"messages":[{"role":"user","content":"hello"}]}`, chatPath, plain},
		{"translated-stream", messagesPath, `{"model":"claude-bench","max_tokens":1024,"stream":true,"messages":[{"role":"user","content":"hello"}]}`, chatPath, stream},
	}
	wanted := map[string]bool{"plain": true, "stream": true}
	if onlyMode != "" {
		wanted = map[string]bool{}
		for _, m := range strings.Split(onlyMode, ",") {
			wanted[strings.TrimSpace(m)] = true
		}
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "mode\ttarget\treq/s\tp50\tp99\tcpu/req\terrors\tratio\tcpu ratio\t\n")
	for _, m := range modes {
		if !wanted[m.name] || observe && m.path != m.basePath {
			continue
		}
		var results = map[string]result{}
		// Warm both paths (connections, caches) before measuring.
		load(ctx, client, baseline.url+m.basePath, []byte(m.baseBody), workers, time.Second/2, max)
		load(ctx, client, measured.url+m.path, []byte(m.body), workers, time.Second/2, max)
		for range rounds {
			for _, t := range []target{baseline, measured} {
				url, body := measured.url+m.path, m.body
				if t == baseline {
					url, body = baseline.url+m.basePath, m.baseBody
				}
				r := load(ctx, client, url, []byte(body), workers, d, max)
				acc := results[t.name]
				acc.requests += r.requests
				acc.errors += r.errors
				acc.elapsed += r.elapsed
				acc.cpu += r.cpu
				acc.lat = append(acc.lat, r.lat...)
				results[t.name] = acc
			}
		}
		for _, name := range []string{baseline.name, measured.name} {
			r := results[name]
			sortDurations(r.lat)
			ratio, cpuRatio := "", ""
			if bare := results[baseline.name]; name == measured.name {
				ratio = fmt.Sprintf("%.2fx", r.throughput()/bare.throughput())
				cpuRatio = fmt.Sprintf("%.2fx", float64(bare.cpuPerRequest())/float64(r.cpuPerRequest()))
			}
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%s\t%d\t%s\t%s\t\n", m.name, name, r.throughput(),
				r.percentile(0.50).Round(time.Microsecond), r.percentile(0.99).Round(time.Microsecond),
				r.cpuPerRequest().Round(time.Microsecond/10), r.errors, ratio, cpuRatio)
		}
	}
	return tw.Flush()
}

func transport() *http.Transport {
	return &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: 30 * time.Second}
}

// target is one server the load is sent to.
type target struct{ name, url string }

// onlyMode, when set, names the one mode to run.
var onlyMode string

// observe compares sluice with and without its observability;
// sampleRatio is the share of requests it traces then.
var (
	observe     bool
	sampleRatio float64
)

// logMode says where sluice's records go during the benchmark.
var logMode string

// discardSink drops records, to measure the gateway without its log.
type discardSink struct{}

func (discardSink) Write(store.Record) bool { return true }

func (discardSink) Healthy() error { return nil }

// startSluice runs the gateway as `sluice serve` does: the policy engine,
// routing, recorders and (unless logMode is none) the SQLite request log.
func startSluice(ctx context.Context, upstreamURL string, tune func(*proxy.Options)) (*loopbackServer, func(), error) {
	return startSluiceWith(ctx, upstreamURL, sluiceSetup{tune: tune})
}

// sluiceSetup varies how startSluiceWith runs the gateway.
type sluiceSetup struct {
	tune func(*proxy.Options)
	// providerFields are added to each provider's configuration
	// (`, "h2c": true`).
	providerFields string
	// serve serves the gateway; serveLoopback when nil.
	serve func(http.Handler) (*loopbackServer, error)
}

func startSluiceWith(ctx context.Context, upstreamURL string, setup sluiceSetup) (*loopbackServer, func(), error) {
	tune, extra := setup.tune, setup.providerFields
	cfg, err := policy.Parse("loadbench.hujson", []byte(`{
		"providers": {"openai": {"baseurl": "`+upstreamURL+`", "apikey": "sk-bench", "models": ["gpt-5"],
			"compatibility": {"openai_chat": true}`+extra+`},
			"translating": {"baseurl": "`+upstreamURL+`", "apikey": "sk-bench", "models": ["claude-bench"],
				"compatibility": {"openai_chat": true}, "translate": true`+extra+`}},
	}`), nil)
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "sluice-loadbench-")
	if err != nil {
		return nil, nil, err
	}
	st, err := store.Open(ctx, filepath.Join(dir, "sluice.db"), store.Options{})
	if err != nil {
		return nil, nil, err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	writer := store.NewWriter(st, store.WriterOptions{Logger: log})
	var sink proxy.Sink = writer
	if logMode == "none" {
		sink = discardSink{}
	}
	opts := proxy.Options{
		Identity:  identity.Local("bench@example.com"),
		Sink:      sink,
		Logger:    log,
		Transport: transport(),
		Store:     st,
	}
	if tune != nil {
		tune(&opts)
	}
	srv, err := proxy.New(ctx, cfg, opts)
	if err != nil {
		return nil, nil, err
	}
	if tune != nil {
		metricsHandler = srv.MetricsHandler()
	}
	serve := setup.serve
	if serve == nil {
		serve = serveLoopback
	}
	ls, err := serve(srv)
	if err != nil {
		return nil, nil, err
	}
	return ls, func() {
		writer.Close(ctx)
		st.Close()
		os.RemoveAll(dir)
	}, nil
}

// mockProvider answers chat completions at once, as OpenAI does: a JSON
// body, or an SSE stream of `events` content chunks. A request that asks
// for usage (stream_options.include_usage, which sluice adds to count
// tokens) gets "usage":null in every chunk and a final usage chunk. With
// eventWrites, every event of a stream is its own write, flushed, as a
// provider sends them; else the whole stream is one write.
func mockProvider(events int, eventWrites bool) http.Handler {
	plain := []byte(`{"id":"chatcmpl-b","object":"chat.completion","created":1763000000,"model":"gpt-5",` +
		`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],` +
		`"usage":{"prompt_tokens":9,"completion_tokens":9,"total_tokens":18}}`)
	stream := func(usage bool) []byte {
		var sse strings.Builder
		extra := ""
		if usage {
			extra = `,"usage":null`
		}
		for i := range events {
			fmt.Fprintf(&sse, "data: {\"id\":\"chatcmpl-b\",\"object\":\"chat.completion.chunk\",\"created\":1763000000,\"model\":\"gpt-5\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok%d \"},\"finish_reason\":null}]%s}\n\n", i, extra)
		}
		fmt.Fprintf(&sse, "data: {\"id\":\"chatcmpl-b\",\"object\":\"chat.completion.chunk\",\"created\":1763000000,\"model\":\"gpt-5\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]%s}\n\n", extra)
		if usage {
			sse.WriteString("data: {\"id\":\"chatcmpl-b\",\"object\":\"chat.completion.chunk\",\"created\":1763000000,\"model\":\"gpt-5\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":20,\"total_tokens\":29}}\n\n")
		}
		sse.WriteString("data: [DONE]\n\n")
		return []byte(sse.String())
	}
	withUsage, withoutUsage := stream(true), stream(false)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !bytes.Contains(body, []byte(`"stream":true`)) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(plain)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		sse := withoutUsage
		if bytes.Contains(body, []byte(`"include_usage":true`)) {
			sse = withUsage
		}
		if !eventWrites {
			w.Write(sse)
			return
		}
		fl, _ := w.(http.Flusher)
		for len(sse) > 0 {
			i := bytes.Index(sse, []byte("\n\n")) + 2
			w.Write(sse[:i])
			if fl != nil {
				fl.Flush()
			}
			sse = sse[i:]
		}
	})
}

type loopbackServer struct {
	URL string
	srv *http.Server
}

func (s *loopbackServer) Close() { s.srv.Close() }

func serveLoopback(h http.Handler) (*loopbackServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	return &loopbackServer{URL: "http://" + ln.Addr().String(), srv: srv}, nil
}
