package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/store"
)

// healthConfig grants nobody anything: the probes must answer anyway.
const healthConfig = `{
	"providers": {"openai": {"baseurl": "UPSTREAM", "apikey": "sk-health-secret", "models": ["gpt-5"]}},
	"temp_grants": [],
}`

// unknownCaller identifies nobody: a probe from outside the tailnet.
type unknownCaller struct{}

func (unknownCaller) Identify(*http.Request) (identity.Identity, error) {
	return identity.Identity{}, identity.ErrUnknownCaller
}

// TestHealthEndpoints: /healthz says the process is alive; /readyz says
// whether it can serve, listing what is not ready with 503. Neither needs
// an identity or a grant, neither is recorded or reaches a provider, and
// neither shows a key.
func TestHealthEndpoints(t *testing.T) {
	tests := []struct {
		name       string
		path       string
		sinkErr    error
		checks     []ReadyCheck
		wantStatus int
		wantBody   healthAnswer
	}{
		{name: "alive", path: "/healthz", wantStatus: 200, wantBody: healthAnswer{Status: "ok"}},
		{name: "alive while the log is down", path: "/healthz", sinkErr: errors.New("x"), wantStatus: 200, wantBody: healthAnswer{Status: "ok"}},
		{name: "ready", path: "/readyz",
			checks:     []ReadyCheck{{Name: "tailnet", Check: func(context.Context) error { return nil }}},
			wantStatus: 200, wantBody: healthAnswer{Status: "ok"}},
		{name: "request log cannot keep records", path: "/readyz",
			sinkErr:    &store.LogFailure{Reason: "the database is unavailable and the local spool cannot be written"},
			wantStatus: 503, wantBody: healthAnswer{Status: "not ready", NotReady: []notReady{
				{Check: "request_log", Reason: "the database is unavailable and the local spool cannot be written"}}}},
		{name: "tailnet down", path: "/readyz",
			checks:     []ReadyCheck{{Name: "tailnet", Check: func(context.Context) error { return errors.New("node is Stopped, not Running") }}},
			wantStatus: 503, wantBody: healthAnswer{Status: "not ready", NotReady: []notReady{
				{Check: "tailnet", Reason: "node is Stopped, not Running"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sink *memSink
			gw := newGateway(t, healthConfig, "", func(o *Options) {
				sink = &memSink{}
				o.Identity = unknownCaller{}
				o.Sink = sickSink{memSink: sink, err: tt.sinkErr}
				o.ReadyChecks = tt.checks
			})
			resp, err := http.Get(gw.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d; body %s", resp.StatusCode, tt.wantStatus, raw)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var got healthAnswer
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatalf("body %s: %v", raw, err)
			}
			if g, w := mustJSON(t, got), mustJSON(t, tt.wantBody); g != w {
				t.Errorf("body %s, want %s", g, w)
			}
			if strings.Contains(string(raw), "sk-health-secret") || strings.Contains(string(raw), gw.upstream.URL) {
				t.Errorf("body shows configuration: %s", raw)
			}
			if n := len(gw.upstream.Received()); n != 0 {
				t.Errorf("upstream received %d requests", n)
			}
			if recs := sink.all(); len(recs) != 0 {
				t.Errorf("probe was recorded: %+v", recs)
			}
		})
	}
}

// TestHealthOnlyGet: other methods on the probe paths go the usual way
// (identification first), so a POST /healthz from an unknown caller is
// refused rather than answered.
func TestHealthOnlyGet(t *testing.T) {
	gw := newGateway(t, healthConfig, "", func(o *Options) { o.Identity = unknownCaller{} })
	resp, err := http.Post(gw.URL+"/healthz", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Errorf("POST /healthz: status 200, want the gateway's refusal")
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestHealthHandler: the probes' own listener answers them and nothing
// else, so exposing it outside the tailnet exposes no model.
func TestHealthHandler(t *testing.T) {
	gw := newGateway(t, healthConfig, "alice@example.com")
	hs := httptest.NewServer(gw.srv.HealthHandler())
	defer hs.Close()
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/v1/models": 404, "/api/requests": 404, "/metrics": 404} {
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	if n := len(gw.upstream.Received()); n != 0 {
		t.Errorf("upstream received %d requests", n)
	}
}
