package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/replay"
	"github.com/sluice-gateway/sluice/store"
)

const replaySynopsis = "sluice policy replay --config NEW.hujson [--policy DIR] [--since 7d] [--state-dir DIR | --db DSN|PATH] [--json]"

func init() { policySynopsis["replay"] = replaySynopsis }

// policyReplay decides the recorded requests again under a candidate
// policy and reports whose access to which model it changes. Exit 0: no
// change, 1: changes, 2: errors; so CI can ask for a reviewer on access
// changes.
func policyReplay(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := newPolicyFlags("replay", stderr)
	since := f.fs.String("since", "", "only requests of this last while (7d, 12h, 30m); all when empty")
	db := f.fs.String("db", "", "serve's --db: a SQLite file or a postgres:// DSN (default: sluice.db in --state-dir)")
	stateDir := f.fs.String("state-dir", defaultStateDir(), "serve's --state-dir")
	asJSON := f.fs.Bool("json", false, "print the report as JSON")
	pos, err := f.parse(args)
	if err != nil {
		return flagExit(err)
	}
	if f.config == "" || len(pos) > 0 {
		fmt.Fprintln(stderr, "sluice policy replay: need --config FILE (the candidate) and no arguments")
		return 2
	}
	var from time.Time
	if *since != "" {
		d, err := replay.ParseSince(*since)
		if err != nil {
			fmt.Fprintf(stderr, "sluice policy replay: --since: %v\n", err)
			return 2
		}
		from = time.Now().Add(-d)
	}
	cfg, own, err := f.load(ctx, stderr)
	if err != nil {
		printLoadError(stderr, err)
		return 2
	}
	eng, err := engine.New(ctx, cfg, engine.WithModules(own...))
	if err != nil {
		printLoadError(stderr, err)
		return 2
	}
	st, err := openRequestLog(ctx, *db, *stateDir)
	if err != nil {
		fmt.Fprintf(stderr, "sluice policy replay: %v\n", err)
		return 2
	}
	defer st.Close()
	rep, err := replay.Run(ctx, st, eng, store.Filter{Since: from})
	if err != nil {
		fmt.Fprintf(stderr, "sluice policy replay: %v\n", err)
		return 2
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep) //nolint:errchkjson // plain data
	} else {
		printReplay(stdout, rep)
	}
	if len(rep.Changes) > 0 {
		return 1
	}
	return 0
}

// openRequestLog opens the request log at dsn, or serve's default in
// stateDir, which must exist.
func openRequestLog(ctx context.Context, dsn, stateDir string) (store.Store, error) {
	if dsn == "" {
		dsn = filepath.Join(stateDir, "sluice.db")
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

func printReplay(w io.Writer, rep replay.Report) {
	if len(rep.Changes) == 0 {
		fmt.Fprintf(w, "no access changes (%d requests replayed, %d without a recorded decision input)\n", rep.Replayed, rep.Skipped)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHANGE\tUSER\tMODEL\tREQUESTS")
	for _, c := range rep.Changes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", c.Change, c.User, c.Model, c.Requests)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d access changes over %d requests replayed (%d without a recorded decision input)\n", len(rep.Changes), rep.Replayed, rep.Skipped)
}
