package main

import (
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
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
// The port is drawn below Linux's ephemeral range (32768 and up by
// default): a port the kernel handed out for ":0" could be handed out
// again, to this test's own "--listen 127.0.0.1:0" or to any connection,
// before serve binds it.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	for range 100 {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(20000+rand.IntN(12000)))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		ln.Close()
		return addr
	}
	t.Fatal("no free loopback port in 20000-31999")
	return ""
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
