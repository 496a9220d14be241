package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// The CLI keeps the standard library's flag package: it has no
// dependency, every command already uses it, and the little it lacks
// (per-subcommand help, "did you mean") is a few lines here.

// version overrides the build info's module version when set at build
// time with -ldflags "-X main.version=..." (for builds outside a module
// proxy or a checkout, such as distribution packages).
var version string

// versionString says which build is running: the module version (a
// release tag when installed with go install ...@vX, "(devel)" when built
// from a checkout), the VCS revision and whether the tree had local
// changes, and the Go version.
func versionString(bi *debug.BuildInfo, ok bool) string {
	if !ok {
		if version != "" {
			return "sluice " + version
		}
		return "sluice (unknown build)"
	}
	v := bi.Main.Version
	if version != "" {
		v = version
	}
	if v == "" {
		v = "(devel)"
	}
	var rev, at string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	var details []string
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		details = append(details, "revision "+rev)
		if dirty {
			details[len(details)-1] += "-dirty"
		}
	}
	if at != "" {
		details = append(details, at)
	}
	if bi.GoVersion != "" {
		details = append(details, bi.GoVersion)
	}
	if len(details) == 0 {
		return "sluice " + v
	}
	return "sluice " + v + " (" + strings.Join(details, ", ") + ")"
}

// buildVersion is versionString for the running binary.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	return versionString(bi, ok)
}

// flagExit is the exit code after a flag parse error: 0 for -h (the flag
// package printed the help), 2 for a usage error (it printed why).
func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

// unknownCommand tells that name is no command of group (the command
// line so far, "sluice" or "sluice config"), suggesting the nearest of
// known when it is a likely typo, then prints the usage.
func unknownCommand(w io.Writer, group, name string, known []string, usage string) {
	fmt.Fprintf(w, "%s: unknown command %q\n", group, name)
	if s := suggest(name, known); s != "" {
		fmt.Fprintf(w, "Did you mean %q?\n", group+" "+s)
	}
	fmt.Fprintf(w, "\n%s", usage)
}

// suggest returns the command of known nearest to name by edit distance,
// if near enough to be a typo (at most 2 edits, and fewer than half the
// name), or one that name is a prefix of; else "".
func suggest(name string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if len(name) >= 2 && strings.HasPrefix(k, name) {
			return k
		}
		if d := editDistance(name, k); d < bestD && 2*d < max(len(name), len(k)) {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes
// (command names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
