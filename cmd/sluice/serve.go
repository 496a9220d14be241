package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/sluice-gateway/sluice/compat"
	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/internal/accessline"
	"github.com/sluice-gateway/sluice/internal/gcfloor"
	"github.com/sluice-gateway/sluice/internal/logbuf"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy"
	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/proxy/tailnet"
	"github.com/sluice-gateway/sluice/quota"
	"github.com/sluice-gateway/sluice/store"
)

// serveFlags are the flags of `sluice serve`.
type serveFlags struct {
	config           string
	listen           string
	localUser        string
	trustHeaders     bool
	trustedPeerUID   uidFlag
	insecureListen   bool
	stateDir         string
	db               string
	policyDir        string
	policyBundle     string
	logService       string
	shadowConfig     string
	decisionLog      string
	maxBody          int64
	keptBudget       int64
	keptMax          int64
	bodyTimeout      time.Duration
	keepAlive        time.Duration
	maxConns         int
	h2Streams        int
	connectTimeout   time.Duration
	headerTimeout    time.Duration
	idleTimeout      time.Duration
	shutdownTimeout  time.Duration
	logFlushTimeout  time.Duration
	hookFlushTimeout time.Duration
	tailnet          bool
	hostname         string
	tls              bool
	metricsListen    string
	metricsPerUser   bool
	logFormat        string
	accessLog        bool
	accessLogFlush   time.Duration
	trimMemory       bool
	gcHeapFloor      int64
	quotaTokens      int64
	quotaReserve     string
	quotaCutoff      bool
	healthListen     string
	forceModel       string
	configSource     string
	replicaName      string
	tailnetService   string
	durableLog       bool

	// accessOut is where access lines are written: stderr, through a
	// logbuf.Writer that gathers them (see runServe).
	accessOut io.Writer
}

func defaultStateDir() string {
	if dir, err := os.UserConfigDir(); err == nil {
		return filepath.Join(dir, "sluice")
	}
	return "sluice-state"
}

func parseServeFlags(args []string, stderr io.Writer) (*serveFlags, error) {
	f := &serveFlags{}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.config, "config", "", "configuration file (HuJSON); the embedded default when empty")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address to listen on in local mode: HOST:PORT, or unix:PATH for a Unix socket (for tailscale serve --bg unix:PATH)")
	fs.StringVar(&f.localUser, "local-user", "", "login every caller is identified as in local mode (default: OS user@hostname)")
	fs.BoolVar(&f.trustHeaders, "trust-tailscale-headers", false, "identify callers by the Tailscale-User-* headers that tailscale serve adds: on a unix: socket from --trusted-peer-uid only, on TCP from any loopback peer")
	fs.Var(&f.trustedPeerUID, "trusted-peer-uid", "with --trust-tailscale-headers on a unix: socket, the uid tailscaled runs as (default: the running tailscaled's, else 0)")
	fs.BoolVar(&f.insecureListen, "insecure-listen", false, "allow a non-loopback --listen address in local mode (anyone who reaches it acts as the local user)")
	fs.StringVar(&f.stateDir, "state-dir", defaultStateDir(), "directory for the request database and tailnet state")
	fs.StringVar(&f.db, "db", "", "request log database: a SQLite file path or postgres://… (default: sluice.db in --state-dir); none for no request log")
	fs.StringVar(&f.forceModel, "force-model", "", "send every request to this model (provider:model?params allowed), whatever the client asks for; wins over the configuration's force_model")
	fs.StringVar(&f.policyDir, "policy", "", "directory of extra Rego modules (package sluice.authz deny rules)")
	fs.StringVar(&f.policyBundle, "policy-bundle", "", "OPA bundle (tar.gz file or http(s) URL) of extra Rego modules, as --policy, read at start and again on every policy rebuild (SIGHUP, a config save); its revision is logged")
	fs.StringVar(&f.logService, "decision-log-service", "", "ship decision logs to an OPA decision log service, as configured in this HuJSON file (url, resource, headers, labels, reporting, mask)")
	fs.StringVar(&f.shadowConfig, "shadow-config", "", "candidate configuration decided next to --config on every request, never enforced: differences are counted in sluice_policy_shadow_differences_total and logged with both answers")
	fs.StringVar(&f.decisionLog, "decision-log", "", "write every policy decision as a JSON line to this file (- for stdout)")
	fs.Int64Var(&f.maxBody, "max-body-bytes", proxy.DefaultMaxBodyBytes, "largest request body accepted (413 beyond)")
	fs.Int64Var(&f.keptBudget, "kept-body-budget", proxy.DefaultKeptBodyBudget, "memory, across all requests, for the bodies kept for save_raws and hooks while requests run (beyond: truncated, marked in the record)")
	fs.Int64Var(&f.keptMax, "kept-body-max", proxy.DefaultKeptBodyMax, "one request's share of --kept-body-budget")
	fs.DurationVar(&f.bodyTimeout, "body-read-timeout", proxy.DefaultBodyReadTimeout, "time allowed for a whole request body to arrive (408 beyond)")
	fs.DurationVar(&f.keepAlive, "keepalive-timeout", 2*time.Minute, "an idle keep-alive connection is closed after this long")
	fs.IntVar(&f.maxConns, "max-conns", 4096, "most client connections open at once; more wait to be accepted (0: no limit)")
	fs.IntVar(&f.h2Streams, "http2-max-streams", defaultHTTP2Streams, "most concurrent requests (streams) on one HTTP/2 client connection")
	fs.DurationVar(&f.connectTimeout, "connect-timeout", 10*time.Second, "time allowed to connect to a provider")
	fs.DurationVar(&f.headerTimeout, "header-timeout", 5*time.Minute, "time allowed for a provider's response headers")
	fs.DurationVar(&f.idleTimeout, "idle-timeout", 5*time.Minute, "a response body that stalls this long is ended")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGINT/SIGTERM, time given to running requests and streams to finish")
	fs.DurationVar(&f.logFlushTimeout, "log-flush-timeout", 30*time.Second, "at shutdown, after requests ended, time given to write the buffered request log")
	fs.DurationVar(&f.hookFlushTimeout, "hook-flush-timeout", 30*time.Second, "at shutdown, after the request log, time given to deliver queued hook calls")
	fs.Int64Var(&f.quotaTokens, "quota-output-tokens", proxy.DefaultQuotaOutputTokens, "output tokens a quota reservation counts for a request that sets no max_tokens")
	fs.StringVar(&f.quotaReserve, "quota-default-reservation", proxy.DefaultQuotaReservation.String(), "what a quota reservation takes for a model without a price")
	fs.BoolVar(&f.quotaCutoff, "quota-cutoff", false, "stop a stream charged to quotas once its output passes what its reservation counted (a model that ignored max_tokens)")
	fs.BoolVar(&f.tailnet, "tailnet", false, "join the tailnet as its own node (auth key from TS_AUTHKEY) and serve http://HOSTNAME on port 80")
	fs.StringVar(&f.hostname, "hostname", tailnet.DefaultHostname, "the node's name on the tailnet, with --tailnet")
	fs.BoolVar(&f.tls, "tls", false, "with --tailnet, also serve HTTPS on port 443 with the tailnet's certificate")
	fs.StringVar(&f.metricsListen, "metrics-listen", "", "also serve /metrics, without authorization, on this loopback address (127.0.0.1:9464) for a local scraper")
	fs.BoolVar(&f.metricsPerUser, "metrics-per-user", false, "add metrics series labelled by caller login (one set per user)")
	fs.StringVar(&f.logFormat, "log-format", "text", "format of the logs on stderr: text or json (one JSON object a line)")
	fs.BoolVar(&f.accessLog, "access-log", true, "log one line per request (request and decision IDs, login, model, provider, status, tokens, latency); --access-log=false for none")
	fs.DurationVar(&f.accessLogFlush, "access-log-flush", defaultAccessLogFlush, "how long access lines may wait to be written to stderr together, one write for many lines (other log lines are written at once, after them); 0 writes each line as it is logged")
	fs.Int64Var(&f.gcHeapFloor, "gc-heap-floor-bytes", defaultGCHeapFloor, "the heap the garbage collector may grow to before collecting, however small the live heap (as GOGC=100 would for a live heap of half this); fewer collections under load, for up to this much memory returned when traffic stops; 0 for the Go default; ignored when the GOGC environment variable is set")
	fs.BoolVar(&f.trimMemory, "trim-memory", true, "keep the resident set to what serving uses: once serving, unmap the executable's pages only starting touched (they stay in the page cache), and when traffic stops return the heap's spare memory, the SQLite request log's page caches and the executable's pages serving mapped back to the system; --trim-memory=false to leave all of it to the kernel, the Go runtime and SQLite")
	fs.StringVar(&f.healthListen, "health-listen", "", "also answer GET /healthz and /readyz, and nothing else, on this HOST:PORT (for orchestrators off the tailnet)")
	fs.StringVar(&f.configSource, "config-source", configSourceFile, "where the configuration comes from: file (--config), or db: the --db PostgreSQL database shared by replicas (seeded with sluice config push, or from --config when empty), applied by every replica within a second of a change")
	fs.StringVar(&f.tailnetService, "tailnet-service", "", "with --tailnet, also host this Tailscale Service (svc:ai) on port 80 (and 443 with --tls), so several replicas answer at one name; the node must be tagged and the service approved")
	fs.StringVar(&f.replicaName, "replica-name", "", "this replica's name in the request log and GET /api/status (default: HOSTNAME-PID)")
	fs.BoolVar(&f.durableLog, "durable-log", false, "complete an answer only once its request log row is committed to the database or fsynced to the spool, so a crash loses no answered request (adds a commit's latency; recommended for replicas)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := checkServeFlags(f, fs.Args()); err != nil {
		// The flag package prints its own errors; these it does not know.
		fmt.Fprintln(stderr, "sluice serve:", err)
		return nil, err
	}
	return f, nil
}

// checkServeFlags refuses flags that do not go together.
func checkServeFlags(f *serveFlags, args []string) error {
	if f.h2Streams < 1 {
		return errors.New("--http2-max-streams must be at least 1")
	}
	if f.gcHeapFloor < 0 {
		return errors.New("--gc-heap-floor-bytes must be 0 (Go's default) or more")
	}
	if f.tls && !f.tailnet {
		return errors.New("--tls needs --tailnet")
	}
	if err := checkTailnetService(f); err != nil {
		return err
	}
	if f.trustedPeerUID.set {
		if !f.trustHeaders {
			return errors.New("--trusted-peer-uid needs --trust-tailscale-headers")
		}
		if _, unix := identity.UnixSocketPath(f.listen); !unix {
			return errors.New("--trusted-peer-uid needs --listen unix:PATH: over TCP the peer's uid is not known")
		}
	}
	if f.logFormat != "text" && f.logFormat != "json" {
		return fmt.Errorf("--log-format %q: want text or json", f.logFormat)
	}
	if f.accessLogFlush < 0 {
		return fmt.Errorf("--access-log-flush %s: want 0 (each line at once) or more", f.accessLogFlush)
	}
	if f.metricsListen != "" {
		if err := checkMetricsListen(f.metricsListen); err != nil {
			return err
		}
	}
	if len(args) > 0 {
		return fmt.Errorf("serve takes no arguments, got %q", args)
	}
	if f.durableLog && f.db == noRequestLog {
		return errors.New("--durable-log needs a request log: --db none keeps none")
	}
	if err := checkConfigSource(f); err != nil {
		return err
	}
	if _, params, ok := strings.Cut(f.forceModel, "?"); ok {
		if _, err := compat.ParseParams(params); err != nil {
			return fmt.Errorf("--force-model %q: %w", f.forceModel, err)
		}
	}
	if f.quotaTokens <= 0 {
		return errors.New("--quota-output-tokens must be positive")
	}
	if a, err := quota.ParseAmount(f.quotaReserve); err != nil || a <= 0 {
		return fmt.Errorf("--quota-default-reservation %q: want a positive amount such as \"$0.10\"", f.quotaReserve)
	}
	return nil
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, err := parseServeFlags(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		return 2
	}
	// Access lines are gathered into fewer writes; every other line on
	// stderr goes through the same writer, at once and after them, so
	// stderr keeps the order in which lines were logged.
	lines := logbuf.New(stderr, f.accessLogFlush)
	defer lines.Flush()
	stderr, f.accessOut = lines, lines.Buffered()
	log := newLogger(f.logFormat, stderr)
	if err := serve(ctx, f, log, stdout, stderr); err != nil {
		var errs policy.Errors
		if errors.As(err, &errs) {
			printLoadError(stderr, err)
		} else {
			fmt.Fprintln(stderr, "sluice:", err)
		}
		return 1
	}
	return 0
}

func serve(ctx context.Context, f *serveFlags, log *slog.Logger, stdout, stderr io.Writer) error {
	shared, cfg, err := openShared(ctx, f, stderr, log)
	if err != nil {
		return err
	}
	if shared != nil {
		defer shared.db.Close()
	}
	if cfg == nil {
		if cfg, err = loadConfig(ctx, f.config, stderr); err != nil {
			return err
		}
	}
	if !f.tailnet {
		if err := identity.CheckListenAddr(f.listen, f.insecureListen); err != nil {
			return err
		}
	}
	var ship io.Writer
	if f.logService != "" {
		sh, err := startDecisionLogService(f.logService, log)
		if err != nil {
			return err
		}
		defer stopDecisionLogService(sh, f.logFlushTimeout, log)
		ship = sh
	}
	engineOpts, closeLog, err := engineOptions(f.policyDir, f.decisionLog, ship, stdout)
	if err != nil {
		return err
	}
	defer closeLog()
	var ownModules []engine.Option // the user's modules, which a shadow policy shares
	if f.policyDir != "" {
		ownModules = append(ownModules, engine.WithModulesDir(f.policyDir))
	}
	if f.policyBundle != "" {
		bundle, err := policyBundleOption(ctx, f.policyBundle, log)
		if err != nil {
			return err
		}
		engineOpts = append(engineOpts, bundle)
		ownModules = append(ownModules, bundle)
	}
	shadow, err := shadowEngine(ctx, f.shadowConfig, ownModules, stderr, log)
	if err != nil {
		return err
	}

	// With --db none there is no request log: no database, no spool,
	// records dropped (the access log and metrics still see every request).
	var (
		st       store.Store
		spool    *store.Spool
		sink     proxy.Sink = discardLog{}
		flushLog            = func(context.Context) error { return nil }
	)
	if f.db == noRequestLog {
		if len(cfg.Quotas) > 0 {
			return errors.New("--db none: the configuration has quotas, whose balances are kept in the request log's database; give --db a database")
		}
		if cfg.Exporters.S3 != nil || cfg.Exporters.HTTP != nil {
			return errors.New("--db none: the configuration has exporters, which export the request log; give --db a database")
		}
	} else {
		st, err = openStore(ctx, f, cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		if len(cfg.Quotas) > 0 {
			// Load the balances now: on SQLite this takes the database's
			// quota lock, so a second gateway on the same file fails here
			// rather than at its first charged request.
			if _, err := st.Balances(ctx, []string{}); err != nil {
				return fmt.Errorf("quota balances: %w", err)
			}
		}
		spool, err = openSpool(f, log)
		if err != nil {
			return err
		}
		defer spool.Close()
		writer := store.NewWriter(st, store.WriterOptions{Logger: log, Spool: spool})
		sink, flushLog = writer, writer.Close
	}

	front, err := listen(ctx, f, log, stderr)
	if err != nil {
		return err
	}
	defer front.close()
	tp, stopTracing, err := tracerProvider(ctx, cfg.Tracing)
	if err != nil {
		return err
	}
	defer func() {
		// The last spans get a few seconds to leave.
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(sctx); err != nil {
			log.Error("flushing traces", "err", err)
		}
	}()
	// A nil *TracerProvider in the interface would not read as off.
	var tracing trace.TracerProvider
	if tp != nil {
		tracing = tp
	}
	reserve, _ := quota.ParseAmount(f.quotaReserve) // checked by checkServeFlags
	opts := proxy.Options{
		Identity:          front.resolver,
		TailnetTransport:  front.tailnetTransport,
		Sink:              sink,
		Logger:            log,
		EngineOptions:     engineOpts,
		MaxBodyBytes:      f.maxBody,
		BodyReadTimeout:   f.bodyTimeout,
		KeptBodyBudget:    f.keptBudget,
		KeptBodyMax:       f.keptMax,
		ConnectTimeout:    f.connectTimeout,
		HeaderTimeout:     f.headerTimeout,
		IdleStreamTimeout: f.idleTimeout,
		Instance:          replicaName(f.replicaName),
		Store:             st,
		MetricsPerUser:    f.metricsPerUser,
		AccessLog:         accessLogger(f, log),
		TracerProvider:    tracing,
		QuotaOutputTokens: f.quotaTokens,
		QuotaReservation:  reserve,
		QuotaCutoff:       f.quotaCutoff,
		ForceModel:        f.forceModel,
		ReadyChecks:       front.ready,
		ConfigFile:        f.config,
		Shadow:            shadow,
		ShadowSource:      f.shadowConfig,
		DurableLog:        f.durableLog,
	}
	if shared != nil {
		opts.Replicas = shared.db
		if f.configSource == configSourceDB {
			opts.ConfigDB, opts.ConfigRevision, opts.ConfigFile = shared.db, shared.rev.Number, ""
		}
	}
	srv, err := proxy.New(ctx, cfg, opts)
	if err != nil {
		return err
	}
	if shared != nil {
		shared.run(ctx, srv, f.configSource == configSourceDB, log)
	}
	if f.metricsListen != "" {
		addr, stop, err := metricsServer(f.metricsListen, srv.MetricsHandler(), log)
		if err != nil {
			return err
		}
		defer stop()
		fmt.Fprintf(stdout, "sluice metrics on http://%s/metrics\n", addr)
	}
	if st != nil {
		go store.RunRetention(ctx, st, 0, func() policy.Database { return srv.Config().Database }, time.Now, log)
	}
	exps, err := startExporters(ctx, cfg, st, srv.RegisterMetrics, log)
	if err != nil {
		return err
	}
	rereadShadow := func() { reloadShadow(ctx, srv, f.shadowConfig, ownModules, stderr, log) }
	if f.configSource == configSourceDB {
		// The database is the configuration's source; SIGHUP re-reads
		// only the shadow and bundle files.
		go onHUP(ctx, rereadShadow)
	} else {
		go reloadOnHUP(ctx, srv, f.config, log, stderr, rereadShadow)
	}

	if f.healthListen != "" {
		stopProbes, err := serveProbes(f.healthListen, srv, log)
		if err != nil {
			return err
		}
		defer stopProbes()
	}
	hs := newHTTPServer(srv, f.keepAlive, f.h2Streams)
	hs.ConnContext = identity.ConnContext // Unix socket peers' credentials, for trusted headers
	startup{configPath: f.config, front: front, db: f.db, stateDir: f.stateDir, spool: spool, cfg: cfg, srv: srv, tracing: tp != nil, maxConns: f.maxConns}.log(ctx, log)
	if f.gcHeapFloor > 0 {
		// After loading: the live heap is what serving keeps.
		defer gcfloor.Start(uint64(f.gcHeapFloor)).Stop()
	}
	if f.trimMemory {
		// Last before serving: what starting touched is done with.
		if n, err := releaseExecutablePages(); err != nil {
			log.Warn("warning: could not release the executable's startup pages", "err", err)
		} else if n > 0 {
			log.Debug("released startup pages", "mapped_bytes", n)
		}
		cache, _ := st.(memoryReleaser) // nil with --db none
		trimmer := newIdleTrimmer(log, cache)
		trimmer.baseline()
		go trimmer.run(ctx)
	}
	fmt.Fprintf(stdout, "sluice serving on %s (%d providers, %d models)\n", front.url, len(cfg.Providers), len(cfg.Models()))
	return serveUntilDone(ctx, hs, limitConns(hs, front.listeners, f.maxConns), shutdownPlan{
		grace:      f.shutdownTimeout,
		requests:   srv,
		flushLog:   func(ctx context.Context) error { return errors.Join(flushLog(ctx), exps.Close(ctx)) },
		logBudget:  f.logFlushTimeout,
		flushHooks: srv.Shutdown,
		hookBudget: f.hookFlushTimeout,
		log:        log,
	})
}

// newLogger is the logger of `sluice serve`: slog's text or JSON handler
// on stderr.
func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// accessLogger is where access lines go: the operational log, marked
// log=access so they can be told apart, written through f.accessOut when
// set; nil with --access-log=false.
//
// Through f.accessOut the lines are written by accessline's handler,
// which writes the bytes slog's handler of --log-format would, at a third
// of its cost per line.
func accessLogger(f *serveFlags, log *slog.Logger) *slog.Logger {
	if !f.accessLog {
		return nil
	}
	if f.accessOut != nil {
		h := accessline.NewText(f.accessOut, nil)
		if f.logFormat == "json" {
			h = accessline.NewJSON(f.accessOut, nil)
		}
		log = slog.New(h)
	}
	return log.With("log", "access")
}

// defaultAccessLogFlush is --access-log-flush: at a thousand requests a
// second, a write per access line was about 1% of a core; gathered for
// a tenth of a second they cost a write per hundred lines, and someone
// following the log sees each line a tenth of a second later at most. A
// process killed outright loses what it held, a tenth of a second of
// lines at most; the request log keeps every request regardless.
const defaultAccessLogFlush = 100 * time.Millisecond

// defaultHTTP2Streams is --http2-max-streams: four times net/http's 250,
// so a client that multiplexes its streams on one connection (the AWS
// SDKs, a Go client, a front proxy speaking h2c) opens a new connection
// only every thousand streams. Each open stream costs what an HTTP/1.1
// connection's request does, and --max-conns does not count streams.
const defaultHTTP2Streams = 1000

// defaultGCHeapFloor is --gc-heap-floor-bytes. Serving keeps about 5 MB
// live and allocates tens of KB a request, so Go's default collects
// every few hundred requests and marks the same live heap each time. A
// 48 MB floor collects about an eighth as often; at 24 MB the collector
// still took some 7% of a saturated core's time on streamed answers,
// about half of which the larger floor gives back. The idle trim
// collects and returns the extra once traffic stops, so the floor costs
// memory only while requests flow.
const defaultGCHeapFloor = 48 << 20

// newHTTPServer serves HTTP/1.1, cleartext HTTP/2, which the AWS SDKs
// use towards http:// endpoints, and HTTP/2 over TLS on a listener that
// offers it (--tls: tailnet.TLSProtocols), with at most h2Streams concurrent
// streams on an HTTP/2 connection (net/http's default when 0). Headers
// must arrive within 30s and an idle keep-alive connection closes after
// idle. There is deliberately no ReadTimeout or WriteTimeout: they would
// cut long streams; the proxy bounds the request body's arrival itself
// (--body-read-timeout).
func newHTTPServer(h http.Handler, idle time.Duration, h2Streams int) *http.Server {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: idle}
	hs.Protocols = new(http.Protocols)
	hs.Protocols.SetHTTP1(true)
	hs.Protocols.SetUnencryptedHTTP2(true)
	hs.Protocols.SetHTTP2(true)
	hs.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: h2Streams}
	return hs
}

// shutdownPlan is what happens after the serving context ends. Each stage
// has its own budget, so a stream that used up the grace period does not
// leave the request log or the hook queue without time to flush.
type shutdownPlan struct {
	// grace is what running requests and streams get to finish once the
	// listeners are closed; those still running after it are cut.
	grace    time.Duration
	requests inflightRequests
	// flushLog writes the buffered request log (the cut requests' rows
	// included) within logBudget; flushHooks then delivers the queued hook
	// calls within hookBudget.
	flushLog   func(context.Context) error
	logBudget  time.Duration
	flushHooks func(context.Context) error
	hookBudget time.Duration
	log        *slog.Logger
}

// inflightRequests is what shutdown needs of the proxy: to wait for the
// requests in flight to be recorded, and to cut them.
type inflightRequests interface {
	Wait(context.Context) error
	Cut() int
}

// serveUntilDone serves until ctx ends, then shuts down in stages: stop
// accepting; let running requests and streams finish within the grace
// period; cut the rest (each recorded as cut at shutdown); flush the
// request log; deliver the queued hook calls.
func serveUntilDone(ctx context.Context, hs *http.Server, lns []net.Listener, p shutdownPlan) error {
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		go func() { errc <- hs.Serve(ln) }()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	p.log.Info("shutting down: no new connections; waiting for running requests and streams", "timeout", p.grace)
	var result error
	// hs.Shutdown closes the listeners at once, then waits for every
	// connection to go idle: every handler has returned, so every request
	// has handed its record to the log.
	gctx, cancel := context.WithTimeout(context.Background(), p.grace)
	err := hs.Shutdown(gctx)
	if err == nil {
		err = p.requests.Wait(gctx)
	}
	cancel()
	if err != nil {
		n := p.requests.Cut()
		hs.Close()
		cctx, cancel := context.WithTimeout(context.Background(), proxy.CutRecordTimeout)
		if err := p.requests.Wait(cctx); err != nil {
			p.log.Error("cut requests did not end in time; their rows may be missing", "after", proxy.CutRecordTimeout)
		}
		cancel()
		p.log.Warn("requests still running at the end of the shutdown timeout were cut", "requests", n, "timeout", p.grace)
		result = fmt.Errorf("shutdown: %d requests or streams still running after %s were cut", n, p.grace)
	}
	lctx, cancel := context.WithTimeout(context.Background(), p.logBudget)
	if err := p.flushLog(lctx); err != nil {
		p.log.Error("flushing the request log", "err", err, "timeout", p.logBudget)
	} else {
		p.log.Info("shutting down: request log written")
	}
	cancel()
	hctx, cancel := context.WithTimeout(context.Background(), p.hookBudget)
	if err := p.flushHooks(hctx); err != nil {
		p.log.Error("delivering queued hook calls", "err", err, "timeout", p.hookBudget)
	} else {
		p.log.Info("shutting down: queued hook calls delivered; done")
	}
	cancel()
	return result
}

// front is where requests come from and how callers are identified.
type front struct {
	listeners        []net.Listener
	url              string
	resolver         identity.Resolver
	tailnetTransport http.RoundTripper
	ready            []proxy.ReadyCheck
	close            func()
	// identity says how callers are identified, as log attributes.
	identity []any
}

// listen opens the gateway's listeners: the tailnet node's port 80 (and
// 443 with --tls) in tailnet mode, else --listen on the local machine.
func listen(ctx context.Context, f *serveFlags, log *slog.Logger, stderr io.Writer) (*front, error) {
	if !f.tailnet {
		return listenLocal(f, log, stderr)
	}
	node, err := tailnet.Start(ctx, tailnet.Options{
		Hostname: f.hostname,
		StateDir: filepath.Join(f.stateDir, "tailnet"),
		Logf:     func(format string, args ...any) { log.Info(fmt.Sprintf(format, args...)) },
	})
	if err != nil {
		return nil, err
	}
	fr := &front{resolver: node.Resolver(), tailnetTransport: node.Transport(), close: func() { node.Close() }, url: "http://" + f.hostname,
		ready: []proxy.ReadyCheck{{Name: "tailnet", Check: node.Ready}}}
	ip4, ip6 := node.Addrs()
	fr.identity = []any{"mode", "tailnet", "node", f.hostname, "addresses", fmt.Sprintf("%v %v", ip4, ip6)}
	ln, err := node.Listen("tcp", ":80")
	if err != nil {
		node.Close()
		return nil, err
	}
	fr.listeners = append(fr.listeners, ln)
	if f.tls {
		tln, err := node.ListenTLS("tcp", ":443")
		if err != nil {
			node.Close()
			return nil, err
		}
		fr.listeners = append(fr.listeners, tln)
		fr.url += " and https://" + f.hostname
	}
	if f.tailnetService != "" {
		if err := listenService(fr, node, f, log); err != nil {
			node.Close()
			return nil, err
		}
	}
	return fr, nil
}

// listenLocal opens --listen, a TCP address or a Unix socket, and picks
// how callers are identified: all as --local-user, or by the headers of
// `tailscale serve` with --trust-tailscale-headers.
func listenLocal(f *serveFlags, log *slog.Logger, stderr io.Writer) (*front, error) {
	login := f.localUser
	if login == "" {
		login = identity.DefaultLocalLogin()
	}
	// Without a node of its own, sluice reaches "tailnet": true providers
	// through the machine's network, which reaches the tailnet when
	// Tailscale runs on the machine.
	fr := &front{resolver: identity.Local(login), tailnetTransport: http.DefaultTransport,
		identity: []any{"mode", "local user", "login", login}}
	if path, unix := identity.UnixSocketPath(f.listen); unix {
		ln, err := identity.ListenUnix(path)
		if err != nil {
			return nil, err
		}
		fr.listeners, fr.url, fr.close = []net.Listener{ln}, "unix:"+path, func() { ln.Close() }
		if f.trustHeaders {
			uid := trustedPeerUID(f, log)
			fr.resolver = identity.TrustedHeaders(identity.HeaderTrust{PeerUID: uid, Logger: log})
			fr.identity = []any{"mode", "trusted headers", "from_uid", uid}
		}
		return fr, nil
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return nil, err
	}
	fr.listeners, fr.url, fr.close = []net.Listener{ln}, "http://"+ln.Addr().String(), func() {}
	if f.trustHeaders {
		fmt.Fprintf(stderr, "warning: --trust-tailscale-headers on TCP %s: every local process and OS user can send "+
			"Tailscale-User-Login and act as anyone, admins included; listen on a Unix socket instead "+
			"(--listen unix:PATH, tailscale serve --bg unix:PATH), where only tailscaled's uid is trusted\n", ln.Addr())
		fr.resolver = identity.TrustedHeaders(identity.HeaderTrust{Logger: log})
		fr.identity = []any{"mode", "trusted headers", "from", "any loopback peer"}
	}
	return fr, nil
}

// trustedPeerUID is the uid whose identity headers the Unix socket takes:
// --trusted-peer-uid, else the running tailscaled's, else root's.
func trustedPeerUID(f *serveFlags, log *slog.Logger) uint32 {
	if f.trustedPeerUID.set {
		log.Info("identity headers on the Unix socket are trusted from --trusted-peer-uid", "uid", f.trustedPeerUID.uid)
		return f.trustedPeerUID.uid
	}
	if uid, pid, ok := identity.TailscaledUID(); ok {
		log.Info("identity headers on the Unix socket are trusted from the running tailscaled's uid", "uid", uid, "pid", pid)
		return uid
	}
	log.Info("no single running tailscaled found; identity headers on the Unix socket are trusted from uid 0 (root); "+
		"set --trusted-peer-uid if tailscaled runs as another user", "uid", 0)
	return 0
}

// uidFlag is --trusted-peer-uid: a numeric user ID, or unset.
type uidFlag struct {
	uid uint32
	set bool
}

func (u *uidFlag) String() string {
	if u == nil || !u.set {
		return ""
	}
	return strconv.FormatUint(uint64(u.uid), 10)
}

func (u *uidFlag) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return fmt.Errorf("%q is not a numeric user ID", s)
	}
	u.uid, u.set = uint32(n), true
	return nil
}

func engineOptions(policyDir, decisionLog string, ship io.Writer, stdout io.Writer) ([]engine.Option, func(), error) {
	var opts []engine.Option
	closeLog := func() {}
	if policyDir != "" {
		opts = append(opts, engine.WithModulesDir(policyDir))
	}
	var w io.Writer
	switch decisionLog {
	case "":
	case "-":
		w = stdout
	default:
		f, err := engine.OpenDecisionLog(decisionLog)
		if err != nil {
			return nil, nil, err
		}
		w = f
		closeLog = func() { f.Close() }
	}
	switch {
	case ship != nil && w != nil:
		opts = append(opts, engine.WithDecisionLog(&shipAndWrite{ship: ship, w: w}))
	case ship != nil:
		opts = append(opts, engine.WithDecisionLog(ship))
	case w != nil:
		opts = append(opts, engine.WithDecisionLog(w))
	}
	return opts, closeLog, nil
}

// noRequestLog is the --db value that turns the request log off.
const noRequestLog = "none"

// discardLog is the request log of --db none: it drops every record.
type discardLog struct{}

func (discardLog) Write(store.Record) bool { return true }
func (discardLog) Healthy() error          { return nil }

func openStore(ctx context.Context, f *serveFlags, cfg *policy.Config) (store.Store, error) {
	dsn := f.db
	if dsn == "" {
		if err := os.MkdirAll(f.stateDir, 0o700); err != nil {
			return nil, fmt.Errorf("state directory: %w", err)
		}
		dsn = filepath.Join(f.stateDir, "sluice.db")
	}
	opts := store.Options{EncryptBlobs: cfg.Database.KeepEncryptedBlobs}
	keys, err := store.KeyringFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	opts.Keys = keys
	return store.Open(ctx, dsn, opts)
}

// openSpool opens the request log's spool in the state directory, where
// records wait while the database cannot take them, and says at start what
// it holds: records left by an earlier run are stored before new ones.
func openSpool(f *serveFlags, log *slog.Logger) (*store.Spool, error) {
	sp, err := store.OpenSpool(filepath.Join(f.stateDir, "spool"), store.SpoolOptions{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("request log spool: %w", err)
	}
	log.Info("request log spool", "path", sp.Dir(), "records", sp.Records(), "bytes", sp.Bytes(),
		"max_bytes", sp.MaxBytes(), "replaying", sp.Records() > 0)
	return sp, nil
}

// reloadOnHUP reloads the configuration file on SIGHUP, through the one
// reload path (proxy.Server.Reload): a configuration that fails to load or
// compile, or that changes a setting only a restart applies, is refused
// whole and the running one kept. also runs after each reload (the
// --shadow-config file is read again).
func reloadOnHUP(ctx context.Context, srv *proxy.Server, path string, log *slog.Logger, stderr io.Writer, also ...func()) {
	onHUP(ctx, append([]func(){func() { reloadFile(ctx, srv, path, log, stderr) }}, also...)...)
}

// onHUP runs fns, in order, on every SIGHUP until ctx ends.
func onHUP(ctx context.Context, fns ...func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		for _, f := range fns {
			f()
		}
	}
}

// reloadFile loads path and hands it to srv.Reload, logging the outcome.
func reloadFile(ctx context.Context, srv *proxy.Server, path string, log *slog.Logger, stderr io.Writer) error {
	if path == "" {
		log.Info("SIGHUP: serving the embedded default configuration; nothing to reload")
		return nil
	}
	// The server reads the file itself, under the lock the config API
	// holds while it writes the file and swaps the configuration.
	cfg, err := srv.ReloadFile(ctx)
	if cfg != nil {
		for _, d := range cfg.Warnings {
			fmt.Fprintln(stderr, "warning:", d)
		}
	}
	var restart *proxy.RestartRequiredError
	switch {
	case errors.As(err, &restart):
		log.Error("configuration refused: restart sluice to apply it; the running one is kept", "file", path, "needs_restart", strings.Join(restart.Fields, ","), "err", err)
		return err
	case err != nil:
		log.Error("configuration refused; the running one is kept", "file", path, "err", err)
		return err
	case srv.Config() != cfg:
		log.Info("configuration unchanged; nothing reloaded", "file", path)
		return nil
	}
	log.Info("configuration reloaded", "file", path, "providers", len(cfg.Providers), "policy_revision", srv.PolicyRevision(),
		"cached_decisions_kept", srv.CachedDecisions())
	return nil
}
