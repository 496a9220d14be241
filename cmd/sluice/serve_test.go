package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
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
