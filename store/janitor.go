package store

import (
	"context"
	"log/slog"
	"time"
)

// DefaultJanitorInterval is how often RunJanitor applies retention.
const DefaultJanitorInterval = time.Hour

// RunJanitor applies retention until ctx ends: at start and then every
// interval (DefaultJanitorInterval when zero), it deletes the rows and raw
// bodies older than retention() (database.retention; read each time so a
// configuration reload takes effect). A zero retention keeps everything.
// The gateway runs it in its own goroutine.
func RunJanitor(ctx context.Context, st Store, interval time.Duration, retention func() time.Duration, log *slog.Logger) {
	if interval <= 0 {
		interval = DefaultJanitorInterval
	}
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if keep := retention(); keep > 0 {
			cutoff := time.Now().Add(-keep)
			n, err := st.DeleteOlderThan(ctx, cutoff)
			switch {
			case err != nil && ctx.Err() == nil:
				log.Error("store: retention failed", slog.Any("error", err))
			case n > 0:
				log.Info("store: retention deleted old requests", slog.Int64("rows", n), slog.Time("before", cutoff))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
