package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/proxy/proxytest"
	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/store/storetest"
)

// TestNothingLost sends N requests through the gateway into a real request
// log — some answered, some failing upstream, some denied, some from
// clients that leave mid-stream — and finds N rows, on SQLite and on
// PostgreSQL.
func TestNothingLost(t *testing.T) {
	for _, db := range []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "sluice.db") }},
		{"postgres", func(t *testing.T) string { return storetest.PostgresDSN(t) }},
	} {
		t.Run(db.name, func(t *testing.T) {
			ctx := context.Background()
			st, err := store.Open(ctx, db.dsn(t), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			writer := store.NewWriter(st, store.WriterOptions{FlushInterval: 20 * time.Millisecond})
			gw := newGateway(t, `{
				"database": {"save_raws": true},
				"providers": {
					"openai": {"baseurl": "UPSTREAM", "apikey": "k", "models": ["gpt-5"]},
					"broken": {"baseurl": "UPSTREAM/broken", "apikey": "k", "models": ["gpt-broken"]},
					"slow": {"baseurl": "UPSTREAM/slow", "apikey": "k", "models": ["gpt-slow"]},
				},
			}`, "alice@example.com", func(o *Options) { o.Sink = writer })
			gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "text/event-stream",
				Body: proxytest.Fixture(t, "openai_chat/text.sse"), Gap: 5 * time.Millisecond})
			// The stream clients leave takes seconds, so they always leave
			// before its end.
			gw.upstream.Handle("/slow/v1/chat/completions", proxytest.Reply{ContentType: "text/event-stream",
				Body: proxytest.Fixture(t, "openai_chat/text.sse"), Gap: 300 * time.Millisecond})
			gw.upstream.Handle("/broken/v1/chat/completions", proxytest.Reply{Status: 500, ContentType: "application/json",
				Body: []byte(`{"error":{"message":"upstream exploded","type":"server_error"}}`)})

			const n = 60
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					model, leave := "gpt-5", false
					switch i % 4 {
					case 1:
						model = "gpt-broken"
					case 2:
						model = "not-configured"
					case 3:
						model, leave = "gpt-slow", true
					}
					ctx, cancel := context.WithCancel(ctx)
					defer cancel()
					req, _ := http.NewRequestWithContext(ctx, http.MethodPost, gw.URL+"/v1/chat/completions",
						strings.NewReader(fmt.Sprintf(`{"model":%q,"stream":true,"messages":[{"role":"user","content":"request %d"}]}`, model, i)))
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					if leave {
						resp.Body.Read(make([]byte, 64))
						cancel()
					} else {
						io.Copy(io.Discard, resp.Body)
					}
					resp.Body.Close()
				}()
			}
			wg.Wait()
			gw.Close() // waits for every handler, so every record was written
			if err := writer.Close(ctx); err != nil {
				t.Fatal(err)
			}
			page, err := st.Requests(ctx, store.Filter{}, store.Page{Limit: store.MaxLimit})
			if err != nil {
				t.Fatal(err)
			}
			byStatus := map[int]int{}
			for _, r := range page.Records {
				byStatus[r.Status]++
			}
			if len(page.Records) != n {
				t.Fatalf("request log has %d rows, want %d (by status %v)", len(page.Records), n, byStatus)
			}
			if byStatus[200] != n/4 || byStatus[500] != n/4 || byStatus[404] != n/4 || byStatus[statusClientClosed] != n/4 {
				t.Errorf("rows by status %v, want %d each of 200, 500, 404, 499", byStatus, n/4)
			}
			ok := page.Records[0]
			for _, r := range page.Records {
				if r.Status == 200 {
					ok = r
				}
			}
			full, err := st.Request(ctx, ok.ID, store.Lookup{Raws: true})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(full.RawRequest), `"content":"request`) || !strings.Contains(string(full.RawResponse), "[DONE]") || full.Usage.Output.Value() != 10 {
				t.Errorf("saved raws: request %q, response %d bytes, output tokens %d", full.RawRequest, len(full.RawResponse), full.Usage.Output.Value())
			}
		})
	}
}
