package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (HuJSON); the embedded default when empty")
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on in local mode")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := loadConfig(ctx, *configPath, stderr)
	if err != nil {
		printLoadError(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "sluice would serve on http://%s:\n", *listen)
	for _, p := range cfg.Providers {
		fmt.Fprintf(stdout, "  %s  %s  formats=%s  models=%s\n", p.ID, p.BaseURL,
			strings.Join(p.Compatibility.Enabled(), ","), strings.Join(p.Models, ","))
	}
	return 0
}
