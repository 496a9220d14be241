package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// bareRoleEnv, set to an upstream URL, makes this test binary run as the
// bare proxy on the address in its first argument, as `sluice-loadbench
// -role bare` runs itself: the target of the instruction count's test.
const bareRoleEnv = "SLUICE_LOADBENCH_TEST_BARE"

func TestMain(m *testing.M) {
	if up := os.Getenv(bareRoleEnv); up != "" && len(os.Args) == 2 {
		if err := serveBare(os.Args[1], up, "", false); err != nil {
			fatal(err)
		}
		return
	}
	os.Exit(m.Run())
}

func TestParseCallgrindSummary(t *testing.T) {
	tests := []struct {
		name    string
		dump    string
		want    int64
		wantErr bool
	}{
		{"dump", "# callgrind format\nversion: 1\ncreator: callgrind-3.19.0\npid: 25345\ncmd:  /tmp/slb -role bare\npart: 1\n\npositions: line\nevents: Ir\nsummary: 161047480\n\n\nfl=(1)\nfn=(1)\n0 3\n\ntotals: 161047513\n", 161047480, false},
		{"no summary", "events: Ir\nfl=(1)\n", 0, true},
		{"empty summary", "summary:\n", 0, true},
		{"not a number", "summary: many\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCallgrindSummary(strings.NewReader(tt.dump))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %d, %v; want %d (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestCountInstructions counts the bare proxy's instructions under
// callgrind for two numbers of requests: the figure per request must not
// depend on how many were counted, which it would if the warm-up or the
// start were counted too.
func TestCountInstructions(t *testing.T) {
	for _, tool := range []string{"valgrind", "vgdb"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	if testing.Short() {
		t.Skip("runs a proxy under valgrind")
	}
	if raceEnabled {
		// The proxy is this test binary: under valgrind, the race
		// detector's runtime loses a stream in three.
		t.Skip("the race detector's build loses streams under valgrind")
	}
	upstream, err := serveLoopback(mockProvider(20, true))
	if err != nil {
		t.Fatal(err)
	}
	defer upstream.Close()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	target := proxyTarget{
		name: "bare",
		argv: func(addr string) []string { return []string{self, addr} },
		// Without collections, which come a few hundred requests
		// apart, ten requests cost what forty do, each.
		env: []string{bareRoleEnv + "=" + upstream.URL, "GOGC=off"},
	}
	modes, err := externalModes(externalFlags{only: "stream,plain"})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: transport()}
	count := func(n int) map[string]instructionCount {
		dir := t.TempDir()
		per, err := countTarget(context.Background(), client, target, modes, 5, n, dir)
		if err != nil {
			t.Fatal(err)
		}
		for i := range modes {
			if _, err := os.Stat(filepath.Join(dir, "bare.callgrind."+string(rune('1'+i)))); err != nil {
				t.Errorf("dump of mode %s: %v", modes[i].name, err)
			}
		}
		return per
	}
	few, many := count(10), count(40)
	for _, m := range modes {
		a, b := few[m.name].perRequest, many[m.name].perRequest
		t.Logf("%s: %.0f instructions per request counting 10, %.0f counting 40", m.name, a, b)
		// A proxied request takes tens of thousands of instructions; the
		// start of a Go program under callgrind tens of millions.
		if a < 10_000 || b < 10_000 {
			t.Errorf("%s: %.0f and %.0f instructions per request, want tens of thousands at least", m.name, a, b)
		}
		if r := a / b; r < 0.8 || r > 1.25 {
			t.Errorf("%s: %.0f instructions per request counting 10, %.0f counting 40: the count is not per request", m.name, a, b)
		}
	}
}
