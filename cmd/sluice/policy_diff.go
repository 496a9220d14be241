package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/rego"
)

func init() {
	policySynopsis["diff"] = "sluice policy diff [--policy DIR] [--json] OLD.hujson NEW.hujson"
}

// Exit codes of `sluice policy diff`, as diff(1) has them, so that CI can
// require a review of every access change.
const (
	diffEqual     = 0
	diffDifferent = 1
	diffTrouble   = 2
)

// policyDiff prints who gains and who loses which roles and models from
// OLD to NEW: both access matrices, computed over the classes of callers
// either configuration distinguishes, compared class by class.
func policyDiff(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := &policyFlags{fs: flag.NewFlagSet("policy diff", flag.ContinueOnError)}
	f.fs.SetOutput(stderr)
	f.fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage:\n  %s\n\nFlags:\n", policySynopsis["diff"])
		f.fs.PrintDefaults()
		fmt.Fprintln(stderr, "\nExit status: 0 when access is the same, 1 when it differs, 2 on errors.")
	}
	f.fs.StringVar(&f.policyDir, "policy", "", "directory of your own Rego modules, applied to both files")
	asJSON := f.fs.Bool("json", false, "print the difference as JSON")
	files, err := f.parse(args)
	if err != nil {
		return flagExit(err)
	}
	if len(files) != 2 {
		fmt.Fprintln(stderr, "sluice policy diff: need two configuration files, OLD and NEW")
		return diffTrouble
	}
	var own []rego.Module
	if f.policyDir != "" {
		if own, err = rego.ReadDir(f.policyDir); err != nil {
			printLoadError(stderr, err)
			return diffTrouble
		}
	}
	var cfgs [2]*policy.Config
	var engs [2]*engine.Engine
	for i, file := range files {
		if cfgs[i], err = loadConfig(ctx, file, stderr); err == nil {
			engs[i], err = engine.New(ctx, cfgs[i], engine.WithModules(own...), engine.WithCacheSize(0), engine.WithoutTests())
		}
		if err != nil {
			printLoadError(stderr, err)
			return diffTrouble
		}
	}
	classes := engine.Classes(cfgs[0], cfgs[1])
	var ms [2]*engine.Matrix
	for i, eng := range engs {
		if ms[i], err = eng.MatrixOf(ctx, classes); err != nil {
			fmt.Fprintf(stderr, "sluice policy diff: %s: %v\n", files[i], err)
			return diffTrouble
		}
	}
	d := engine.DiffMatrices(ms[0], ms[1])
	if *asJSON {
		if writeJSON(stdout, stderr, d) != 0 {
			return diffTrouble
		}
	} else {
		writeDiff(stdout, d)
	}
	if d.Equal() {
		return diffEqual
	}
	return diffDifferent
}

// writeDiff prints a matrix difference: per class that changes, its role
// change, then "+" for each pair gained and "-" for each lost.
func writeDiff(w io.Writer, d *engine.MatrixDiff) {
	if d.Equal() {
		fmt.Fprintln(w, "no access changes")
		return
	}
	for _, c := range d.Classes {
		fmt.Fprintf(w, "%s (%s)", c.Class, c.Kind)
		if c.OldRole != c.NewRole {
			fmt.Fprintf(w, ": role %s -> %s", c.OldRole, c.NewRole)
		} else {
			fmt.Fprintf(w, ": role %s", c.NewRole)
		}
		fmt.Fprintln(w)
		for _, p := range c.Gains {
			fmt.Fprintln(w, "  +", p)
		}
		for _, p := range c.Losses {
			fmt.Fprintln(w, "  -", p)
		}
	}
}
