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
	"syscall"
	"time"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy"
	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/proxy/tailnet"
	"github.com/sluice-gateway/sluice/store"
)

// serveFlags are the flags of `sluice serve`.
type serveFlags struct {
	config          string
	listen          string
	localUser       string
	trustHeaders    bool
	insecureListen  bool
	stateDir        string
	db              string
	policyDir       string
	decisionLog     string
	maxBody         int64
	keptBudget      int64
	keptMax         int64
	bodyTimeout     time.Duration
	keepAlive       time.Duration
	maxConns        int
	connectTimeout  time.Duration
	headerTimeout   time.Duration
	idleTimeout     time.Duration
	shutdownTimeout time.Duration
	tailnet         bool
	hostname        string
	tls             bool
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
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address to listen on in local mode")
	fs.StringVar(&f.localUser, "local-user", "", "login every caller is identified as in local mode (default: OS user@hostname)")
	fs.BoolVar(&f.trustHeaders, "trust-tailscale-headers", false, "identify callers by the Tailscale-User-* headers that tailscale serve adds, accepted from loopback peers only")
	fs.BoolVar(&f.insecureListen, "insecure-listen", false, "allow a non-loopback --listen address in local mode (anyone who reaches it acts as the local user)")
	fs.StringVar(&f.stateDir, "state-dir", defaultStateDir(), "directory for the request database and tailnet state")
	fs.StringVar(&f.db, "db", "", "request log database: a SQLite file path or postgres://… (default: sluice.db in --state-dir)")
	fs.StringVar(&f.policyDir, "policy", "", "directory of extra Rego modules (package sluice.authz deny rules)")
	fs.StringVar(&f.decisionLog, "decision-log", "", "write every policy decision as a JSON line to this file (- for stdout)")
	fs.Int64Var(&f.maxBody, "max-body-bytes", proxy.DefaultMaxBodyBytes, "largest request body accepted (413 beyond)")
	fs.Int64Var(&f.keptBudget, "kept-body-budget", proxy.DefaultKeptBodyBudget, "memory, across all requests, for the bodies kept for save_raws and hooks while requests run (beyond: truncated, marked in the record)")
	fs.Int64Var(&f.keptMax, "kept-body-max", proxy.DefaultKeptBodyMax, "one request's share of --kept-body-budget")
	fs.DurationVar(&f.bodyTimeout, "body-read-timeout", proxy.DefaultBodyReadTimeout, "time allowed for a whole request body to arrive (408 beyond)")
	fs.DurationVar(&f.keepAlive, "keepalive-timeout", 2*time.Minute, "an idle keep-alive connection is closed after this long")
	fs.IntVar(&f.maxConns, "max-conns", 4096, "most client connections open at once; more wait to be accepted (0: no limit)")
	fs.DurationVar(&f.connectTimeout, "connect-timeout", 10*time.Second, "time allowed to connect to a provider")
	fs.DurationVar(&f.headerTimeout, "header-timeout", 5*time.Minute, "time allowed for a provider's response headers")
	fs.DurationVar(&f.idleTimeout, "idle-timeout", 5*time.Minute, "a response body that stalls this long is ended")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGINT/SIGTERM, time given to running requests and streams to finish")
	fs.BoolVar(&f.tailnet, "tailnet", false, "join the tailnet as its own node (auth key from TS_AUTHKEY) and serve http://HOSTNAME on port 80")
	fs.StringVar(&f.hostname, "hostname", tailnet.DefaultHostname, "the node's name on the tailnet, with --tailnet")
	fs.BoolVar(&f.tls, "tls", false, "with --tailnet, also serve HTTPS on port 443 with the tailnet's certificate")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if f.tls && !f.tailnet {
		return nil, errors.New("--tls needs --tailnet")
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("serve takes no arguments, got %q", fs.Args())
	}
	return f, nil
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, err := parseServeFlags(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
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
	cfg, err := loadConfig(ctx, f.config, stderr)
	if err != nil {
		return err
	}
	if !f.tailnet {
		if err := identity.CheckListenAddr(f.listen, f.insecureListen); err != nil {
			return err
		}
	}
	engineOpts, closeLog, err := engineOptions(f.policyDir, f.decisionLog, stdout)
	if err != nil {
		return err
	}
	defer closeLog()

	st, err := openStore(ctx, f, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	writer := store.NewWriter(st, store.WriterOptions{Logger: log})

	front, err := listen(ctx, f, log)
	if err != nil {
		return err
	}
	defer front.close()
	hostname, _ := os.Hostname()
	srv, err := proxy.New(ctx, cfg, proxy.Options{
		Identity:          front.resolver,
		TailnetTransport:  front.tailnetTransport,
		Sink:              writer,
		Logger:            log,
		EngineOptions:     engineOpts,
		MaxBodyBytes:      f.maxBody,
		BodyReadTimeout:   f.bodyTimeout,
		KeptBodyBudget:    f.keptBudget,
		KeptBodyMax:       f.keptMax,
		ConnectTimeout:    f.connectTimeout,
		HeaderTimeout:     f.headerTimeout,
		IdleStreamTimeout: f.idleTimeout,
		Instance:          hostname,
		Store:             st,
	})
	if err != nil {
		return err
	}
	go store.RunJanitor(ctx, st, 0, func() time.Duration { return srv.Config().Database.Retention }, log)
	go reloadOnHUP(ctx, srv, f.config, log, stderr)

	hs := newHTTPServer(srv, f.keepAlive)
	fmt.Fprintf(stdout, "sluice serving on %s (%d providers, %d models)\n", front.url, len(cfg.Providers), len(cfg.Models()))
	return serveUntilDone(ctx, hs, limitConns(hs, front.listeners, f.maxConns), f.shutdownTimeout, func(ctx context.Context) {
		if err := srv.Shutdown(ctx); err != nil {
			log.Error("delivering queued hook calls", "err", err)
		}
		if err := writer.Close(ctx); err != nil {
			log.Error("flushing the request log", "err", err)
		}
	})
}

// newHTTPServer serves HTTP/1.1 and cleartext HTTP/2, which the AWS SDKs
// use towards http:// endpoints. Headers must arrive within 30s and an
// idle keep-alive connection closes after idle. There is deliberately no
// ReadTimeout or WriteTimeout: they would cut long streams; the proxy
// bounds the request body's arrival itself (--body-read-timeout).
func newHTTPServer(h http.Handler, idle time.Duration) *http.Server {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: idle}
	hs.Protocols = new(http.Protocols)
	hs.Protocols.SetHTTP1(true)
	hs.Protocols.SetUnencryptedHTTP2(true)
	return hs
}

// serveUntilDone serves until ctx ends, then lets running requests and
// streams finish within grace, then runs drain (flushing what the gateway
// buffered).
func serveUntilDone(ctx context.Context, hs *http.Server, lns []net.Listener, grace time.Duration, drain func(context.Context)) error {
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		go func() { errc <- hs.Serve(ln) }()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := hs.Shutdown(sctx)
	drain(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: streams still running after %s were cut", grace)
	}
	return nil
}

// front is where requests come from and how callers are identified.
type front struct {
	listeners        []net.Listener
	url              string
	resolver         identity.Resolver
	tailnetTransport http.RoundTripper
	close            func()
}

// listen opens the gateway's listeners: the tailnet node's port 80 (and
// 443 with --tls) in tailnet mode, else --listen on the local machine.
func listen(ctx context.Context, f *serveFlags, log *slog.Logger) (*front, error) {
	if !f.tailnet {
		ln, err := net.Listen("tcp", f.listen)
		if err != nil {
			return nil, err
		}
		login := f.localUser
		if login == "" {
			login = identity.DefaultLocalLogin()
		}
		resolver := identity.Local(login)
		if f.trustHeaders {
			resolver = identity.TrustedHeaders(nil)
		}
		// Without a node of its own, sluice reaches "tailnet": true
		// providers through the machine's network, which reaches the
		// tailnet when Tailscale runs on the machine.
		return &front{
			listeners:        []net.Listener{ln},
			url:              "http://" + ln.Addr().String(),
			resolver:         resolver,
			tailnetTransport: http.DefaultTransport,
			close:            func() {},
		}, nil
	}
	node, err := tailnet.Start(ctx, tailnet.Options{
		Hostname: f.hostname,
		StateDir: filepath.Join(f.stateDir, "tailnet"),
		Logf:     func(format string, args ...any) { log.Info(fmt.Sprintf(format, args...)) },
	})
	if err != nil {
		return nil, err
	}
	fr := &front{resolver: node.Resolver(), tailnetTransport: node.Transport(), close: func() { node.Close() }, url: "http://" + f.hostname}
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
	return fr, nil
}

func engineOptions(policyDir, decisionLog string, stdout io.Writer) ([]engine.Option, func(), error) {
	var opts []engine.Option
	closeLog := func() {}
	if policyDir != "" {
		opts = append(opts, engine.WithModulesDir(policyDir))
	}
	switch decisionLog {
	case "":
	case "-":
		opts = append(opts, engine.WithDecisionLog(stdout))
	default:
		w, err := engine.OpenDecisionLog(decisionLog)
		if err != nil {
			return nil, nil, err
		}
		opts = append(opts, engine.WithDecisionLog(w))
		closeLog = func() { w.Close() }
	}
	return opts, closeLog, nil
}

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

// reloadOnHUP reloads the configuration file on SIGHUP. A configuration
// that fails to load or compile is refused and the running one kept.
func reloadOnHUP(ctx context.Context, srv *proxy.Server, path string, log *slog.Logger, stderr io.Writer) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		if path == "" {
			log.Info("SIGHUP: serving the embedded default configuration; nothing to reload")
			continue
		}
		cfg, err := loadConfig(ctx, path, stderr)
		if err == nil {
			err = srv.Reload(ctx, cfg)
		}
		if err != nil {
			log.Error("configuration refused; the running one is kept", "file", path, "err", err)
			continue
		}
		log.Info("configuration reloaded", "file", path, "providers", len(cfg.Providers))
	}
}
