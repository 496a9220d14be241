package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/store"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServeRefusesNonLoopbackListen(t *testing.T) {
	code, _, stderr := runCLI(t, "serve", "--listen", "0.0.0.0:0", "--state-dir", t.TempDir())
	if code != 1 || !strings.Contains(stderr, "0.0.0.0:0") || !strings.Contains(stderr, "--insecure-listen") {
		t.Errorf("exit %d, stderr %q; want a refusal naming the address and the flag", code, stderr)
	}
}

func TestServeRefusesInvalidConfig(t *testing.T) {
	path := writeFile(t, `{"providers": {"p": {"models": ["m"]}}}`)
	code, _, stderr := runCLI(t, "serve", "--config", path, "--state-dir", t.TempDir())
	if code != 1 || !strings.Contains(stderr, "provider p has no base URL configured") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestServeEndToEnd runs `sluice serve` in-process against a mock provider
// on loopback, sends requests, shuts down with a signal's context, and finds
// every request in the SQLite request log.
func TestServeEndToEnd(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer sk-upstream" {
			http.Error(w, `{"error":{"message":"bad key"}}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"c","object":"chat.completion","created":1,"model":"gpt-5","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`)
	}))
	defer upstream.Close()
	t.Setenv("SLUICE_TEST_UPSTREAM_KEY", "sk-upstream")
	config := writeFile(t, `{"providers": {"openai": {"baseurl": "`+upstream.URL+`", "apikey": "${SLUICE_TEST_UPSTREAM_KEY}", "models": ["gpt-5"]}}}`)
	state := t.TempDir()

	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"serve", "--config", config, "--listen", "127.0.0.1:0", "--state-dir", state, "--local-user", "dev@example.com"}, &stdout, &stderr)
	}()
	addrRE := regexp.MustCompile(`serving on (http://127\.0\.0\.1:\d+)`)
	var base string
	for deadline := time.Now().Add(20 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := addrRE.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
		}
	}
	if base == "" {
		cancel()
		t.Fatalf("serve did not start: %s %s", stdout.String(), stderr.String())
	}
	const n = 20
	for i := range n {
		model := "gpt-5"
		if i%4 == 0 {
			model = "unknown-model"
		}
		resp, err := http.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"`+model+`","messages":[]}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d: %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not shut down")
	}

	st, err := store.Open(context.Background(), filepath.Join(state, "sluice.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	page, err := st.Requests(context.Background(), store.Filter{}, store.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	ok, notFound := 0, 0
	for _, r := range page.Records {
		switch {
		case r.Status == 200 && r.Login == "dev@example.com" && r.Usage.Output.Value() == 1:
			ok++
		case r.Status == 404:
			notFound++
		}
	}
	if len(page.Records) != n || ok != 15 || notFound != 5 {
		t.Errorf("request log has %d rows (%d ok, %d not found), want %d (15, 5)", len(page.Records), ok, notFound, n)
	}
}

// servingRE finds the address `sluice serve` announces.
var servingRE = regexp.MustCompile(`serving on (\S+) `)

// startServe runs `sluice serve args...` in-process until the test ends
// (or stop is called) and returns the address it announced.
func startServe(t *testing.T, args ...string) (addr string, stderr *syncBuffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout syncBuffer
	stderr = &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--state-dir", t.TempDir()}, args...), &stdout, stderr)
	}()
	code, stopped := 0, false
	stop = func() int {
		if !stopped {
			cancel()
			select {
			case code = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("serve did not shut down")
			}
			stopped = true
		}
		return code
	}
	t.Cleanup(func() { stop() })
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := servingRE.FindStringSubmatch(stdout.String()); m != nil {
			return m[1], stderr, stop
		}
		select {
		case code = <-done:
			stopped = true
			t.Fatalf("serve exited %d: %s", code, stderr.String())
		default:
		}
	}
	t.Fatalf("serve did not start: %s %s", stdout.String(), stderr.String())
	return "", nil, nil
}

// unixClient sends HTTP requests over the Unix socket at path.
func unixClient(t *testing.T, path string) *http.Client {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func get(t *testing.T, c *http.Client, url string, header map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServeTrustedHeadersOverTCPWarns: trusted headers on a TCP port still
// work, with a warning that every local user can claim any identity.
func TestServeTrustedHeadersOverTCPWarns(t *testing.T) {
	base, stderr, stop := startServe(t, "--listen", "127.0.0.1:0", "--trust-tailscale-headers")
	code, body := get(t, http.DefaultClient, base+"/v1/models", map[string]string{"Tailscale-User-Login": "alice@example.com"})
	if code != 200 {
		t.Errorf("GET /v1/models with a header over loopback: %d %s", code, body)
	}
	if stop() != 0 {
		t.Fatalf("serve failed: %s", stderr.String())
	}
	if out := stderr.String(); !strings.Contains(out, "warning: --trust-tailscale-headers on TCP 127.0.0.1:") ||
		!strings.Contains(out, "every local process and OS user") || !strings.Contains(out, "--listen unix:PATH") {
		t.Errorf("no warning about trusted headers over TCP in stderr:\n%s", out)
	}
}

// TestServeUnixSocket runs `sluice serve --listen unix:PATH` and calls it
// over the socket from this process: local mode needs no
// --insecure-listen, identity headers are taken only when this process's
// uid is the trusted one, and the socket goes away on shutdown.
func TestServeUnixSocket(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("peer credentials are read on Linux only")
	}
	me := strconv.Itoa(os.Getuid())
	other := strconv.Itoa(os.Getuid() + 1)
	alice := map[string]string{"Tailscale-User-Login": "alice@example.com"}
	tests := []struct {
		name       string
		args       []string
		header     map[string]string
		wantCode   int
		wantBody   string
		wantStderr string
	}{
		{name: "local mode", args: []string{"--local-user", "dev@example.com"}, wantCode: 200, wantBody: `"object":"list"`},
		{name: "headers from the trusted uid", args: []string{"--trust-tailscale-headers", "--trusted-peer-uid", me}, header: alice, wantCode: 200, wantBody: `"object":"list"`},
		{name: "headers from another uid", args: []string{"--trust-tailscale-headers", "--trusted-peer-uid", other}, header: alice, wantCode: 403,
			wantBody: "not the trusted peer uid " + other, wantStderr: "refused identity headers from an untrusted peer"},
		{name: "no headers from the trusted uid", args: []string{"--trust-tailscale-headers", "--trusted-peer-uid", me}, wantCode: 403, wantBody: "could not identify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sluice.sock")
			addr, stderr, stop := startServe(t, append([]string{"--listen", "unix:" + path}, tt.args...)...)
			if addr != "unix:"+path {
				t.Errorf("serving on %q, want unix:%s", addr, path)
			}
			fi, err := os.Lstat(path)
			if err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm()&^0o660 != 0 {
				t.Errorf("socket file: %v, %v; want a socket no wider than 0660", fi, err)
			}
			code, body := get(t, unixClient(t, path), "http://ai/v1/models", tt.header)
			if code != tt.wantCode || !strings.Contains(body, tt.wantBody) {
				t.Errorf("GET /v1/models: %d %s; want %d with %q", code, body, tt.wantCode, tt.wantBody)
			}
			if c := stop(); c != 0 {
				t.Fatalf("serve exited %d: %s", c, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) || strings.Contains(stderr.String(), "warning: --trust-tailscale-headers") {
				t.Errorf("stderr lacks %q or warns about TCP:\n%s", tt.wantStderr, stderr.String())
			}
			if _, err := os.Lstat(path); !os.IsNotExist(err) {
				t.Errorf("socket file left after shutdown: %v", err)
			}
		})
	}
}

func TestServeTrustedPeerUIDFlag(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"without trusted headers", []string{"--listen", "unix:/tmp/x.sock", "--trusted-peer-uid", "0"}, "--trusted-peer-uid needs --trust-tailscale-headers"},
		{"over TCP", []string{"--trust-tailscale-headers", "--trusted-peer-uid", "0"}, "--trusted-peer-uid needs --listen unix:PATH"},
		{"not a number", []string{"--listen", "unix:/tmp/x.sock", "--trust-tailscale-headers", "--trusted-peer-uid", "tailscale"}, "not a numeric user ID"},
		{"negative", []string{"--listen", "unix:/tmp/x.sock", "--trust-tailscale-headers", "--trusted-peer-uid", "-1"}, "not a numeric user ID"},
		{"empty socket path", []string{"--listen", "unix:"}, "needs a socket path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, append([]string{"serve", "--state-dir", t.TempDir()}, tt.args...)...)
			if code == 0 || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want a refusal with %q", code, stderr, tt.want)
			}
		})
	}
}

// TestServeQuotaFlags refuses reservation defaults that would let a
// request through unreserved.
func TestServeQuotaFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--quota-output-tokens", "0"}, "--quota-output-tokens must be positive"},
		{[]string{"--quota-default-reservation", "0.10"}, `--quota-default-reservation "0.10": want a positive amount`},
		{[]string{"--quota-default-reservation", "$0"}, `--quota-default-reservation "$0": want a positive amount`},
	}
	for _, tt := range tests {
		code, _, stderr := runCLI(t, append([]string{"serve", "--state-dir", t.TempDir()}, tt.args...)...)
		if code == 0 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want a refusal with %q", tt.args, code, stderr, tt.want)
		}
	}
}

// TestServeGCHeapFloorFlag refuses a negative floor instead of running
// with Go's default as if it had been 0.
func TestServeGCHeapFloorFlag(t *testing.T) {
	code, _, stderr := runCLI(t, "serve", "--state-dir", t.TempDir(), "--gc-heap-floor-bytes", "-1")
	if want := "--gc-heap-floor-bytes must be 0 (Go's default) or more"; code == 0 || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stderr %q; want a refusal with %q", code, stderr, want)
	}
}

// TestServeForceModelFlag refuses a forced model whose inline parameters
// every request would fail on.
func TestServeForceModelFlag(t *testing.T) {
	tests := []struct {
		model string
		want  string
	}{
		{"gpt-5?temperature=hot", `--force-model "gpt-5?temperature=hot": bad model parameter: temperature="hot"`},
		{"gpt-5?seed=1", `unknown parameter "seed"`},
	}
	for _, tt := range tests {
		code, _, stderr := runCLI(t, "serve", "--state-dir", t.TempDir(), "--force-model", tt.model)
		if code == 0 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%s: exit %d, stderr %q; want a refusal with %q", tt.model, code, stderr, tt.want)
		}
	}
}

func FuzzUIDFlag(f *testing.F) {
	for _, s := range []string{"0", "1000", "4294967295", "4294967296", "-1", "+5", " 1", "0x10", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var u uidFlag
		if err := u.Set(s); err != nil {
			if u.set {
				t.Fatalf("failed Set(%q) marked the flag set", s)
			}
			return
		}
		var again uidFlag
		if err := again.Set(u.String()); err != nil || again != u {
			t.Fatalf("Set(%q) = %d does not round-trip through %q", s, u.uid, u.String())
		}
	})
}
