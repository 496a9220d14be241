package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/sluice-gateway/sluice/engine"
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
