package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/sluice-gateway/sluice/store"
)

// logFlags are the flags `sluice logs` and `sluice usage` share: which
// request log to read and which rows.
type logFlags struct {
	fs       *flag.FlagSet
	stateDir string
	db       string
	user     string
	model    string
	since    time.Duration
	json     bool
	server   string
}

func newLogFlags(name, synopsis string, stderr io.Writer) *logFlags {
	f := &logFlags{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	f.fs.SetOutput(stderr)
	f.fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage:\n  %s\n\nFlags:\n", synopsis)
		f.fs.PrintDefaults()
	}
	f.fs.StringVar(&f.stateDir, "state-dir", defaultStateDir(), "serve's --state-dir")
	f.fs.StringVar(&f.db, "db", "", "serve's --db (default: sluice.db in --state-dir)")
	f.fs.StringVar(&f.user, "user", "", "only this login's requests")
	f.fs.StringVar(&f.model, "model", "", "only requests for this model")
	f.fs.DurationVar(&f.since, "since", 0, "only requests of this last while (1h, 30m); all when 0")
	f.fs.BoolVar(&f.json, "json", false, "print JSON lines instead of a table")
	f.fs.StringVar(&f.server, "server", "", "read a running gateway's request log through its /api/ (http://ai, http://127.0.0.1:8080) instead of the local database; you see what the gateway lets you see (admins: everyone's requests)")
	return f
}

func (f *logFlags) filter(now time.Time) store.Filter {
	flt := store.Filter{Login: f.user, Model: f.model}
	if f.since > 0 {
		flt.Since = now.Add(-f.since)
	}
	return flt
}

// open opens the request log read-only in spirit: a running gateway's
// with --server, else the database, where a SQLite file that does not
// exist is an error here, not created.
func (f *logFlags) open(ctx context.Context) (logSource, error) {
	if f.server != "" {
		if f.db != "" {
			return nil, errors.New("--server and --db name two request logs; give one")
		}
		return newRemoteLog(f.server)
	}
	dsn := f.db
	if dsn == "" {
		dsn = filepath.Join(f.stateDir, "sluice.db")
		if _, err := os.Stat(dsn); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no request log at %s (serve's --state-dir or --db)", dsn)
		}
	}
	keys, err := store.KeyringFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, dsn, store.Options{Keys: keys})
}

// logRow is one request as `sluice logs --json` prints it: the record's
// metadata, never its bodies.
type logRow struct {
	ID           string    `json:"id"`
	Time         time.Time `json:"time"`
	Login        string    `json:"login"`
	Provider     string    `json:"provider"`
	Model        string    `json:"model"`
	Status       int       `json:"status"`
	LatencyMS    int64     `json:"latency_ms"`
	InputTokens  *int64    `json:"input_tokens,omitempty"`
	OutputTokens *int64    `json:"output_tokens,omitempty"`
	CostUSD      *float64  `json:"cost_usd,omitempty"`
	Error        string    `json:"error,omitempty"`
}

func toLogRow(r store.Record) logRow {
	row := logRow{ID: r.ID, Time: r.Time.UTC(), Login: r.Login, Provider: r.Provider, Model: r.Model,
		Status: r.Status, LatencyMS: r.Latency.Milliseconds(), Error: r.Error}
	row.InputTokens = r.Usage.Input.Ptr()
	row.OutputTokens = r.Usage.Output.Ptr()
	if r.CostKnown {
		c := r.CostUSD
		row.CostUSD = &c
	}
	return row
}

func orDash[T any](p *T, format string) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf(format, *p)
}

const logsSynopsis = "sluice logs [--state-dir DIR | --db DSN | --server URL] [--user U] [--model M] [--since 1h] [--limit N] [--json] [--follow]"

// runLogs prints the request log, newest last, as a table or JSON lines;
// with --follow it then prints new requests as they are recorded.
func runLogs(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := newLogFlags("logs", logsSynopsis, stderr)
	limit := f.fs.Int("limit", 50, "most requests printed (before --follow)")
	follow := f.fs.Bool("follow", false, "keep printing requests as they are recorded, until interrupted")
	poll := f.fs.Duration("poll", time.Second, "with --follow, how often to look for new requests")
	if err := f.fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if f.fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sluice logs: takes no arguments, got %q\n", f.fs.Args())
		return 2
	}
	st, err := f.open(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "sluice logs:", err)
		return 1
	}
	defer st.Close()
	flt := f.filter(time.Now())
	page, err := st.Requests(ctx, flt, store.Page{Limit: *limit})
	if err != nil {
		fmt.Fprintln(stderr, "sluice logs:", err)
		return 1
	}
	recs := page.Records
	slices.Reverse(recs) // oldest first, as a log reads
	p := newLogPrinter(stdout, f.json)
	p.print(recs)
	if !*follow {
		return 0
	}
	seen := map[string]bool{}
	for _, r := range recs {
		seen[r.ID] = true
	}
	last := flt.Since
	if len(recs) > 0 {
		last = recs[len(recs)-1].Time
	}
	tick := time.NewTicker(*poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return 0
		case <-tick.C:
		}
		// Rows of the same instant as the last one printed may arrive
		// later; seen keeps them from printing twice.
		flt.Since = last
		page, err := st.Requests(ctx, flt, store.Page{Limit: store.MaxLimit})
		if err != nil {
			if ctx.Err() != nil {
				return 0
			}
			fmt.Fprintln(stderr, "sluice logs:", err)
			return 1
		}
		var fresh []store.Record
		for _, r := range page.Records {
			if !seen[r.ID] {
				seen[r.ID] = true
				fresh = append(fresh, r)
			}
		}
		slices.Reverse(fresh)
		p.print(fresh)
		if len(fresh) > 0 {
			last = fresh[len(fresh)-1].Time
		}
	}
}

// logPrinter prints requests as aligned rows or JSON lines.
type logPrinter struct {
	w       io.Writer
	json    bool
	started bool
}

func newLogPrinter(w io.Writer, asJSON bool) *logPrinter { return &logPrinter{w: w, json: asJSON} }

func (p *logPrinter) print(recs []store.Record) {
	if p.json {
		enc := json.NewEncoder(p.w)
		for _, r := range recs {
			enc.Encode(toLogRow(r))
		}
		return
	}
	tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
	if !p.started {
		fmt.Fprintln(tw, "TIME\tLOGIN\tPROVIDER\tMODEL\tSTATUS\tLATENCY\tIN\tOUT\tCOST\tERROR")
		p.started = true
	}
	for _, r := range recs {
		row := toLogRow(r)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", row.Time.Format(time.RFC3339), row.Login, row.Provider, row.Model,
			row.Status, r.Latency.Round(time.Millisecond), orDash(row.InputTokens, "%d"), orDash(row.OutputTokens, "%d"),
			orDash(row.CostUSD, "$%.6f"), row.Error)
	}
	tw.Flush()
}

const usageSynopsis = "sluice usage [--state-dir DIR | --db DSN | --server URL] [--user U] [--model M] [--since 24h] [--by user,model] [--json]"

// runUsage prints requests, errors, tokens and cost grouped by user and
// model (or --by), from the request log.
func runUsage(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := newLogFlags("usage", usageSynopsis, stderr)
	by := f.fs.String("by", "user", "group by user, model, provider or day")
	if err := f.fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if f.fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sluice usage: takes no arguments, got %q\n", f.fs.Args())
		return 2
	}
	group, err := store.ParseGroupBy(*by)
	if err != nil {
		fmt.Fprintln(stderr, "sluice usage:", err)
		return 2
	}
	st, err := f.open(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "sluice usage:", err)
		return 1
	}
	defer st.Close()
	aggs, err := st.Usage(ctx, group, f.filter(time.Now()))
	if err != nil {
		fmt.Fprintln(stderr, "sluice usage:", err)
		return 1
	}
	if f.json {
		enc := json.NewEncoder(stdout)
		for _, a := range aggs {
			enc.Encode(map[string]any{string(group): a.Key, "requests": a.Requests, "errors": a.Errors,
				"input_tokens": a.InputTokens, "output_tokens": a.OutputTokens, "cache_read_tokens": a.CacheReadTokens,
				"cache_write_tokens": a.CacheWriteTokens, "cost_usd": a.CostUSD, "unpriced_requests": a.UnknownCost})
		}
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\tREQUESTS\tERRORS\tIN\tOUT\tCACHE READ\tCOST\t\n", string(group))
	var total store.Totals
	for _, a := range aggs {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t$%.4f\t\n", a.Key, a.Requests, a.Errors, a.InputTokens, a.OutputTokens, a.CacheReadTokens, a.CostUSD)
		total.Add(a.Totals)
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\t%d\t%d\t$%.4f\t\n", total.Requests, total.Errors, total.InputTokens, total.OutputTokens, total.CacheReadTokens, total.CostUSD)
	tw.Flush()
	if total.UnknownCost > 0 {
		fmt.Fprintf(stdout, "%d requests were to models without a price; their cost is not in the totals\n", total.UnknownCost)
	}
	return 0
}
