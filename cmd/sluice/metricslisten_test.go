package main

import (
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestServeRefusesNonLoopbackMetricsListen(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:9464", ":9464", "[::]:9464", "192.0.2.1:9464", "metrics.example.com:9464"} {
		code, _, stderr := runCLI(t, "serve", "--metrics-listen", addr, "--state-dir", t.TempDir())
		if code != 2 || !strings.Contains(stderr, "not a loopback address") || !strings.Contains(stderr, addr) {
			t.Errorf("--metrics-listen %s: exit %d, stderr %q; want a refusal naming the address", addr, code, stderr)
		}
	}
}

// freeLoopbackAddr returns a loopback address with a port free just now.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServeMetricsListen: --metrics-listen serves the metrics to a local
// scraper and the Go profiler without asking who it is, and nothing else
// of the gateway.
func TestServeMetricsListen(t *testing.T) {
	config := writeFile(t, `{"providers": {"openai": {"baseurl": "http://127.0.0.1:1", "apikey": "sk-x", "models": ["gpt-5"]}}}`)
	metrics := "http://" + freeLoopbackAddr(t)
	startServe(t, "--config", config, "--listen", "127.0.0.1:0", "--metrics-listen", strings.TrimPrefix(metrics, "http://"))
	code, body := get(t, http.DefaultClient, metrics+"/metrics", nil)
	if code != 200 || !strings.Contains(body, "# TYPE sluice_policy_decisions_total counter") || !strings.Contains(body, "go_goroutines") {
		t.Errorf("metrics listener: %d %.300s", code, body)
	}
	if code, body := get(t, http.DefaultClient, metrics+"/debug/pprof/goroutine?debug=1", nil); code != 200 || !strings.Contains(body, "goroutine profile") {
		t.Errorf("metrics listener pprof: %d %.200s", code, body)
	}
	if code, _ := get(t, http.DefaultClient, metrics+"/v1/models", nil); code != 404 {
		t.Errorf("metrics listener served /v1/models: %d", code)
	}
}

// FuzzCheckMetricsListen: whatever the address, one that is accepted
// binds loopback only.
func FuzzCheckMetricsListen(f *testing.F) {
	for _, s := range []string{"127.0.0.1:9464", "[::1]:0", "localhost:1", "0.0.0.0:9464", ":9464", "[::ffff:127.0.0.1]:1", "127.1:2", "[fe80::1%lo]:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		if checkMetricsListen(addr) != nil {
			return
		}
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("accepted %q, which has no host:port", addr)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			t.Errorf("accepted %q: host %q is not loopback", addr, host)
		}
	})
}
