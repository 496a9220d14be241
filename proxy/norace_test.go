//go:build !race

package proxy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

const raceEnabled = false

// TestStreamWaitFrames: while a stream waits for its next event, the
// frames of sluice's own functions under the wait (ServeHTTP, serve,
// copyBody, upstreamBody.Read) stay within the budget that lets the
// collector halve the handler's stack from 8 KB to 4 (see serve): it
// does so when less than 2,048 bytes minus 800 of guard are in use, and
// net/http's and the runtime's frames under the same wait took 888 of
// them with Go 1.26 (1,184 in all, read from a running gateway). Four KB
// more per open stream is a quarter of what a busy gateway holds for it.
// It reads the frame sizes off a build of sluice without the race
// detector, whose instrumentation makes frames larger (and a test binary
// has no symbol table to read them from).
func TestStreamWaitFrames(t *testing.T) {
	if testing.Short() {
		t.Skip("builds sluice")
	}
	exe := filepath.Join(t.TempDir(), "sluice")
	build := exec.Command("go", "build", "-o", exe, "github.com/sluice-gateway/sluice/cmd/sluice")
	build.Env = append(os.Environ(), "GOFLAGS=") // as released: no coverage counters in the frames
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	const budget = 296
	prologue := regexp.MustCompile(`(?:SUBQ \$0x([0-9a-f]+)|ADDQ \$-0x([0-9a-f]+)), SP`)
	total := 0
	for _, fn := range []string{`proxy\.\(\*Server\)\.ServeHTTP$`, `proxy\.\(\*Server\)\.serve$`,
		`proxy\.\(\*attemptParts\)\.copyBody$`, `proxy\.\(\*upstreamBody\)\.Read$`} {
		out, err := exec.Command("go", "tool", "objdump", "-s", fn, exe).CombinedOutput()
		if err != nil {
			t.Skipf("go tool objdump: %v: %s", err, out)
		}
		m := prologue.FindSubmatch(out)
		if m == nil {
			t.Fatalf("no frame allocation found in %s", fn)
		}
		size, _ := strconv.ParseInt(string(m[1])+string(m[2]), 16, 64)
		total += int(size) + 16 // the frame pointer and the return address
	}
	if total > budget {
		t.Errorf("sluice's frames under a stream's wait take %d bytes, over the budget of %d: "+
			"each open stream's handler would keep an 8 KB stack instead of 4 KB", total, budget)
	}
}
