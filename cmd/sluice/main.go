// Command sluice is an LLM gateway for Tailscale tailnets: it identifies
// callers by tailnet identity, decides with embedded OPA what they may use,
// injects provider keys, routes by model name and records usage.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `sluice: an LLM gateway for Tailscale tailnets

Usage:
  sluice serve   [--config FILE] [--listen 127.0.0.1:8080] [--local-user LOGIN] ...
  sluice init     --provider openai,anthropic,... [--admin LOGIN] [--out FILE]
  sluice doctor  [--config FILE] [--state-dir DIR] [--db DSN]
  sluice logs    [--user U] [--model M] [--since 1h] [--json] [--follow]
  sluice usage   [--by user|model|provider|day] [--since 24h] [--json]
  sluice export verify --config FILE [--from TIME] [--to TIME]
  sluice config validate FILE
  sluice config default
  sluice config push --db DSN FILE
  sluice policy export --config FILE --out DIR
  sluice policy test   --config FILE DIR...
  sluice policy eval   --config FILE --user LOGIN --model M [--provider P]
  sluice version

Run "sluice COMMAND -h" for the flags of a command.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// commands are the top-level commands, for "did you mean".
var commands = []string{"serve", "init", "doctor", "logs", "usage", "export", "config", "policy", "version", "help"}

// run dispatches a command line and returns the process exit code, so the
// whole CLI can be tested in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "export":
		return runExport(ctx, args[1:], stdout, stderr)
	case "config":
		return runConfig(ctx, args[1:], stdout, stderr)
	case "policy":
		return runPolicy(ctx, args[1:], stdout, stderr)
	case "init":
		return runInit(ctx, args[1:], stdout, stderr)
	case "doctor":
		return runDoctor(ctx, args[1:], stdout, stderr)
	case "logs":
		return runLogs(ctx, args[1:], stdout, stderr)
	case "usage":
		return runUsage(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, buildVersion())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	unknownCommand(stderr, "sluice", args[0], commands, usage)
	return 2
}
