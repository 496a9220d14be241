package store

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/sluice-gateway/sluice/policy"
)

// DefaultJanitorInterval is how often RunRetention applies retention.
const DefaultJanitorInterval = time.Hour

// RequireExportBy is the exporter whose cursor database.retention's
// require_export waits for: the S3 archive.
const RequireExportBy = "s3"

// ApplyRetention applies database.retention once, as of now. The string
// form (`"retention": "720h"`) deletes whole rows older than the window.
// The object form (`{"duration": ..., "purge": [...], "require_export":
// ...}`) purges content only, the raw bodies of the purge categories, and
// keeps every row with its metadata and usage, so dashboards and rollups
// never lose a request; with require_export it purges only what the S3
// exporter has stored. It returns the rows (string form) or bodies
// (object form) deleted.
func ApplyRetention(ctx context.Context, st Store, db policy.Database, now time.Time) (int64, error) {
	if db.Retention <= 0 {
		return 0, nil
	}
	cutoff := now.Add(-db.Retention)
	if !db.ContentOnly {
		return st.DeleteOlderThan(ctx, cutoff)
	}
	el, ok := st.(ExportLog)
	if !ok {
		return 0, errors.New("retention: this store cannot purge content")
	}
	var kinds []string
	for _, c := range db.Purge {
		switch c {
		case policy.PurgeRequestBody:
			kinds = append(kinds, blobRequest)
		case policy.PurgeResponseBody:
			kinds = append(kinds, blobResponse)
		}
	}
	by := ""
	if db.RequireExport {
		by = RequireExportBy
	}
	return el.PurgeContent(ctx, cutoff, kinds, by)
}

// RunRetention applies retention until ctx ends: at start and then every
// interval (DefaultJanitorInterval when zero), reading the database
// section each time so a reload takes effect, on the clock now.
func RunRetention(ctx context.Context, st Store, interval time.Duration, db func() policy.Database, now func() time.Time, log *slog.Logger) {
	if interval <= 0 {
		interval = DefaultJanitorInterval
	}
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		d := db()
		n, err := ApplyRetention(ctx, st, d, now())
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("store: retention failed", slog.Any("error", err))
		case n > 0 && d.ContentOnly:
			log.Info("store: retention purged request content", slog.Int64("bodies", n), slog.Bool("require_export", d.RequireExport))
		case n > 0:
			log.Info("store: retention deleted old requests", slog.Int64("rows", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
