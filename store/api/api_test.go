package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/usage"
)

var t0 = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

// fixture serves the API over a SQLite store holding requests of alice and
// bob; the caller is named by test headers.
func fixture(t *testing.T) http.Handler {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "api.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rec := func(id, login, model string, at time.Time) store.Record {
		return store.Record{ID: id, Time: at, Login: login, Model: model, Provider: "openai", Status: 200,
			Usage: usage.Tokens{Input: usage.Of(100), Output: usage.Of(10)}, CostUSD: 0.01, CostKnown: true}
	}
	a1 := rec("a1", "alice", "gpt-5", t0)
	a1.RawRequest, a1.RawResponse = []byte(`{"q":"hi"}`), []byte{0, 0, 0, 42, 0xff}
	a1.Grants = []string{"grants[0].app.tailscale.com/cap/aperture[1]", "tailnet:caps[0]"}
	a2 := rec("a2", "alice", "gpt-5", t0.Add(time.Minute))
	a3 := rec("a3", "alice", "gpt-5-mini", t0.Add(48*time.Hour))
	b1 := rec("b1", "bob", "claude-haiku-4-5", t0.Add(2*time.Minute))
	b1.Status, b1.Error = 502, "upstream failed"
	if err := st.Insert(context.Background(), []store.Record{a1, a2, a3, b1}); err != nil {
		t.Fatal(err)
	}
	return New(st, func(r *http.Request) (string, bool, error) {
		login := r.Header.Get("X-Test-Login")
		if login == "" {
			return "", false, errors.New("not on the tailnet")
		}
		return login, r.Header.Get("X-Test-Admin") == "1", nil
	})
}

// Callers of the tests (caller is the handler's own type).
var (
	alice  = caller{login: "alice"}
	bob    = caller{login: "bob"}
	admin  = caller{login: "root", admin: true}
	nobody = caller{}
)

func get(t *testing.T, h http.Handler, c caller, target string, out any) int {
	t.Helper()
	req := httptest.NewRequest("GET", target, nil)
	if c.login != "" {
		req.Header.Set("X-Test-Login", c.login)
	}
	if c.admin {
		req.Header.Set("X-Test-Admin", "1")
	}
	rw := httptest.NewRecorder()
	h.ServeHTTP(rw, req)
	if ct := rw.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", target, ct)
	}
	if out != nil && rw.Code == http.StatusOK {
		if err := json.Unmarshal(rw.Body.Bytes(), out); err != nil {
			t.Fatalf("%s: %v\n%s", target, err, rw.Body)
		}
	}
	if rw.Code != http.StatusOK {
		var e struct{ Error string }
		if err := json.Unmarshal(rw.Body.Bytes(), &e); err != nil || e.Error == "" {
			t.Errorf("%s: error body %q is not {\"error\": ...}", target, rw.Body)
		}
	}
	return rw.Code
}

func requestIDs(rs requestsJSON) []string {
	var ids []string
	for _, r := range rs.Requests {
		ids = append(ids, r.ID)
	}
	return ids
}

func TestRequestsScopedToCaller(t *testing.T) {
	h := fixture(t)
	tests := []struct {
		name   string
		who    caller
		target string
		code   int
		want   []string
	}{
		{"admin sees everyone", admin, "/api/requests", 200, []string{"a3", "b1", "a2", "a1"}},
		{"admin filters by login", admin, "/api/requests?login=bob", 200, []string{"b1"}},
		{"user sees own", alice, "/api/requests", 200, []string{"a3", "a2", "a1"}},
		{"user names self", alice, "/api/requests?login=alice&model=gpt-5", 200, []string{"a2", "a1"}},
		{"user asks for another", alice, "/api/requests?login=bob", 403, nil},
		{"user filter cannot widen", bob, "/api/requests?model=gpt-5", 200, nil},
		{"errors only", admin, "/api/requests?errors=true", 200, []string{"b1"}},
		{"status", admin, "/api/requests?status=200&since=2026-03-10T09:00:30Z&until=2026-03-11", 200, []string{"a2"}},
		{"session", admin, "/api/requests?session=a1", 200, []string{"a2", "a1"}},
		{"session of another user", bob, "/api/requests?session=a1", 200, nil},
		{"anonymous", nobody, "/api/requests", 401, nil},
		{"bad status", admin, "/api/requests?status=abc", 400, nil},
		{"bad since", admin, "/api/requests?since=yesterday", 400, nil},
		{"bad limit", admin, "/api/requests?limit=0", 400, nil},
		{"bad cursor", admin, "/api/requests?cursor=nope", 400, nil},
		{"unknown endpoint", admin, "/api/nope", 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out requestsJSON
			if code := get(t, h, tt.who, tt.target, &out); code != tt.code {
				t.Fatalf("status %d, want %d", code, tt.code)
			}
			if got := requestIDs(out); tt.code == 200 && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ids = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRequestsPaging(t *testing.T) {
	h := fixture(t)
	var got []string
	target := "/api/requests?limit=3"
	for range 5 {
		var out requestsJSON
		if code := get(t, h, admin, target, &out); code != 200 {
			t.Fatalf("status %d", code)
		}
		got = append(got, requestIDs(out)...)
		if out.NextCursor == "" {
			break
		}
		target = "/api/requests?limit=3&cursor=" + url.QueryEscape(out.NextCursor)
	}
	if want := []string{"a3", "b1", "a2", "a1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("paged ids = %v, want %v", got, want)
	}
}

func TestRequestDetail(t *testing.T) {
	h := fixture(t)
	tests := []struct {
		name   string
		who    caller
		target string
		code   int
		check  func(t *testing.T, d detailJSON)
	}{
		{"user reads own", alice, "/api/requests/a1", 200, func(t *testing.T, d detailJSON) {
			if d.Request.ID != "a1" || !d.Request.HasRaws || d.RawRequest != nil {
				t.Errorf("detail = %+v; want a1 without bodies", d)
			}
			if want := []string{"grants[0].app.tailscale.com/cap/aperture[1]", "tailnet:caps[0]"}; !reflect.DeepEqual(d.Request.Grants, want) {
				t.Errorf("grants = %q, want %q", d.Request.Grants, want)
			}
		}},
		{"user cannot read another's", bob, "/api/requests/a1", 404, nil},
		{"user cannot read raws", alice, "/api/requests/a1?raws=1", 403, nil},
		{"admin reads raws", admin, "/api/requests/a1?raws=true", 200, func(t *testing.T, d detailJSON) {
			if d.RawRequest == nil || *d.RawRequest != `{"q":"hi"}` {
				t.Errorf("raw_request = %v", d.RawRequest)
			}
			if d.RawResponse != nil || string(d.RawResponseBase64) != "\x00\x00\x00\x2a\xff" {
				t.Errorf("binary response: text %v, base64 %q", d.RawResponse, d.RawResponseBase64)
			}
		}},
		{"unknown id", admin, "/api/requests/zzz", 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d detailJSON
			if code := get(t, h, tt.who, tt.target, &d); code != tt.code {
				t.Fatalf("status %d, want %d", code, tt.code)
			}
			if tt.check != nil {
				tt.check(t, d)
			}
		})
	}
}

// TestRequestsShowGrants: each listed request carries the grants that
// allowed it as an array, and one without grants has no grants field.
func TestRequestsShowGrants(t *testing.T) {
	h := fixture(t)
	var out struct {
		Requests []map[string]any `json:"requests"`
	}
	if code := get(t, h, admin, "/api/requests", &out); code != 200 {
		t.Fatalf("status %d", code)
	}
	byID := map[string]map[string]any{}
	for _, r := range out.Requests {
		byID[r["id"].(string)] = r
	}
	if got, want := byID["a1"]["grants"], []any{"grants[0].app.tailscale.com/cap/aperture[1]", "tailnet:caps[0]"}; !reflect.DeepEqual(got, want) {
		t.Errorf("a1 grants = %#v, want %#v", got, want)
	}
	if g, ok := byID["b1"]["grants"]; ok {
		t.Errorf("b1 has no grants but shows %#v", g)
	}
}

func TestSessionsScopedToCaller(t *testing.T) {
	h := fixture(t)
	tests := []struct {
		who  caller
		want []string
	}{
		{admin, []string{"a3", "b1", "a1"}},
		{alice, []string{"a3", "a1"}},
		{bob, []string{"b1"}},
	}
	for _, tt := range tests {
		t.Run(tt.who.login, func(t *testing.T) {
			var out sessionsJSON
			if code := get(t, h, tt.who, "/api/sessions", &out); code != 200 {
				t.Fatalf("status %d", code)
			}
			var got []string
			for _, s := range out.Sessions {
				got = append(got, s.ID)
				if !tt.who.admin && s.Login != tt.who.login {
					t.Errorf("%s sees session %s of %s", tt.who.login, s.ID, s.Login)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("sessions = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	h := fixture(t)
	tests := []struct {
		name   string
		who    caller
		target string
		code   int
		keys   []string
		total  int64
	}{
		{"admin by user", admin, "/api/usage?by=user", 200, []string{"alice", "bob"}, 4},
		{"user by user", bob, "/api/usage?by=user", 200, []string{"bob"}, 1},
		{"user by model", alice, "/api/usage?by=model", 200, []string{"gpt-5", "gpt-5-mini"}, 3},
		{"by day", admin, "/api/usage?by=day", 200, []string{"2026-03-10", "2026-03-12"}, 4},
		{"by day in range", admin, "/api/usage?by=day&since=2026-03-11", 200, []string{"2026-03-12"}, 1},
		{"user asks for another", alice, "/api/usage?by=user&login=bob", 403, nil, 0},
		{"unknown dimension", admin, "/api/usage?by=color", 400, nil, 0},
		{"missing dimension", admin, "/api/usage", 400, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out usageJSON
			if code := get(t, h, tt.who, tt.target, &out); code != tt.code {
				t.Fatalf("status %d, want %d", code, tt.code)
			}
			if tt.code != 200 {
				return
			}
			var keys []string
			for _, r := range out.Rows {
				keys = append(keys, r.Key)
			}
			sort.Strings(keys)
			if !reflect.DeepEqual(keys, tt.keys) || out.Total.Requests != tt.total {
				t.Errorf("keys %v total %d, want %v total %d", keys, out.Total.Requests, tt.keys, tt.total)
			}
		})
	}
}

// FuzzParseFilter checks that no query string lets a non-admin widen their
// view: whatever parses is scoped to the caller.
func FuzzParseFilter(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		fl, err := parseFilter(q, caller{login: "alice"})
		if err == nil && fl.Login != "alice" {
			t.Fatalf("query %q gave a non-admin the filter %+v", raw, fl)
		}
		if p, err := parsePage(q); err == nil && (p.Limit < 0 || p.Limit > store.MaxLimit) {
			t.Fatalf("limit %d accepted from %q", p.Limit, raw)
		}
	})
}

// seeds reads the fuzz seeds in testdata/queries.txt, one query a line.
func seeds(f *testing.F) []string {
	f.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "queries.txt"))
	if err != nil {
		f.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}
