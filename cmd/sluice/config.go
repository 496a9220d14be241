package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/policy"
)

const configUsage = `Usage:
  sluice config validate FILE   check FILE; exit 0, or exit 1 printing every problem
                                (--policy DIR: check the tests section with your
                                Rego modules of DIR too)
  sluice config default         print the default configuration
  sluice config migrate FILE    print FILE with temp_grants rewritten as grants,
                                comments kept; notes on what stayed go to stderr
  sluice config push --db DSN FILE
                                validate FILE, then store it in the PostgreSQL
                                database as the configuration replicas started
                                with --config-source db serve
`

func runConfig(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, configUsage)
		return 2
	}
	switch args[0] {
	case "default":
		stdout.Write(policy.DefaultHuJSON)
		return 0
	case "validate":
		fs := flag.NewFlagSet("config validate", flag.ContinueOnError)
		fs.SetOutput(stderr)
		fs.Usage = func() { fmt.Fprint(stderr, configUsage) }
		policyDir := fs.String("policy", "", "directory of your own Rego modules, as for sluice serve --policy")
		if err := fs.Parse(args[1:]); err != nil {
			return flagExit(err)
		}
		if fs.NArg() != 1 {
			fs.Usage()
			return 2
		}
		var opts []engine.Option
		if *policyDir != "" {
			opts = append(opts, engine.WithModulesDir(*policyDir))
		}
		return validateConfig(ctx, fs.Arg(0), stdout, stderr, opts...)
	case "push":
		return configPush(ctx, args[1:], stdout, stderr)
	case "migrate":
		if len(args) != 2 {
			fmt.Fprint(stderr, configUsage)
			return 2
		}
		return migrateConfig(args[1], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, configUsage)
		return 0
	}
	unknownCommand(stderr, "sluice config", args[0], []string{"validate", "default", "migrate", "push", "help"}, configUsage)
	return 2
}

// validateConfig runs the same loading pipeline as serve (load, compile
// the Rego policy, compile and test-run the CEL conditions), stopping short
// of serving, and prints warnings and errors one per line.
func validateConfig(ctx context.Context, path string, stdout, stderr io.Writer, opts ...engine.Option) int {
	cfg, err := loadConfig(ctx, path, stderr)
	if err == nil {
		_, err = engine.New(ctx, cfg, opts...)
	}
	if err != nil {
		printLoadError(stderr, err)
		return 1
	}
	models := len(cfg.Models())
	fmt.Fprintf(stdout, "%s: ok (%d providers, %d models, %d grant sets, %d hooks)\n",
		path, len(cfg.Providers), models, len(cfg.TempGrants)+len(cfg.Grants), len(cfg.Hooks))
	return 0
}

// loadConfig loads path (the embedded default when empty), printing its
// warnings to w.
func loadConfig(_ context.Context, path string, w io.Writer) (*policy.Config, error) {
	var cfg *policy.Config
	var err error
	if path == "" {
		cfg = policy.Default()
	} else if cfg, err = policy.Load(path); err != nil {
		return nil, err
	}
	for _, d := range cfg.Warnings {
		fmt.Fprintln(w, "warning:", d)
	}
	return cfg, nil
}

func printLoadError(w io.Writer, err error) {
	var errs policy.Errors
	if errors.As(err, &errs) {
		for _, d := range errs {
			fmt.Fprintln(w, "error:", d)
		}
		return
	}
	fmt.Fprintln(w, "error:", err)
}
