package main

import (
	"debug/elf"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// TestDockerfileImage checks what deploy/Dockerfile promises without a
// container runtime: its own build command gives a static binary (the
// image is scratch: no libc, no loader) that reports the VERSION build
// argument, and the image's CMD serves from an empty environment with
// only the state volume writable, as the unprivileged uid the image runs
// as when the test can switch to it.
func TestDockerfileImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	raw, err := os.ReadFile("../../deploy/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	dockerfile := string(raw)

	// A directory the image's unprivileged user can enter, as a volume is.
	dir, err := os.MkdirTemp("", "sluice-image-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "sluice")

	// The build step, run as the Dockerfile writes it.
	build := dockerRunLine(t, dockerfile, "go build")
	if !strings.Contains(build, "/out/sluice") {
		t.Fatalf("the build step does not write /out/sluice: %s", build)
	}
	cmd := exec.Command("sh", "-c", strings.ReplaceAll(build, "/out/sluice", bin))
	cmd.Dir = "../.."
	// The image builds without the test run's GOFLAGS (-race needs cgo,
	// which the Dockerfile turns off).
	cmd.Env = append(os.Environ(), "VERSION=v0.0.0-image-test", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the Dockerfile's build step failed: %v\n%s", err, out)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary needs a dynamic loader, which a scratch image does not have")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary links %v, which a scratch image does not have", libs)
	}
	f.Close()

	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "v0.0.0-image-test") {
		t.Errorf("sluice version printed %q (%v), want the VERSION build argument", out, err)
	}

	// The image's CMD, with its tailnet swapped for loopback and its
	// paths for this test's.
	var argv []string
	if err := json.Unmarshal([]byte(regexp.MustCompile(`(?m)^CMD (\[.*\])$`).FindStringSubmatch(dockerfile)[1]), &argv); err != nil {
		t.Fatalf("CMD is not an exec-form array: %v", err)
	}
	state := filepath.Join(dir, "state")
	config := filepath.Join(dir, "sluice.hujson")
	def, err := exec.Command(bin, "config", "default").Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(config, def, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	var args []string
	for i := 0; i < len(argv); i++ {
		switch argv[i] {
		case "--tailnet":
			args = append(args, "--listen", "127.0.0.1:0", "--local-user", "ops@example.com")
		case "--config":
			args, i = append(args, "--config", config), i+1
		case "--state-dir":
			args, i = append(args, "--state-dir", state), i+1
		case "--health-listen":
			args, i = append(args, "--health-listen", "127.0.0.1:0"), i+1
		default:
			args = append(args, argv[i])
		}
	}
	serve := exec.Command(bin, args...)
	// The image's environment: HOME is the state volume, nothing else.
	serve.Env = []string{"HOME=" + state}
	if os.Geteuid() == 0 {
		// Run as the image's USER, owning only the volume.
		if err := os.Chown(state, 65532, 65532); err != nil {
			t.Fatal(err)
		}
		serve.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
	}
	addr := startProcess(t, serve)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
		}
	}
	if _, err := os.Stat(filepath.Join(state, "sluice.db")); err != nil {
		t.Errorf("the request log is not in the state volume: %v", err)
	}
	serve.Process.Signal(syscall.SIGTERM)
	if err := serve.Wait(); err != nil {
		t.Errorf("sluice serve did not stop cleanly: %v", err)
	}
}

// dockerRunLine returns the shell command of the Dockerfile's RUN
// instruction that contains marker, continuation lines joined, up to its
// first "&&".
func dockerRunLine(t *testing.T, dockerfile, marker string) string {
	t.Helper()
	joined := strings.ReplaceAll(dockerfile, "\\\n", " ")
	for _, line := range strings.Split(joined, "\n") {
		rest, ok := strings.CutPrefix(line, "RUN ")
		if !ok || !strings.Contains(rest, marker) {
			continue
		}
		cmd, _, _ := strings.Cut(rest, "&&")
		return strings.TrimSpace(cmd)
	}
	t.Fatalf("no RUN instruction with %q in the Dockerfile", marker)
	return ""
}
