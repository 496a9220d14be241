package cluster

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultCheckInterval is how often Watch reads the newest revision even
// when no notification came: the safety net for a notification lost with
// a dropped connection.
const DefaultCheckInterval = 3 * time.Second

// WatchOptions tunes Watch.
type WatchOptions struct {
	// CheckInterval is the periodic check (DefaultCheckInterval when 0).
	CheckInterval time.Duration
	// Logger receives connection trouble (slog.Default() when nil).
	Logger *slog.Logger
}

// Watch calls apply with every stored revision newer than serving()
// returns, until ctx ends: at once when a save on any replica is
// announced (LISTEN/NOTIFY on a connection of its own), and at least every
// CheckInterval besides. A revision apply could not take (serving() stays
// below it) is not handed over again until a newer one is saved, so a
// replica that cannot apply a revision keeps the last good one without
// retrying in a loop. apply is called from one goroutine at a time.
func (db *DB) Watch(ctx context.Context, serving func() int64, apply func(context.Context, Revision), o WatchOptions) {
	if o.CheckInterval <= 0 {
		o.CheckInterval = DefaultCheckInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	w := &watcher{db: db, serving: serving, apply: apply, o: o}
	w.run(ctx)
}

type watcher struct {
	db      *DB
	serving func() int64
	apply   func(context.Context, Revision)
	o       WatchOptions
	tried   int64 // the newest revision handed to apply
}

func (w *watcher) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := w.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		w.o.Logger.Warn("configuration notifications: connection lost; checking every few seconds meanwhile", "err", err, "retry_in", backoff)
		// Without a connection, keep the periodic check going.
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		w.check(ctx)
		backoff = min(backoff*2, w.o.CheckInterval)
	}
}

// listen holds one LISTEN connection until it fails or ctx ends.
func (w *watcher) listen(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, w.db.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	// What was saved while no connection listened.
	w.check(ctx)
	prefix := w.db.schema + ":"
	for {
		wctx, cancel := context.WithTimeout(ctx, w.o.CheckInterval)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			w.check(ctx)
			continue
		case err != nil:
			return err
		}
		rest, ok := strings.CutPrefix(n.Payload, prefix)
		if !ok {
			continue // another schema's replicas
		}
		if num, err := strconv.ParseInt(rest, 10, 64); err == nil && num <= w.serving() {
			continue // this replica saved it, or has it already
		}
		w.check(ctx)
	}
}

// check applies the newest revision if it is newer than the one served and
// not already tried.
func (w *watcher) check(ctx context.Context) {
	num, _, err := w.db.Head(ctx)
	if err != nil {
		if !errors.Is(err, ErrNoConfig) && ctx.Err() == nil {
			w.o.Logger.Warn("configuration check failed; serving the current revision", "err", err)
		}
		return
	}
	if num <= w.serving() || num <= w.tried {
		return
	}
	rev, err := w.db.Current(ctx)
	if err != nil {
		if ctx.Err() == nil {
			w.o.Logger.Warn("configuration check failed; serving the current revision", "err", err)
		}
		return
	}
	w.tried = rev.Number
	w.apply(ctx, rev)
}
