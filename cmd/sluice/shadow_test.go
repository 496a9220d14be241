package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/proxy"
	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/store"
)

// TestReloadShadow: SIGHUP reads --shadow-config again: a changed file
// becomes the candidate, one that no longer loads keeps the running one.
func TestReloadShadow(t *testing.T) {
	cfg, err := loadConfig(context.Background(), replayLive, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	srv, err := proxy.New(context.Background(), cfg, proxy.Options{Identity: identity.Local("dev@example.com"),
		Sink: sinkFunc(func(store.Record) bool { return true }), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	widened, err := os.ReadFile("testdata/replay/widened.hujson")
	if err != nil {
		t.Fatal(err)
	}
	narrowed, err := os.ReadFile("testdata/replay/narrowed.hujson")
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, string(widened))
	ctx := context.Background()
	reloadShadow(ctx, srv, path, nil, &logs, log)
	first := srv.ShadowRevision()
	if first == "" {
		t.Fatalf("no shadow after the first read:\n%s", logs.String())
	}
	if err := os.WriteFile(path, narrowed, 0o600); err != nil {
		t.Fatal(err)
	}
	reloadShadow(ctx, srv, path, nil, &logs, log)
	second := srv.ShadowRevision()
	if second == "" || second == first {
		t.Errorf("shadow revision %q after the file changed, was %q", second, first)
	}
	if err := os.WriteFile(path, []byte(`{"providers": `), 0o600); err != nil {
		t.Fatal(err)
	}
	reloadShadow(ctx, srv, path, nil, &logs, log)
	if got := srv.ShadowRevision(); got != second || !strings.Contains(logs.String(), "shadow configuration refused") {
		t.Errorf("a broken file replaced the candidate (%q, was %q) or was not logged:\n%s", got, second, logs.String())
	}
}

// TestReloadPolicyBundleFile: a --policy-bundle file is read again on
// SIGHUP's reload: the deny rule of the first bundle stops applying once
// the file holds a bundle without it, and the new revision is logged.
func TestReloadPolicyBundleFile(t *testing.T) {
	path, _ := writeBundle(t)
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx := context.Background()
	srv, file, status := bundleGateway(t, path, log, &logs)
	if code, body := status(); code != 403 || !strings.Contains(body, "no gpt-5 today") {
		t.Fatalf("with the first bundle: %d %s", code, body)
	}
	// The same policy without the deny module, written over the file.
	if code, stdout, stderr := runPolicyCLI(t, "bundle", "--config", restrictConfig, "--out", path); code != 0 {
		t.Fatalf("bundle: exit %d: %s%s", code, stdout, stderr)
	}
	if err := reloadFile(ctx, srv, file, log, &logs); err != nil {
		t.Fatal(err)
	}
	if code, body := status(); code == 403 {
		t.Errorf("after the reload the old bundle's rule still refuses: %s", body)
	}
	if n := strings.Count(logs.String(), "policy bundle"); n < 2 {
		t.Errorf("the new bundle revision was not logged:\n%s", logs.String())
	}
}

// TestReloadPolicyBundleURL: a --policy-bundle URL is fetched again on
// SIGHUP's reload, asking with the server's entity tag so that an
// unchanged bundle is not sent again; a bundle server that fails then
// leaves the last bundle in force, with a warning, and the reload still
// applies.
func TestReloadPolicyBundleURL(t *testing.T) {
	path, _ := writeBundle(t)
	var (
		mu       sync.Mutex
		fail     bool
		gets     int
		notSent  int
		bundleAt = func() []byte { b, _ := os.ReadFile(path); return b }
	)
	bundles := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		gets++
		if fail {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		body := bundleAt()
		etag := fmt.Sprintf(`"%x"`, sha256.Sum256(body))
		if r.Header.Get("If-None-Match") == etag {
			notSent++
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		w.Write(body)
	}))
	defer bundles.Close()

	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx := context.Background()
	srv, file, status := bundleGateway(t, bundles.URL+"/bundle.tar.gz", log, &logs)
	if code, body := status(); code != 403 || !strings.Contains(body, "no gpt-5 today") {
		t.Fatalf("with the first bundle: %d %s", code, body)
	}

	// Unchanged: the reload asks, and the bundle is not sent again.
	mu.Lock()
	before := notSent
	mu.Unlock()
	if err := reloadFile(ctx, srv, file, log, &logs); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if notSent == before {
		t.Errorf("an unchanged bundle was sent again (%d requests, %d answered 304)", gets, notSent)
	}
	mu.Unlock()
	if code, _ := status(); code != 403 {
		t.Errorf("after a reload with the same bundle: %d, want its rule to refuse", code)
	}

	// The same policy without the deny module, served from now on.
	mu.Lock()
	if code, stdout, stderr := runPolicyCLI(t, "bundle", "--config", restrictConfig, "--out", path); code != 0 {
		mu.Unlock()
		t.Fatalf("bundle: exit %d: %s%s", code, stdout, stderr)
	}
	mu.Unlock()
	if err := reloadFile(ctx, srv, file, log, &logs); err != nil {
		t.Fatal(err)
	}
	if code, body := status(); code == 403 {
		t.Errorf("after the reload the old bundle's rule still refuses: %s", body)
	}

	// The server fails: the reload applies, with the last bundle kept.
	mu.Lock()
	fail = true
	mu.Unlock()
	if err := reloadFile(ctx, srv, file, log, &logs); err != nil {
		t.Fatalf("a bundle server outage refused the reload: %v", err)
	}
	if code, body := status(); code == 403 {
		t.Errorf("with the bundle server down, the first bundle's rule came back: %s", body)
	}
	if !strings.Contains(logs.String(), "keeping the last one") || !strings.Contains(logs.String(), "503") {
		t.Errorf("the failed fetch was not logged:\n%s", logs.String())
	}
}

// bundleGateway serves restrictConfig, from a file it returns, with the
// policy bundle at src (serve's --policy-bundle); status sends a gpt-5
// request and returns the answer's status and body.
func bundleGateway(t *testing.T, src string, log *slog.Logger, logs *syncBuffer) (srv *proxy.Server, file string, status func() (int, string)) {
	t.Helper()
	ctx := context.Background()
	opt, err := policyBundleOption(ctx, src, log)
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(restrictConfig)
	if err != nil {
		t.Fatal(err)
	}
	file = writeFile(t, string(text))
	cfg, err := loadConfig(ctx, file, logs)
	if err != nil {
		t.Fatal(err)
	}
	srv, err = proxy.New(ctx, cfg, proxy.Options{Identity: identity.Local("developer@company.com"),
		Sink: sinkFunc(func(store.Record) bool { return true }), Logger: log, ConfigFile: file, EngineOptions: []engine.Option{opt}})
	if err != nil {
		t.Fatal(err)
	}
	return srv, file, func() (int, string) {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(`{"model":"gpt-5","messages":[]}`)))
		return rec.Code, rec.Body.String()
	}
}
