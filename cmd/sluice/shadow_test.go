package main

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"

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
