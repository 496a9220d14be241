package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/sluice-gateway/sluice/cluster"
	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy"
	"github.com/sluice-gateway/sluice/proxy/tailnet"
	"github.com/sluice-gateway/sluice/store"
)

// Configuration sources of serve --config-source.
const (
	configSourceFile = "file"
	configSourceDB   = "db"
)

// replicaName is this process's name among replicas: --replica-name, else
// host-pid, so two replicas on one machine never share a heartbeat.
func replicaName(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// checkConfigSource refuses --config-source values and combinations that
// cannot work, before anything is opened.
func checkConfigSource(f *serveFlags) error {
	switch f.configSource {
	case configSourceFile:
		return nil
	case configSourceDB:
	default:
		return fmt.Errorf("--config-source %q: want file or db", f.configSource)
	}
	if f.db == "" {
		return fmt.Errorf("--config-source db needs --db postgres://...: %w", cluster.ErrNeedsPostgres)
	}
	if backend, _, err := store.ParseDSN(f.db); err == nil && backend != store.BackendPostgres {
		return cluster.ErrNeedsPostgres
	}
	return nil
}

// sharedDB is the cluster database of a replica on PostgreSQL: heartbeats
// always, and the configuration with --config-source db.
type sharedDB struct {
	db *cluster.DB
	// rev is the stored revision serve starts with (db source only).
	rev cluster.Revision
}

// openShared connects the replica to the cluster tables when the request
// log is on PostgreSQL (nil otherwise). The store's migrations create the
// tables, so it opens the store once first. With --config-source db it
// reads the newest stored configuration; a database holding none is seeded
// from --config when given (only if still empty, so replicas starting
// together seed once).
func openShared(ctx context.Context, f *serveFlags, stderr io.Writer, log *slog.Logger) (*sharedDB, *policy.Config, error) {
	backend, _, err := store.ParseDSN(f.db)
	if f.db == "" || err != nil || backend != store.BackendPostgres {
		return nil, nil, nil
	}
	st, err := store.Open(ctx, f.db, store.Options{})
	if err != nil {
		return nil, nil, err
	}
	st.Close()
	db, err := cluster.Open(ctx, f.db)
	if err != nil {
		return nil, nil, err
	}
	sh := &sharedDB{db: db}
	if f.configSource != configSourceDB {
		return sh, nil, nil
	}
	rev, err := db.Current(ctx)
	if errors.Is(err, cluster.ErrNoConfig) && f.config != "" {
		var text []byte
		if text, err = os.ReadFile(f.config); err == nil {
			if _, err = loadConfig(ctx, f.config, io.Discard); err == nil {
				rev, err = db.SeedIfEmpty(ctx, text, "serve --config "+f.config)
				if err == nil {
					log.Info("configuration database was empty: seeded from the file", "file", f.config, "revision", rev.Number)
				}
			}
		}
	} else if err == nil && f.config != "" {
		log.Warn("--config-source db: the database's configuration is served; --config only seeds an empty database",
			"file", f.config, "revision", rev.Number)
	}
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	cfg, err := policy.Parse(proxy.ConfigDBName, rev.Text, nil)
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("stored configuration revision %d: %w", rev.Number, err)
	}
	for _, d := range cfg.Warnings {
		fmt.Fprintln(stderr, "warning:", d)
	}
	sh.rev = rev
	return sh, cfg, nil
}

// run keeps the replica in step with the others until ctx ends: a
// heartbeat every cluster.DefaultBeatInterval (removed at a clean stop)
// and, with --config-source db, every new stored revision applied.
func (sh *sharedDB) run(ctx context.Context, srv *proxy.Server, fromDB bool, log *slog.Logger) {
	if fromDB {
		go sh.db.Watch(ctx,
			func() int64 { n, _ := srv.ConfigRevision(); return n },
			func(ctx context.Context, rev cluster.Revision) { _ = srv.ApplyRevision(ctx, rev) },
			cluster.WatchOptions{Logger: log})
	}
	go func() {
		started := time.Now()
		var last cluster.Heartbeat
		beat := func() {
			h := srv.Heartbeat()
			h.Started = started
			last = h
			bctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := sh.db.Beat(bctx, h); err != nil && ctx.Err() == nil {
				log.Warn("replica heartbeat not recorded", "err", err)
			}
		}
		beat()
		// A change of what the replica serves is reported at once; the
		// heartbeat proper comes every DefaultBeatInterval.
		look := time.NewTicker(heartbeatLook)
		defer look.Stop()
		next := time.Now().Add(cluster.DefaultBeatInterval)
		for {
			select {
			case <-ctx.Done():
				lctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_ = sh.db.Leave(lctx, last.Replica)
				return
			case <-look.C:
			}
			h := srv.Heartbeat()
			if time.Now().After(next) || h.ConfigHash != last.ConfigHash || h.PolicyRevision != last.PolicyRevision ||
				h.FailedRevision != last.FailedRevision {
				beat()
				next = time.Now().Add(cluster.DefaultBeatInterval)
			}
		}
	}()
}

// heartbeatLook is how often a replica compares what it serves with what
// it last reported.
const heartbeatLook = 200 * time.Millisecond

const configPushUsage = `Usage:
  sluice config push --db postgres://... [--policy DIR] FILE

Validates FILE as sluice config validate does, then stores it in the
database as the next configuration revision. Replicas started with
--config-source db on that database apply it within a second.
`

// configPush is `sluice config push`: validate a file, then store it as
// the next revision of the shared configuration.
func configPush(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("config push", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, configPushUsage) }
	dsn := fs.String("db", "", "the PostgreSQL database the replicas share (postgres://...)")
	policyDir := fs.String("policy", "", "directory of your own Rego modules, as for sluice serve --policy")
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if fs.NArg() != 1 || *dsn == "" {
		fs.Usage()
		return 2
	}
	path := fs.Arg(0)
	var opts []engine.Option
	if *policyDir != "" {
		opts = append(opts, engine.WithModulesDir(*policyDir))
	}
	if code := validateConfig(ctx, path, io.Discard, stderr, opts...); code != 0 {
		fmt.Fprintln(stderr, "sluice config push: nothing was stored")
		return code
	}
	text, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(stderr, "sluice config push:", err)
		return 1
	}
	if backend, _, err := store.ParseDSN(*dsn); err != nil || backend != store.BackendPostgres {
		fmt.Fprintln(stderr, "sluice config push:", cluster.ErrNeedsPostgres)
		return 1
	}
	// Opening the store applies the migrations that create the tables.
	st, err := store.Open(ctx, *dsn, store.Options{})
	if err != nil {
		fmt.Fprintln(stderr, "sluice config push:", err)
		return 1
	}
	st.Close()
	db, err := cluster.Open(ctx, *dsn)
	if err != nil {
		fmt.Fprintln(stderr, "sluice config push:", err)
		return 1
	}
	defer db.Close()
	rev, unchanged, err := db.Save(ctx, text, "", pushedBy())
	if err != nil {
		fmt.Fprintln(stderr, "sluice config push:", err)
		return 1
	}
	if unchanged {
		fmt.Fprintf(stdout, "%s: unchanged, the database is at revision %d (hash %s)\n", path, rev.Number, rev.Hash[:12])
		return 0
	}
	fmt.Fprintf(stdout, "%s: stored as revision %d (hash %s)\n", path, rev.Number, rev.Hash[:12])
	return 0
}

// pushedBy names who pushed, for the revision's saved_by.
func pushedBy() string {
	user := os.Getenv("USER")
	host, _ := os.Hostname()
	return "sluice config push (" + user + "@" + host + ")"
}

// checkTailnetService refuses --tailnet-service without --tailnet or with
// a name that is no service name.
func checkTailnetService(f *serveFlags) error {
	if f.tailnetService == "" {
		return nil
	}
	if !f.tailnet {
		return errors.New("--tailnet-service needs --tailnet: each replica is its own tagged node hosting the service")
	}
	if !strings.HasPrefix(f.tailnetService, "svc:") || len(f.tailnetService) == len("svc:") {
		return fmt.Errorf("--tailnet-service %q: want a service name such as svc:ai", f.tailnetService)
	}
	return nil
}

// listenService makes the node a host of --tailnet-service: port 80, and
// 443 (TLS terminated by the node) with --tls.
func listenService(fr *front, node *tailnet.Node, f *serveFlags, log *slog.Logger) error {
	ln, err := node.ListenService(f.tailnetService, 80, false)
	if err != nil {
		return err
	}
	fr.listeners = append(fr.listeners, ln)
	fr.url += " and http://" + ln.FQDN
	if f.tls {
		tln, err := node.ListenService(f.tailnetService, 443, true)
		if err != nil {
			return err
		}
		fr.listeners = append(fr.listeners, tln)
		fr.url += " and https://" + tln.FQDN
	}
	log.Info("hosting a tailnet service: callers reach any live replica at its name", "service", f.tailnetService, "name", ln.FQDN)
	return nil
}
