package main

import (
	"context"
	"maps"
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
	const head = "# callgrind format\nversion: 1\ncreator: callgrind-3.19.0\npid: 25345\ncmd:  /tmp/slb -role bare\npart: 1\n\n"
	tests := []struct {
		name    string
		dump    string
		want    map[string]int64
		wantErr bool
	}{
		{"instructions", head + "positions: line\nevents: Ir\nsummary: 161047480\n\n\nfl=(1)\nfn=(1)\n0 3\n\ntotals: 161047513\n",
			map[string]int64{"Ir": 161047480}, false},
		{"caches simulated", head + "positions: line\nevents: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw\nsummary: 95026503 20897966 14694893 2290490 423852 238939 29 963 30499\n\nfl=(1)\nfn=(1)\n0 3 1 1 0 0 0 0 0 0\n",
			map[string]int64{"Ir": 95026503, "Dr": 20897966, "Dw": 14694893, "I1mr": 2290490, "D1mr": 423852, "D1mw": 238939, "ILmr": 29, "DLmr": 963, "DLmw": 30499}, false},
		// Trailing zero totals may be left out.
		{"short summary", "events: Ir I1mr\nsummary: 500\n", map[string]int64{"Ir": 500}, false},
		{"no summary", "events: Ir\nfl=(1)\n", nil, true},
		{"no events line", "summary: 12\n", nil, true},
		{"empty summary", "events: Ir\nsummary:\n", nil, true},
		{"not a number", "events: Ir\nsummary: many\n", nil, true},
		{"more totals than events", "events: Ir\nsummary: 1 2\n", nil, true},
		{"no instruction count", "events: I1mr\nsummary: 7\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCallgrindSummary(strings.NewReader(tt.dump))
			if (err != nil) != tt.wantErr || !maps.Equal(got, tt.want) {
				t.Errorf("got %v, %v; want %v (error %v)", got, err, tt.want, tt.wantErr)
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
	count := func(n int, cacheSim bool) map[string]instructionCount {
		dir := t.TempDir()
		per, err := countTarget(context.Background(), client, target, modes, 5, n, dir, cacheSim)
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
	few, many := count(10, false), count(40, false)
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
		if c := few[m.name]; c.i1Misses != 0 || c.d1Misses != 0 {
			t.Errorf("%s: cache misses %+v without the caches simulated", m.name, c)
		}
	}
	// With the caches simulated, the same count and misses beside it: a
	// request runs tens of KB of code and touches more data, and no
	// instruction misses more than once.
	sim := count(10, true)
	for _, m := range modes {
		c, b := sim[m.name], many[m.name].perRequest
		t.Logf("%s: %.0f instructions, %.0f I1 and %.0f D1 misses per request with the caches simulated", m.name, c.perRequest, c.i1Misses, c.d1Misses)
		if r := c.perRequest / b; r < 0.8 || r > 1.25 {
			t.Errorf("%s: %.0f instructions per request with the caches simulated, %.0f without", m.name, c.perRequest, b)
		}
		if c.i1Misses < 100 || c.d1Misses < 100 || c.i1Misses > c.perRequest {
			t.Errorf("%s: %.0f I1 and %.0f D1 misses per request of %.0f instructions: not what a simulated cache gives", m.name, c.i1Misses, c.d1Misses, c.perRequest)
		}
	}
}
