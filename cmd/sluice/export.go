package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-gateway/sluice/export"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/store"
)

// exporters are the running exporters of `sluice serve`.
type exporters []*export.Exporter

// startExporters starts the exporters the configuration names
// (exporters.s3, exporters.http), registering their metrics with
// register. They are built once at start: a reload that changes the
// exporters section takes effect at the next start.
func startExporters(ctx context.Context, cfg *policy.Config, st store.Store, register func(...prometheus.Collector) error, log *slog.Logger) (exporters, error) {
	if cfg.Exporters.S3 == nil && cfg.Exporters.HTTP == nil {
		return nil, nil
	}
	el, ok := st.(store.ExportLog)
	if !ok {
		return nil, errors.New("exporters: this store cannot export")
	}
	m := export.NewMetrics()
	if err := register(m.Collectors()...); err != nil {
		return nil, fmt.Errorf("exporters: metrics: %w", err)
	}
	var out exporters
	if c := cfg.Exporters.S3; c != nil {
		sink, err := export.NewS3(ctx, c, export.S3Options{})
		if err != nil {
			return nil, err
		}
		out = append(out, export.New(el, sink, export.Options{Every: seconds(c.Every), Limit: c.Limit, Metrics: m, Logger: log}))
		log.Info("exporter", "exporter", "s3", "bucket", c.BucketName, "prefix", c.Prefix, "endpoint", redactURL(c.Endpoint),
			"every", seconds(c.Every), "limit", orDefaultInt(c.Limit, export.DefaultLimit))
	}
	if c := cfg.Exporters.HTTP; c != nil {
		sink := export.NewHTTP(c, nil)
		out = append(out, export.New(el, sink, export.Options{Every: seconds(c.Every), Limit: c.Limit, Metrics: m, Logger: log}))
		log.Info("exporter", "exporter", "http", "url", redactURL(c.URL), "every", seconds(c.Every), "limit", orDefaultInt(c.Limit, export.DefaultLimit))
	}
	for _, e := range out {
		e.Start(ctx)
	}
	return out, nil
}

// Close exports what is pending and stops every exporter; the gateway
// calls it after the request log is flushed.
func (es exporters) Close(ctx context.Context) error {
	var errs []error
	for _, e := range es {
		if err := e.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func seconds(n int) time.Duration {
	if n <= 0 {
		return export.DefaultEvery
	}
	return time.Duration(n) * time.Second
}

func orDefaultInt(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

const exportUsage = `Usage:
  sluice export verify --config FILE [--from TIME] [--to TIME] [--db DSN | --state-dir DIR]

verify lists the S3 archive of exporters.s3 for the batches cut from --from
to --to, checks each manifest against its object (SHA-256, record count)
and against the request log, and reports gaps between the objects and
exported records of the log that no object holds.

TIME is RFC 3339 (2026-12-01T09:00:00Z), a date (2026-12-01), or a
duration before now (24h). --from defaults to 24h, --to to now.

Exit status: 0 when the archive matches, 1 when a problem was found,
2 when the check could not run (bad flags, no exporters.s3, unreachable).
`

func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stderr, exportUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] != "verify" {
		unknownCommand(stderr, "sluice export", args[0], []string{"verify", "help"}, exportUsage)
		return 2
	}
	return exportVerify(ctx, args[1:], stdout, stderr)
}

func exportVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("export verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, exportUsage+"\nFlags:\n"); fs.PrintDefaults() }
	config := fs.String("config", "", "the configuration file with exporters.s3")
	fromS := fs.String("from", "24h", "first hour to check")
	toS := fs.String("to", "", "last hour to check (default now)")
	db := fs.String("db", "", "serve's --db (default: sluice.db in --state-dir)")
	stateDir := fs.String("state-dir", defaultStateDir(), "serve's --state-dir")
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if fs.NArg() > 0 || *config == "" {
		fmt.Fprintln(stderr, "sluice export verify: need --config FILE and no arguments")
		return 2
	}
	now := time.Now().UTC()
	from, err := parseWhen(*fromS, now)
	if err != nil {
		fmt.Fprintln(stderr, "sluice export verify: --from:", err)
		return 2
	}
	to := now
	if *toS != "" {
		if to, err = parseWhen(*toS, now); err != nil {
			fmt.Fprintln(stderr, "sluice export verify: --to:", err)
			return 2
		}
	}
	if to.Before(from) {
		fmt.Fprintln(stderr, "sluice export verify: --to is before --from")
		return 2
	}
	cfg, err := loadConfig(ctx, *config, stderr)
	if err != nil {
		printLoadError(stderr, err)
		return 2
	}
	if cfg.Exporters.S3 == nil {
		fmt.Fprintf(stderr, "sluice export verify: %s has no exporters.s3 with a bucket_name\n", *config)
		return 2
	}
	dsn := *db
	if dsn == "" {
		dsn = filepath.Join(*stateDir, "sluice.db")
		if _, err := os.Stat(dsn); errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(stderr, "sluice export verify: no request log at %s (serve's --state-dir or --db)\n", dsn)
			return 2
		}
	}
	st, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		fmt.Fprintln(stderr, "sluice export verify:", err)
		return 2
	}
	defer st.Close()
	el, ok := st.(store.ExportLog)
	if !ok {
		fmt.Fprintln(stderr, "sluice export verify: this store cannot export")
		return 2
	}
	archive, err := export.NewS3(ctx, cfg.Exporters.S3, export.S3Options{})
	if err != nil {
		fmt.Fprintln(stderr, "sluice export verify:", err)
		return 2
	}
	rep, err := export.Verify(ctx, archive, el, from, to)
	if err != nil {
		fmt.Fprintln(stderr, "sluice export verify:", err)
		return 2
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(stdout, "problem:", p)
	}
	fmt.Fprintf(stdout, "checked %d objects, %d records, cut %s to %s: %d problems\n",
		rep.Objects, rep.Records, from.Format(time.RFC3339), to.Format(time.RFC3339), len(rep.Problems))
	if !rep.OK() {
		return 1
	}
	return 0
}

// parseWhen reads an RFC 3339 time, a date or a duration before now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q: want RFC 3339 (2026-12-01T09:00:00Z), a date (2026-12-01) or a duration before now (24h)", s)
}
