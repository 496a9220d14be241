package export

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/policy"
)

// collector is a SIEM's HTTP input: it keeps what it accepts, and refuses
// posts while failing is set.
type collector struct {
	mu      sync.Mutex
	failing bool
	records []Record
	keys    []string
	auth    string
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failing {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	c.auth = r.Header.Get("X-Api-Key")
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.records = append(c.records, rec)
	}
	c.keys = append(c.keys, r.Header.Get("Idempotency-Key"))
	w.WriteHeader(http.StatusAccepted)
}

// TestHTTPExporterSharesTheCursorMechanism exports the same log to S3 and
// to an NDJSON collector: each has its own cursor, an outage of one holds
// back only that one, and each destination ends with every record once.
func TestHTTPExporterSharesTheCursorMechanism(t *testing.T) {
	ctx := context.Background()
	col := &collector{}
	srv := httptest.NewServer(col)
	t.Cleanup(srv.Close)
	f := newFakeS3(t)
	st := openStore(t)
	c := f.client(t, "")
	hs := NewHTTP(&policy.HTTPExporter{URL: srv.URL, APIKey: "siem-key", Authorization: policy.AuthXAPIKey, Timeout: 5 * time.Second}, nil)
	eh := New(st, hs, Options{Limit: 5})
	es := New(st, c, Options{Limit: 5})

	written := insert(t, st, t0, 7, "a")
	col.failing = true
	if _, err := eh.Export(ctx); err == nil {
		t.Fatal("HTTP export succeeded against a failing collector")
	}
	if n, err := es.Export(ctx); err != nil || n != 7 {
		t.Fatalf("S3 export = %d, %v while the collector fails; want 7", n, err)
	}
	written = append(written, insert(t, st, t0.Add(time.Minute), 4, "b")...)
	col.failing = false
	if n, err := eh.Export(ctx); err != nil || n != 11 {
		t.Fatalf("HTTP export = %d, %v; want 11", n, err)
	}
	if n, err := es.Export(ctx); err != nil || n != 4 {
		t.Fatalf("S3 export = %d, %v; want 4", n, err)
	}
	checkExactlyOnce(t, col.records, written)
	checkExactlyOnce(t, archived(t, f, c), written)
	if col.auth != "siem-key" {
		t.Errorf("X-Api-Key = %q", col.auth)
	}
	if want := []string{"1-5", "6-10", "11-11"}; len(col.keys) != 3 || col.keys[0] != want[0] || col.keys[2] != want[2] {
		t.Errorf("Idempotency-Keys = %v, want %v", col.keys, want)
	}
	for name, want := range map[string]int64{"s3": 11, "http": 11} {
		if cur, err := st.ExportCursor(ctx, name); err != nil || cur.Done != want {
			t.Errorf("cursor %s = %+v, %v; want done %d", name, cur, err, want)
		}
	}
}
