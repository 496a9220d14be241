package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/proxy"
)

// shadowEngine builds the engine of serve's --shadow-config, with the
// same user modules as the live policy; nil without the flag.
func shadowEngine(ctx context.Context, path string, own []engine.Option, stderr io.Writer, log *slog.Logger) (*engine.Engine, error) {
	if path == "" {
		return nil, nil
	}
	cfg, err := loadConfig(ctx, path, stderr)
	if err != nil {
		return nil, fmt.Errorf("--shadow-config: %w", err)
	}
	eng, err := engine.New(ctx, cfg, own...)
	if err != nil {
		return nil, fmt.Errorf("--shadow-config: %w", err)
	}
	log.Info("policy shadow", "config", path, "revision", eng.Revision())
	return eng, nil
}

// reloadShadow reads serve's --shadow-config again (on SIGHUP) and runs
// it in shadow; a file that no longer loads keeps the running candidate.
func reloadShadow(ctx context.Context, srv *proxy.Server, path string, own []engine.Option, stderr io.Writer, log *slog.Logger) {
	if path == "" {
		return
	}
	eng, err := shadowEngine(ctx, path, own, stderr, log)
	if err != nil {
		log.Error("shadow configuration refused; the running candidate is kept", "file", path, "err", err)
		return
	}
	srv.SetShadow(eng, path)
}
