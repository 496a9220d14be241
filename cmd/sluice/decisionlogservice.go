package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/sluice-gateway/sluice/decisionlog"
)

// startDecisionLogService starts shipping decision logs as serve's
// --decision-log-service file configures.
func startDecisionLogService(path string, log *slog.Logger) (*decisionlog.Shipper, error) {
	c, err := decisionlog.LoadConfig(path)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	bi, ok := debug.ReadBuildInfo()
	sh := decisionlog.New(c, decisionlog.Options{Logger: log, ID: host, Version: versionString(bi, ok)})
	log.Info("decision log service", "url", c.URL, "mask_rules", len(c.Mask))
	return sh, nil
}

// stopDecisionLogService ships what is buffered, giving it budget.
func stopDecisionLogService(sh *decisionlog.Shipper, budget time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	if err := sh.Close(ctx); err != nil {
		log.Warn("decision log service", "err", err)
	}
	st := sh.Stats()
	log.Info("decision log service stopped", "sent", st.Sent, "dropped", st.Dropped, "failed_uploads", st.FailedUploads)
}

// shipAndWrite writes each decision-log event to the shipper and to the
// --decision-log file. A file that fails is skipped from then on, as the
// engine skips a failing decision log, while shipping goes on. The engine
// serializes writes.
type shipAndWrite struct {
	ship, w io.Writer
	failed  bool
}

func (t *shipAndWrite) Write(p []byte) (int, error) {
	t.ship.Write(p) //nolint:errcheck // a Shipper never fails
	if !t.failed {
		if _, err := t.w.Write(p); err != nil {
			t.failed = true
		}
	}
	return len(p), nil
}
