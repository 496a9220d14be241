package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/proxy/proxytest"
	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/store/storetest"
)

// sickSink is a request log that cannot keep records.
type sickSink struct {
	*memSink
	err error
}

func (s sickSink) Healthy() error { return s.err }

func logFailureConfig(onLogFailure string) string {
	field := ""
	if onLogFailure != "" {
		field = fmt.Sprintf(`"on_log_failure": %q,`, onLogFailure)
	}
	return `{
		"database": {` + field + ` "save_raws": true},
		"providers": {
			"openai": {"baseurl": "UPSTREAM", "apikey": "sk-provider-openai", "models": ["gpt-5"]},
			"anthropic": {"baseurl": "UPSTREAM/anth/", "apikey": "sk-ant-provider", "authorization": "x-api-key",
				"models": ["claude-sonnet-4-5"], "compatibility": {"openai_chat": false, "anthropic_messages": true}},
		},
		"temp_grants": [{"src": ["*"], "grants": [{"role": "user"}, {"providers": [{"provider": "*", "model": "*"}]}]}],
	}`
}

// TestRequestLogFailureRefusesOrServes: while the request log cannot keep
// records, "refuse" (the default) answers new requests with 503 in the
// caller's format and a message saying why, without calling the provider;
// "serve" serves them.
func TestRequestLogFailureRefusesOrServes(t *testing.T) {
	failure := &store.LogFailure{Reason: "the database is unavailable and the local spool is at its size bound", Err: store.ErrSpoolFull}
	const why = "the request log cannot be written: the database is unavailable and the local spool is at its size bound; the gateway refuses requests until it can record them"
	tests := []struct {
		name, onLogFailure string
		err                error
		path, body         string
		wantStatus         int
		wantBody           []string
	}{
		{name: "default refuses in OpenAI shape", err: failure, path: "/v1/chat/completions",
			body:       `{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`,
			wantStatus: 503, wantBody: []string{why, `"type":"server_error"`}},
		{name: "refuse in Anthropic shape", onLogFailure: "refuse", err: failure, path: "/v1/messages",
			body:       `{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`,
			wantStatus: 503, wantBody: []string{why, `"type":"error"`, `"overloaded_error"`}},
		{name: "serve serves", onLogFailure: "serve", err: failure, path: "/v1/chat/completions",
			body:       `{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`,
			wantStatus: 200, wantBody: []string{`"hello"`}},
		{name: "healthy log serves", onLogFailure: "refuse", path: "/v1/chat/completions",
			body:       `{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`,
			wantStatus: 200, wantBody: []string{`"hello"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := sickSink{memSink: &memSink{}, err: tt.err}
			gw := newGateway(t, logFailureConfig(tt.onLogFailure), "alice@example.com", func(o *Options) { o.Sink = sink })
			gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
			gw.upstream.Handle("/anth/v1/messages", proxytest.Reply{ContentType: "application/json", Body: []byte(anthropicJSON)})
			resp, body := post(t, gw.URL+tt.path, map[string]string{"anthropic-version": "2023-06-01"}, tt.body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			for _, want := range tt.wantBody {
				if !strings.Contains(body, want) {
					t.Errorf("body lacks %q:\n%s", want, body)
				}
			}
			if tt.wantStatus == 503 {
				if n := len(gw.upstream.Received()); n != 0 {
					t.Errorf("a refused request reached the provider (%d calls)", n)
				}
				if strings.Contains(body, "spool is full (") {
					t.Errorf("the client sees internal detail: %s", body)
				}
			}
			// The request is still offered to the log (it keeps it if
			// it can), with the refusal.
			recs := sink.all()
			if len(recs) != 1 || recs[0].Status != tt.wantStatus || recs[0].ID != resp.Header.Get(headerRequestID) || recs[0].Login != "alice@example.com" {
				t.Errorf("records %+v; want one with status %d, the response's request ID and the caller", recs, tt.wantStatus)
			}
		})
	}
}

// TestMetricsReportSpool: /metrics shows the spool's depth and the log's
// state.
func TestMetricsReportSpool(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "log.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sp, err := store.OpenSpool(filepath.Join(t.TempDir(), "spool"), store.SpoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if err := sp.Append([]store.Record{{ID: "left-over", Time: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	// The Writer starts on a spool left by an earlier run: spooling.
	w := store.NewWriter(blockedInserter{}, store.WriterOptions{Spool: sp, ReplayMaxBackoff: time.Hour, Logger: quietLog()})
	defer w.Close(context.Background())
	// /metrics answers only those whom policy lets read it: an admin here.
	cfg := strings.Replace(logFailureConfig(""), `{"role": "user"}`, `{"role": "admin"}`, 1)
	gw := newGateway(t, cfg, "alice@example.com", func(o *Options) { o.Sink = w })
	resp, err := http.Get(gw.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"sluice_log_spool_records 1\n",
		fmt.Sprintf("sluice_log_spool_bytes %d\n", sp.Bytes()),
		`sluice_log_state{state="ok"} 0`,
		`sluice_log_state{state="spooling"} 1`,
		`sluice_log_state{state="failing"} 0`,
		`sluice_log_records_total{outcome="lost"} 0`,
		"# TYPE sluice_log_spool_records gauge",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}

// blockedInserter is a database that is down.
type blockedInserter struct{}

func (blockedInserter) Insert(context.Context, []store.Record) error {
	return fmt.Errorf("database unavailable")
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// spooledWriter is the request log as serve runs it, tuned to recover in
// test time.
func spooledWriter(t *testing.T, st store.Inserter, spoolDir string, logs io.Writer) *store.Writer {
	t.Helper()
	log := slog.New(slog.NewJSONHandler(logs, nil))
	sp, err := store.OpenSpool(spoolDir, store.SpoolOptions{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	w := store.NewWriter(st, store.WriterOptions{FlushInterval: 10 * time.Millisecond, Retries: 1, RetryBackoff: 20 * time.Millisecond,
		ReplayMaxBackoff: 200 * time.Millisecond, InsertTimeout: 5 * time.Second, Spool: sp, Logger: log})
	t.Cleanup(func() { w.Close(context.Background()) })
	return w
}

// TestGatewayLosesNoRecordDuringPostgresOutage cuts PostgreSQL off for a
// few seconds while clients use the gateway: every request is served and
// leaves exactly one row.
func TestGatewayLosesNoRecordDuringPostgresOutage(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cut := storetest.NewCutProxy(t, u.Host)
	st := storetest.Open(t, cut.DSN(t, dsn), store.Options{})
	var logs bytes.Buffer
	w := spooledWriter(t, st, filepath.Join(t.TempDir(), "spool"), &syncWriter{w: &logs})
	gw := newGateway(t, logFailureConfig(""), "alice@example.com", func(o *Options) { o.Sink = w })
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})

	const clients, each = 4, 100 // 400 requests over about 4 s
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				resp, body := post(t, gw.URL+"/v1/chat/completions", nil,
					fmt.Sprintf(`{"model":"gpt-5","messages":[{"role":"user","content":"client %d request %d"}]}`, c, i))
				if resp.StatusCode != 200 {
					t.Errorf("status %d during the outage (the spool takes the records): %s", resp.StatusCode, body)
				}
				mu.Lock()
				ids = append(ids, resp.Header.Get(headerRequestID))
				mu.Unlock()
				time.Sleep(40 * time.Millisecond)
			}
		}()
	}
	time.Sleep(time.Second)
	cut.CutFor(2500 * time.Millisecond)
	wg.Wait()
	storetest.WaitDrained(t, w, 60*time.Second)
	if s := w.Stats(); s.Spooled == 0 || s.Lost != 0 {
		t.Errorf("stats %+v; want records spooled during the outage and none lost", s)
	}
	storetest.AssertOneRowEach(t, storetest.Open(t, dsn, store.Options{}), ids)
}

// TestGatewayRefusesWhenDiskFull puts the SQLite log and its spool on a
// 2 MiB filesystem and sends requests with large bodies until it is full:
// the gateway then refuses with 503. Every request sent is accounted for:
// served with exactly one row, served and reported lost by ID (only those
// in flight when the disk filled), or refused. Once the filesystem grows,
// the gateway serves again.
func TestGatewayRefusesWhenDiskFull(t *testing.T) {
	dir := storetest.Tmpfs(t, "2m")
	st, err := store.Open(context.Background(), filepath.Join(dir, "sluice.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	logs := &syncWriter{w: &bytes.Buffer{}}
	w := spooledWriter(t, st, filepath.Join(dir, "spool"), logs)
	gw := newGateway(t, logFailureConfig(""), "alice@example.com", func(o *Options) { o.Sink = w })
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})

	noise := make([]byte, 24<<10)
	var served, refused []string
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; len(refused) < 5 && i < 2000 && time.Now().Before(deadline); i++ {
		rand.Read(noise)
		resp, body := post(t, gw.URL+"/v1/chat/completions", nil,
			fmt.Sprintf(`{"model":"gpt-5","messages":[{"role":"user","content":%q}]}`, base64.StdEncoding.EncodeToString(noise)))
		id := resp.Header.Get(headerRequestID)
		switch resp.StatusCode {
		case 200:
			served = append(served, id)
		case 503:
			if !strings.Contains(body, "the request log cannot be written") {
				t.Fatalf("503 without the reason: %s", body)
			}
			refused = append(refused, id)
		default:
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if len(refused) == 0 {
		t.Fatalf("%d requests served on a full 2 MiB filesystem, none refused", len(served))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	lost := lostIDs(t, logs.String())
	stats := w.Stats()
	t.Logf("sent %d: served %d, refused %d; writer %+v", len(served)+len(refused), len(served), len(refused), stats)

	// Grow the filesystem: the gateway serves again and the spool drains.
	storetest.GrowTmpfs(t, dir, "64m")
	var recovered string
	for deadline := time.Now().Add(20 * time.Second); recovered == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, _ := post(t, gw.URL+"/v1/chat/completions", nil, `{"model":"gpt-5","messages":[{"role":"user","content":"again"}]}`)
		id := resp.Header.Get(headerRequestID)
		if resp.StatusCode == 200 {
			recovered = id
		} else {
			refused = append(refused, id)
		}
	}
	if recovered == "" {
		t.Fatal("the gateway still refuses requests after the filesystem grew")
	}
	storetest.WaitDrained(t, w, 30*time.Second)

	rows := map[string]int{}
	p := store.Page{Limit: store.MaxLimit}
	for {
		page, err := st.Requests(context.Background(), store.Filter{}, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Records {
			rows[r.ID]++
		}
		if page.Next == "" {
			break
		}
		p.Cursor = page.Next
	}
	servedLost := 0
	for _, id := range append(served, recovered) {
		switch {
		case rows[id] == 1 && !lost[id]:
		case rows[id] == 0 && lost[id]:
			servedLost++
		default:
			t.Errorf("served request %s: %d rows, reported lost %v; want exactly one of the two", id, rows[id], lost[id])
		}
	}
	for _, id := range refused {
		if rows[id] > 1 {
			t.Errorf("refused request %s has %d rows", id, rows[id])
		}
	}
	if servedLost > 64 {
		t.Errorf("%d served requests lost; only those in flight when the disk filled may be", servedLost)
	}
	t.Logf("served and lost (in flight when the disk filled): %d", servedLost)
}

// lostIDs reads the request IDs the Writer reported lost from its JSON log.
func lostIDs(t *testing.T, logs string) map[string]bool {
	t.Helper()
	lost := map[string]bool{}
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, "LOST") {
			continue
		}
		var e struct {
			IDs []string `json:"request_ids"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		for _, id := range e.IDs {
			lost[id] = true
		}
	}
	return lost
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}
