package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/proxy"
	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/store"
)

// TestReloadFile: SIGHUP's reload logs what happened: a change applied, an
// unchanged file, a change refused because it needs a restart (loudly, and
// nothing of it applied), a file that does not load.
func TestReloadFile(t *testing.T) {
	const base = `{"providers": {"openai": {"baseurl": "http://127.0.0.1:1", "apikey": "k", "models": ["gpt-5"]}}, "database": {"save_raws": false}}`
	path := writeFile(t, base)
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	cfg, err := loadConfig(context.Background(), path, &logs)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := proxy.New(context.Background(), cfg, proxy.Options{Identity: identity.Local("dev@example.com"), Sink: sinkFunc(func(store.Record) bool { return true }), Logger: log, ConfigFile: path})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		file    string
		wantErr bool
		log     string
		applied bool
	}{
		{"unchanged", base, false, "configuration unchanged", false},
		// The decision made before it stays cached: the grants are the same.
		{"new model", strings.Replace(base, `["gpt-5"]`, `["gpt-5", "gpt-5-mini"]`, 1), false, `configuration reloaded" file=` + path + " providers=1 policy_revision=" + srv.PolicyRevision() + " cached_decisions_kept=1", true},
		{"needs restart", strings.Replace(base, `"save_raws": false`, `"save_raws": true, "keep_encrypted_blobs": true`, 1), true, "needs_restart=database.keep_encrypted_blobs", false},
		{"does not load", `{"providers": `, true, "configuration refused", false},
	}
	// One decision to keep: the provider is unreachable, but the request
	// is decided before it is sent.
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(`{"model": "gpt-5", "messages": []}`)))
	if srv.CachedDecisions() != 1 {
		t.Fatalf("%d cached decisions after one request (answered %d), want 1", srv.CachedDecisions(), rec.Code)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			before := srv.Config()
			mark := len(logs.String())
			err := reloadFile(context.Background(), srv, path, log, &logs)
			if (err != nil) != tt.wantErr {
				t.Fatalf("reloadFile: %v, want error %v", err, tt.wantErr)
			}
			var restart *proxy.RestartRequiredError
			if tt.name == "needs restart" && !errors.As(err, &restart) {
				t.Errorf("error %v, want a restart-required refusal", err)
			}
			if got := logs.String()[mark:]; !strings.Contains(got, tt.log) {
				t.Errorf("log %q, want %q", got, tt.log)
			}
			if applied := srv.Config() != before; applied != tt.applied {
				t.Errorf("configuration replaced: %v, want %v", applied, tt.applied)
			}
		})
	}
}
