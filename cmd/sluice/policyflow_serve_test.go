package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-gateway/sluice/rego"
)

// TestServePolicyBundleAndDecisionLogService: serve loads the user's deny
// rule from a bundle fetched over HTTP, reports the bundle's revision, and
// ships its decisions, masked, to a decision log service.
func TestServePolicyBundleAndDecisionLogService(t *testing.T) {
	bundlePath, _ := writeBundle(t)
	raw, err := os.ReadFile(bundlePath)
	if err != nil {
		t.Fatal(err)
	}
	_, revision, err := rego.ReadBundle(bytes.NewReader(raw), "b")
	if err != nil {
		t.Fatal(err)
	}
	bundles := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(raw) }))
	defer bundles.Close()

	var mu sync.Mutex
	var events []map[string]any
	logs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			t.Errorf("upload is not gzip: %v", err)
			return
		}
		b, _ := io.ReadAll(zr)
		var evs []map[string]any
		if err := json.Unmarshal(b, &evs); err != nil {
			t.Errorf("upload is not a JSON array: %s", b)
		}
		mu.Lock()
		events = append(events, evs...)
		mu.Unlock()
	}))
	defer logs.Close()
	service := writeFile(t, `{"url": "`+logs.URL+`", "reporting": {"min_delay_seconds": 0.05, "max_delay_seconds": 0.1}, "mask": ["/input/user/tags"]}`)

	addr, stderr, stop := startServe(t, "--config", restrictConfig, "--listen", "127.0.0.1:0", "--local-user", "developer@company.com",
		"--policy-bundle", bundles.URL+"/sluice.tar.gz", "--decision-log-service", service)
	resp, err := http.Post(addr+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"gpt-5","messages":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "no gpt-5 today") {
		t.Errorf("status %d %s; want the bundle's deny rule", resp.StatusCode, body)
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "policy bundle") || !strings.Contains(stderr.String(), "revision="+revision) {
		t.Errorf("startup log does not report the bundle's revision %s:\n%s", revision, stderr.String())
	}
	mu.Lock()
	defer mu.Unlock()
	found := false
	for _, ev := range events {
		in := ev["input"].(map[string]any)
		if in["request"].(map[string]any)["model"] != "gpt-5" {
			continue
		}
		found = true
		user := in["user"].(map[string]any)
		if _, ok := user["tags"]; ok || user["login"] != "developer@company.com" {
			t.Errorf("shipped user %v: want the login, tags masked", user)
		}
		if ev["result"].(map[string]any)["allow"] != false {
			t.Errorf("shipped result %v, want a denial", ev["result"])
		}
	}
	if !found {
		t.Errorf("no decision for gpt-5 shipped; got %v", events)
	}
}

func TestServeRefusesBadDecisionLogService(t *testing.T) {
	service := writeFile(t, `{"url": "http://127.0.0.1:1", "flush": true}`)
	code, _, stderr := runCLI(t, "serve", "--listen", "127.0.0.1:0", "--state-dir", t.TempDir(), "--decision-log-service", service)
	if code != 1 || !strings.Contains(stderr, `unknown field "flush"`) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestServeShadowConfig: the live policy answers; the shadow's different
// answer is logged with both.
func TestServeShadowConfig(t *testing.T) {
	addr, stderr, stop := startServe(t, "--config", replayLive, "--listen", "127.0.0.1:0", "--local-user", "developer@company.com",
		"--shadow-config", "testdata/replay/widened.hujson")
	resp, err := http.Post(addr+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"gpt-5-mini","messages":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("status %d, want the live policy's 403", resp.StatusCode)
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d: %s", code, stderr.String())
	}
	log := stderr.String()
	if !strings.Contains(log, "policy shadow") || !strings.Contains(log, "policy shadow difference") ||
		!strings.Contains(log, "live_allow=false") || !strings.Contains(log, "shadow_allow=true") {
		t.Errorf("log lacks the shadow difference:\n%s", log)
	}
}

func TestServeRefusesBadShadowConfig(t *testing.T) {
	path := writeFile(t, `{"providers": {"p": {"models": ["m"]}}}`)
	code, _, stderr := runCLI(t, "serve", "--listen", "127.0.0.1:0", "--state-dir", t.TempDir(), "--shadow-config", path)
	if code != 1 || !strings.Contains(stderr, path) || !strings.Contains(stderr, "no base URL") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

type failingWriter struct{ writes int }

func (f *failingWriter) Write(p []byte) (int, error) {
	f.writes++
	return 0, io.ErrShortWrite
}

// TestShipAndWrite: with both --decision-log and the service, a failing
// file stops being written while every event is still shipped.
func TestShipAndWrite(t *testing.T) {
	var shipped bytes.Buffer
	file := &failingWriter{}
	w := &shipAndWrite{ship: &shipped, w: file}
	for range 3 {
		if n, err := w.Write([]byte("{}\n")); n != 3 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if shipped.String() != "{}\n{}\n{}\n" || file.writes != 1 {
		t.Errorf("shipped %q, file written %d times; want 3 events shipped, the file tried once", shipped.String(), file.writes)
	}
}
