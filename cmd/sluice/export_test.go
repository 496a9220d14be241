package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/sluice-gateway/sluice/export"
	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/store"
)

// TestExportVerify runs `sluice export verify` on an archive the exporter
// wrote to an in-process S3 server: it passes, then reports the object
// deleted from the bucket as a gap with exit status 1.
func TestExportVerify(t *testing.T) {
	ctx := context.Background()
	backend := s3mem.New()
	if err := backend.CreateBucket("audit"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "sluice.db")
	st, err := store.Open(ctx, dbPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var recs []store.Record
	for i := range 12 {
		tm := now.Add(-time.Duration(12-i) * time.Minute)
		recs = append(recs, store.Record{ID: store.NewID(tm), Time: tm, Login: "a@example.com", Provider: "p", Model: "m", Status: 200})
	}
	if err := st.Insert(ctx, recs); err != nil {
		t.Fatal(err)
	}
	s3cfg := &policy.S3Exporter{BucketName: "audit", Region: "us-east-1", Endpoint: srv.URL, Prefix: "gw", AccessKeyID: "k", AccessSecret: "s"}
	sink, err := export.NewS3(ctx, s3cfg, export.S3Options{MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := export.New(st.(store.ExportLog), sink, export.Options{Limit: 5}).Export(ctx); err != nil || n != 12 {
		t.Fatalf("Export = %d, %v", n, err)
	}
	st.Close()
	cfgPath := filepath.Join(dir, "config.hujson")
	cfg := fmt.Sprintf(`{"providers": {"p": {"baseurl": "https://p.example", "apikey": "k", "models": ["m"]}},
		"exporters": {"s3": {"bucket_name": "audit", "region": "us-east-1", "endpoint": %q, "prefix": "gw", "access_key_id": "k", "access_secret": "s"}}}`, srv.URL)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	verify := func(extra ...string) (int, string) {
		var out, errb bytes.Buffer
		args := append([]string{"export", "verify", "--config", cfgPath, "--db", dbPath}, extra...)
		code := run(ctx, args, &out, &errb)
		return code, out.String() + errb.String()
	}

	tests := []struct {
		name     string
		before   func(t *testing.T)
		args     []string
		wantCode int
		want     string
	}{
		{name: "whole archive", wantCode: 0, want: "checked 3 objects, 12 records"},
		{name: "bad --from", args: []string{"--from", "yesterday"}, wantCode: 2, want: `--from: "yesterday": want RFC 3339`},
		{name: "middle object deleted", before: func(t *testing.T) {
			list, err := backend.ListBucket("audit", &gofakes3.Prefix{}, gofakes3.ListBucketPage{})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range list.Contents {
				if strings.Contains(o.Key, "00000000000000000006-00000000000000000010") {
					if _, err := backend.DeleteObject("audit", o.Key); err != nil {
						t.Fatal(err)
					}
				}
			}
		}, wantCode: 1, want: "problem: gap: records 6-10 are in no object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before(t)
			}
			code, out := verify(tt.args...)
			if code != tt.wantCode || !strings.Contains(out, tt.want) {
				t.Errorf("exit %d, output\n%s\nwant exit %d and %q", code, out, tt.wantCode, tt.want)
			}
		})
	}
}

// TestServeExportsAtShutdown runs `sluice serve` with exporters.s3 on an
// in-process S3 server and a cycle far longer than the test: the requests
// served reach the bucket at shutdown, after the request log is flushed.
func TestServeExportsAtShutdown(t *testing.T) {
	backend := s3mem.New()
	if err := backend.CreateBucket("audit"); err != nil {
		t.Fatal(err)
	}
	s3srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(s3srv.Close)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"c","object":"chat.completion","created":1,"model":"gpt-5","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`)
	}))
	t.Cleanup(upstream.Close)
	config := writeFile(t, fmt.Sprintf(`{"providers": {"openai": {"baseurl": %q, "apikey": "k", "models": ["gpt-5"]}},
		"exporters": {"s3": {"bucket_name": "audit", "region": "us-east-1", "endpoint": %q, "access_key_id": "k", "access_secret": "s", "every": 3600}}}`,
		upstream.URL, s3srv.URL))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"serve", "--config", config, "--listen", "127.0.0.1:0", "--state-dir", t.TempDir(), "--local-user", "dev@example.com"}, &stdout, &stderr)
	}()
	addrRE := regexp.MustCompile(`serving on (http://127\.0\.0\.1:\d+)`)
	var base string
	for deadline := time.Now().Add(20 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := addrRE.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
		}
	}
	if base == "" {
		t.Fatalf("serve did not start: %s %s", stdout.String(), stderr.String())
	}
	const n = 5
	for range n {
		resp, err := http.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"gpt-5","messages":[]}`))
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
	list, err := backend.ListBucket("audit", &gofakes3.Prefix{}, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatal(err)
	}
	var records int
	for _, o := range list.Contents {
		if !strings.HasSuffix(o.Key, ".cbor.zst") {
			continue
		}
		obj, err := backend.GetObject("audit", o.Key, nil)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(obj.Contents)
		obj.Contents.Close()
		if err != nil {
			t.Fatal(err)
		}
		recs, err := export.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Login != "dev@example.com" || r.Model != "gpt-5" || r.Status != 200 {
				t.Errorf("exported record = %+v", r)
			}
		}
		records += len(recs)
	}
	if records != n {
		t.Errorf("the bucket holds %d records after shutdown, want %d\n%s", records, n, stderr.String())
	}
}
