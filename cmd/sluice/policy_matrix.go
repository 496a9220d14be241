package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/sluice-gateway/sluice/engine"
)

func init() {
	policySynopsis["matrix"] = "sluice policy matrix [--config FILE] [--policy DIR] [--json]"
}

// policyMatrix prints who may use what: every class of callers the grants
// tell apart, its role and the provider/model pairs the compiled policy
// allows it, with the grants that do.
func policyMatrix(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := newPolicyFlags("matrix", stderr)
	asJSON := f.fs.Bool("json", false, "print the matrix as JSON")
	pos, err := f.parse(args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) > 0 {
		fmt.Fprintln(stderr, "sluice policy matrix: takes no arguments (name the file with --config)")
		return 2
	}
	cfg, own, err := f.load(ctx, stderr)
	if err != nil {
		printLoadError(stderr, err)
		return 1
	}
	eng, err := engine.New(ctx, cfg, engine.WithModules(own...), engine.WithCacheSize(0), engine.WithoutTests())
	if err != nil {
		printLoadError(stderr, err)
		return 1
	}
	m, err := eng.Matrix(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "sluice policy matrix:", err)
		return 1
	}
	if *asJSON {
		return writeJSON(stdout, stderr, m)
	}
	writeMatrix(stdout, m)
	return 0
}

// writeMatrix prints a matrix as a table: one line per allowed pair, the
// class, kind and role on the first line of each class.
func writeMatrix(w io.Writer, m *engine.Matrix) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLASS\tKIND\tROLE\tMODEL\tGRANTS")
	for _, c := range m.Classes {
		if len(c.Allowed) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\n", c.Class, c.Kind, c.Role)
			continue
		}
		for i, cell := range c.Allowed {
			class, kind, role := c.Class, c.Kind, c.Role
			if i > 0 {
				class, kind, role = "", "", ""
			}
			grants := strings.Join(cell.Grants, ", ")
			if grants == "" {
				grants = "(your modules)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s/%s\t%s\n", class, kind, role, cell.Provider, cell.Model, grants)
		}
	}
	tw.Flush()
}

// writeJSON prints v as indented JSON.
func writeJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}
