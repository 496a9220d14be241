package main

import (
	"bytes"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestStartupLines: serve says, one line each, which build runs with
// which configuration, how callers are identified, where it listens and
// records and which policy decides, then warns of settings that are
// likely mistakes, and only of those.
func TestStartupLines(t *testing.T) {
	t.Setenv("SLUICE_TEST_STARTUP_KEY", "sk-real-secret")
	restricted := writeFile(t, `{
		"database": {"save_raws": true},
		"providers": {"openai": {"baseurl": "https://api.openai.example", "apikey": "${SLUICE_TEST_STARTUP_KEY}", "models": ["gpt-5"]}},
		"temp_grants": [
			{"src": ["ops@example.com"], "grants": [{"role": "admin"}]},
			{"src": ["*"], "grants": [{"role": "user"}, {"providers": [{"provider": "*", "model": "*"}]}]},
		],
	}`)
	encrypted := writeFile(t, `{
		"database": {"save_raws": true, "keep_encrypted_blobs": true},
		"providers": {"local": {"baseurl": "http://127.0.0.1:1", "models": ["llama"]}},
		"temp_grants": [{"src": ["*"], "grants": [{"role": "user"}]}],
	}`)
	traced := writeFile(t, `{
		"providers": {"local": {"baseurl": "http://127.0.0.1:1", "apikey": "k", "models": ["llama"]}},
		"temp_grants": [{"src": ["*"], "grants": [{"role": "user"}]}],
		"tracing": {"enabled": true, "endpoint": "http://127.0.0.1:1", "sample_ratio": 0.25, "capture_content": true},
	}`)
	tests := []struct {
		name string
		args []string
		want []string
		not  []string
	}{
		{name: "tracing with content capture", args: []string{"--config", traced},
			want: []string{"msg=tracing exporter=otlp", "endpoint=http://127.0.0.1:1", "sample_ratio=0.25", "capture_content=true",
				"warning: tracing.capture_content is on"}},
		{name: "embedded default", args: nil,
			want: []string{
				`msg="sluice starting" version="sluice `,
				`msg=config source="embedded default"`,
				`msg=identity mode="local user" login=ops@example.com`,
				`msg=listening addresses=http://127.0.0.1:`,
				`msg="request log" database=`, "sluice.db spool=",
				`msg=policy revision=`, "grants=4 providers=2 models=", "hooks=1",
				`warning: provider openai has the placeholder API key \"YOUR_OPENAI_API_KEY\"`,
				`warning: provider anthropic has the placeholder API key`,
				`warning: hook oso has the placeholder API key`,
				`warning: everyone is admin`,
			},
			not: []string{"save_raws", "msg=tracing"}},
		{name: "restricted file with save_raws in clear", args: []string{"--config", restricted},
			want: []string{
				`msg=config source=file path=` + restricted,
				"grants=2 providers=1 models=1 hooks=0",
				"warning: database.save_raws is on without database.keep_encrypted_blobs",
			},
			not: []string{"placeholder", "everyone is admin", "sk-real-secret"}},
		{name: "empty key and encrypted raws", args: []string{"--config", encrypted},
			want: []string{"provider local has no API key configured"},
			not:  []string{"placeholder", "everyone is admin", "save_raws is on"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if strings.Contains(tt.name, "encrypted") {
				t.Setenv("SLUICE_BLOB_KEY", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))
			}
			_, stderr, stop := startServe(t, append([]string{"--listen", "127.0.0.1:0", "--local-user", "ops@example.com"}, tt.args...)...)
			stop()
			out := stderr.String()
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("startup log lacks %q:\n%s", w, out)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(out, n) {
					t.Errorf("startup log has %q:\n%s", n, out)
				}
			}
		})
	}
}

func TestRedactDSN(t *testing.T) {
	for in, want := range map[string]string{
		"/var/lib/sluice/sluice.db":                                "/var/lib/sluice/sluice.db",
		"postgres://sluice:hunter2@db:5432/sluice?sslmode=require": "postgres://sluice:xxxxx@db:5432/sluice?sslmode=require",
		"postgres://db/sluice?password=hunter2":                    "postgres://db/sluice?password=xxxxx",
		"host=db user=sluice password=hunter2 dbname=sluice":       "host=db user=sluice password=xxxxx dbname=sluice",
	} {
		if got := redactDSN(in); got != want {
			t.Errorf("redactDSN(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestHealthListen: --health-listen answers the probes on an address of
// its own, and nothing else there.
func TestHealthListen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, stderr, _ := startServe(t, "--listen", "127.0.0.1:0", "--local-user", "ops@example.com", "--health-listen", addr)
	if !strings.Contains(stderr.String(), `msg="health probes" address=http://`+addr) {
		t.Errorf("no start-up line for the probes:\n%s", stderr.String())
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/v1/models": 404} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}
