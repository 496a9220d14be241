package decisionlog

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/policy"
)

// logService is a decision log service that checks OPA's wire format and
// keeps the events it accepts. It refuses the first failFirst uploads.
type logService struct {
	t *testing.T
	*httptest.Server
	mu        sync.Mutex
	failFirst int
	down      bool
	posts     int
	bodySizes []int
	events    []map[string]any
}

func newLogService(t *testing.T, failFirst int) *logService {
	s := &logService{t: t, failFirst: failFirst}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *logService) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.posts++
	if r.Method != http.MethodPost || r.URL.Path != "/logs" {
		s.t.Errorf("%s %s, want POST /logs", r.Method, r.URL.Path)
	}
	if r.Header.Get("Content-Encoding") != "gzip" || r.Header.Get("Content-Type") != "application/json" {
		s.t.Errorf("headers %v, want gzip JSON", r.Header)
	}
	if r.Header.Get("Authorization") != "Bearer log-token" {
		s.t.Errorf("authorization %q", r.Header.Get("Authorization"))
	}
	if s.down || s.posts <= s.failFirst {
		http.Error(w, "try later", http.StatusServiceUnavailable)
		return
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		s.t.Errorf("body is not gzip: %v", err)
		return
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		s.t.Errorf("gzip: %v", err)
		return
	}
	var evs []map[string]any
	if err := json.Unmarshal(raw, &evs); err != nil {
		s.t.Errorf("body is not a JSON array: %v: %s", err, raw)
		return
	}
	s.bodySizes = append(s.bodySizes, len(body))
	s.events = append(s.events, evs...)
	w.WriteHeader(http.StatusNoContent)
}

func (s *logService) received() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.events...)
}

func (s *logService) setDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

// testConfig is a service file for url with short delays; reporting is
// added to the reporting object, top to the root.
func testConfig(url, reporting string, top ...string) *Config {
	c, err := ParseConfig([]byte(fmt.Sprintf(`{
		"url": %q,
		"headers": {"Authorization": "Bearer log-token"},
		"labels": {"team": "security"},
		"reporting": {"min_delay_seconds": 0.01, "max_delay_seconds": 0.05 %s},
		%s
	}`, url, reporting, strings.Join(top, ","))))
	if err != nil {
		panic(err)
	}
	return c
}

func closeShipper(t *testing.T, s *Shipper) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestShipsEngineDecisions: decisions of the real engine reach the service
// in OPA's event shape, also when the first uploads fail.
func TestShipsEngineDecisions(t *testing.T) {
	svc := newLogService(t, 2)
	sh := New(testConfig(svc.URL, ""), Options{ID: "ai-1", Version: "1.2.3"})
	cfg, err := policy.Parse("test.hujson", []byte(`{
		"providers": {"openai": {"baseurl": "http://127.0.0.1:1", "apikey": "sk-secret", "models": ["gpt-5"]}},
		"temp_grants": [{"src": ["alice@example.com"], "grants": [{"role": "user"}, {"providers": [{"provider": "openai", "model": "gpt-5"}]}]}],
	}`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(context.Background(), cfg, engine.WithDecisionLog(sh), engine.WithCacheSize(0))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"alice@example.com": true, "bob@example.com": false, "carol@example.com": false}
	ids := map[string]string{}
	for login := range want {
		d, err := eng.Decide(context.Background(), engine.Input{User: engine.User{Login: login}, Request: engine.Request{Provider: "openai", Model: "gpt-5", Format: "openai_chat", Path: "/v1/chat/completions"}})
		if err != nil {
			t.Fatal(err)
		}
		ids[login] = d.ID
	}
	closeShipper(t, sh)

	evs := svc.received()
	if len(evs) != len(want) {
		t.Fatalf("service received %d events, want %d (each once): %v", len(evs), len(want), evs)
	}
	for _, ev := range evs {
		for _, field := range []string{"decision_id", "path", "input", "result", "timestamp", "labels"} {
			if _, ok := ev[field]; !ok {
				t.Errorf("event lacks %q: %v", field, ev)
			}
		}
		login := ev["input"].(map[string]any)["user"].(map[string]any)["login"].(string)
		if ev["decision_id"] != ids[login] || ev["path"] != "sluice/authz" {
			t.Errorf("event %v: want decision %s at sluice/authz", ev, ids[login])
		}
		if allow := ev["result"].(map[string]any)["allow"]; allow != want[login] {
			t.Errorf("%s: result.allow %v, want %v", login, allow, want[login])
		}
		if _, err := time.Parse(time.RFC3339Nano, ev["timestamp"].(string)); err != nil {
			t.Errorf("timestamp: %v", err)
		}
		if diff := cmp.Diff(map[string]any{"id": "ai-1", "version": "1.2.3", "team": "security"}, ev["labels"]); diff != "" {
			t.Errorf("labels (-want +got):\n%s", diff)
		}
		if strings.Contains(fmt.Sprint(ev), "sk-secret") {
			t.Error("a provider key reached the decision log")
		}
	}
	if st := sh.Stats(); st.Sent != 3 || st.FailedUploads < 2 || st.Dropped != 0 {
		t.Errorf("stats %+v, want 3 sent, at least 2 failed uploads, none dropped", st)
	}
}

func TestMask(t *testing.T) {
	line := `{"decision_id":"d1","path":"sluice/authz","input":{"user":{"login":"alice@example.com","caps":[{"x":1}],"tags":[]},"request":{"model":"gpt-5"}},"result":{"allow":true,"hooks":[]},"timestamp":"2026-12-05T00:00:00Z"}`
	tests := []struct {
		name   string
		mask   string
		check  func(ev map[string]any) string
		erased []any
		masked []any
	}{
		{"erase", `["/input/user/caps"]`, func(ev map[string]any) string {
			if _, ok := ev["input"].(map[string]any)["user"].(map[string]any)["caps"]; ok {
				return "caps still there"
			}
			return ""
		}, []any{"/input/user/caps"}, nil},
		{"upsert", `[{"op": "upsert", "path": "/input/user/login", "value": "someone"}]`, func(ev map[string]any) string {
			if l := ev["input"].(map[string]any)["user"].(map[string]any)["login"]; l != "someone" {
				return fmt.Sprintf("login %v", l)
			}
			return ""
		}, nil, []any{"/input/user/login"}},
		{"erase of a path that is not there changes nothing", `["/input/user/groups", {"op": "remove", "path": "/result/hooks"}]`, func(ev map[string]any) string {
			if _, ok := ev["result"].(map[string]any)["hooks"]; ok {
				return "hooks still there"
			}
			return ""
		}, []any{"/result/hooks"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := newLogService(t, 0)
			sh := New(testConfig(svc.URL, "", `"mask": `+tt.mask), Options{})
			sh.Write([]byte(line))
			closeShipper(t, sh)
			evs := svc.received()
			if len(evs) != 1 {
				t.Fatalf("%d events", len(evs))
			}
			if msg := tt.check(evs[0]); msg != "" {
				t.Error(msg)
			}
			if diff := cmp.Diff(tt.erased, asList(evs[0]["erased"])); diff != "" {
				t.Errorf("erased (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.masked, asList(evs[0]["masked"])); diff != "" {
				t.Errorf("masked (-want +got):\n%s", diff)
			}
		})
	}
}

func eventLine(i int) []byte {
	return fmt.Appendf(nil, `{"decision_id":"d%03d","path":"sluice/authz","input":{"user":{"login":"user-%d@example.com"}},"result":{"allow":true},"timestamp":"2026-12-05T00:00:00Z","pad":"%x"}`, i, i, i*7919)
}

func TestUploadSizeLimit(t *testing.T) {
	svc := newLogService(t, 0)
	sh := New(testConfig(svc.URL, `, "upload_size_limit_bytes": 400`), Options{})
	const n = 60
	for i := range n {
		sh.Write(eventLine(i))
	}
	closeShipper(t, sh)
	evs := svc.received()
	if len(evs) != n {
		t.Fatalf("%d events arrived, want %d", len(evs), n)
	}
	for i, ev := range evs {
		if ev["decision_id"] != fmt.Sprintf("d%03d", i) {
			t.Fatalf("event %d is %v: out of order", i, ev["decision_id"])
		}
	}
	if len(svc.bodySizes) < 2 {
		t.Errorf("%d uploads, want several under the limit", len(svc.bodySizes))
	}
	for _, size := range svc.bodySizes {
		if size > 400 {
			t.Errorf("upload of %d bytes exceeds the 400-byte limit", size)
		}
	}
}

// TestBufferLimit: while the service is down, the buffer keeps the newest
// events up to its size and counts the oldest it dropped.
func TestBufferLimit(t *testing.T) {
	svc := newLogService(t, 0)
	svc.setDown(true)
	// Room for exactly the last three events as shipped (with labels).
	var room int
	measure := New(testConfig(svc.URL, ""), Options{})
	for i := 7; i < 10; i++ {
		ev, err := measure.event(eventLine(i))
		if err != nil {
			t.Fatal(err)
		}
		room += len(ev)
	}
	closeShipper(t, measure) // holds nothing
	sh := New(testConfig(svc.URL, fmt.Sprintf(`, "buffer_size_limit_bytes": %d`, room)), Options{})
	for i := range 10 {
		sh.Write(eventLine(i))
	}
	if st := sh.Stats(); st.Dropped != 7 || st.Buffered != 3 {
		t.Fatalf("stats %+v, want 7 dropped and 3 buffered", st)
	}
	svc.setDown(false)
	closeShipper(t, sh)
	var got []any
	for _, ev := range svc.received() {
		got = append(got, ev["decision_id"])
	}
	if diff := cmp.Diff([]any{"d007", "d008", "d009"}, got); diff != "" {
		t.Errorf("shipped (-want +got):\n%s", diff)
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name, text, wantErr string
	}{
		{"minimal", `{"url": "http://127.0.0.1:9000"}`, ""},
		{"full", `{"url": "https://logs.example.com", "resource": "/v1/logs", "headers": {"Authorization": "Bearer x"},
			"labels": {"a": "b"}, "reporting": {"min_delay_seconds": 1, "max_delay_seconds": 5, "upload_size_limit_bytes": 1000, "buffer_size_limit_bytes": 100000},
			"mask": ["/input/user/caps", {"op": "upsert", "path": "/input/user/login", "value": "x"}]}`, ""},
		{"unknown field", `{"url": "http://127.0.0.1:9000", "service": "x"}`, `unknown field "service"`},
		{"unknown reporting field", `{"url": "http://127.0.0.1:9000", "reporting": {"min_delay": 1}}`, `unknown field "min_delay"`},
		{"no url", `{}`, "url: missing"},
		{"not http", `{"url": "ftp://x"}`, "not an http:// or https:// URL"},
		{"credentials", `{"url": "https://u:p@logs.example.com"}`, "put them in headers"},
		{"delays", `{"url": "http://x", "reporting": {"min_delay_seconds": 10, "max_delay_seconds": 1}}`, "above max_delay_seconds"},
		{"mask op", `{"url": "http://x", "mask": [{"op": "drop", "path": "/input/a"}]}`, `mask[0]: op "drop"`},
		{"mask outside input", `{"url": "http://x", "mask": ["/labels/id"]}`, "below /input or /result"},
		{"upsert without value", `{"url": "http://x", "mask": [{"op": "upsert", "path": "/input/a"}]}`, "needs a value"},
		{"unknown mask field", `{"url": "http://x", "mask": [{"op": "remove", "path": "/input/a", "when": 1}]}`, `unknown field "when"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.text))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err %v, want %q", err, tt.wantErr)
			}
		})
	}
}
