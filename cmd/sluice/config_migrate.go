package main

import (
	"fmt"
	"io"
	"os"

	"github.com/sluice-gateway/sluice/policy"
)

// migrateConfig prints path's configuration with temp_grants rewritten as
// grants (policy.MigrateGrants), leaving the file itself alone.
func migrateConfig(path string, stdout, stderr io.Writer) int {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 1
	}
	out, notes, err := policy.MigrateGrants(path, data)
	if err != nil {
		printLoadError(stderr, err)
		return 1
	}
	for _, n := range notes {
		fmt.Fprintln(stderr, "note:", n)
	}
	stdout.Write(out)
	return 0
}
