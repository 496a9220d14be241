package proxy

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

// failoverConfig has two providers serving gpt-5 on one mock upstream,
// told apart by path prefix. Bob may use the primary only; Carol's
// requests to the backup go through a pre_request hook first.
const failoverConfig = `{
	"providers": {
		"primary": {"baseurl": "PRIMARY", "apikey": "sk-primary", "models": ["gpt-5"]},
		"backup": {"baseurl": "UPSTREAM/backup", "apikey": "sk-backup", "models": ["gpt-5"]},
	},
	ROUTING
	"temp_grants": [
		{"src": ["*"], "grants": [{"role": "user"}]},
		{"src": ["alice@example.com"], "grants": [{"providers": [{"provider": "*", "model": "*"}]}]},
		{"src": ["bob@example.com"], "grants": [{"providers": [{"provider": "primary", "model": "*"}]}]},
		{"src": ["carol@example.com"], "grants": [{"providers": [{"provider": "*", "model": "*"}]},
			{"hook": {"match": {"providers": ["backup"], "events": ["pre_request"]}, "hook": "guard", "fields": ["request_body"]}}]},
	],
	"hooks": {"guard": {"url": "http://127.0.0.1:1/guard"}},
}`

const chatReq = `{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`

// TestFailover: a provider that fails before the first byte reaches the
// client (each way it can) hands the request to the next one, unseen by
// the client; an answer the client started to read is never retried, nor
// is a client error, nor a provider policy does not allow.
func TestFailover(t *testing.T) {
	const deadPort = "http://127.0.0.1:1"
	type attempt struct{ provider, outcome string }
	tests := []struct {
		name    string
		login   string
		primary string // base URL; "" is the mock's /primary
		routing string
		reply   proxytest.Reply
		stream  bool
		// want* are what the client and the record see.
		wantStatus   int
		wantProvider string
		wantBody     string
		attempts     []attempt
		failovers    float64
	}{
		{name: "5xx", reply: proxytest.Reply{Status: 503, ContentType: "application/json", Body: []byte(`{"error":{"message":"overloaded"}}`)},
			wantStatus: 200, wantProvider: "backup", wantBody: "hello", attempts: []attempt{{"primary", "server_error"}, {"backup", "ok"}}, failovers: 1},
		{name: "429", reply: proxytest.Reply{Status: 429, ContentType: "application/json", Body: []byte(`{"error":{"message":"slow down"}}`)},
			wantStatus: 200, wantProvider: "backup", wantBody: "hello", attempts: []attempt{{"primary", "rate_limited"}, {"backup", "ok"}}, failovers: 1},
		{name: "5xx html page", reply: proxytest.Reply{Status: 502, ContentType: "text/html", Body: []byte(`<html>bad gateway</html>`)},
			wantStatus: 200, wantProvider: "backup", wantBody: "hello", attempts: []attempt{{"primary", "server_error"}, {"backup", "ok"}}, failovers: 1},
		{name: "connect error", primary: deadPort,
			wantStatus: 200, wantProvider: "backup", wantBody: "hello", attempts: []attempt{{"primary", "unreachable"}, {"backup", "ok"}}, failovers: 1},
		{name: "header timeout", reply: proxytest.Reply{Delay: time.Minute, ContentType: "application/json", Body: []byte(chatJSON)},
			wantStatus: 200, wantProvider: "backup", wantBody: "hello", attempts: []attempt{{"primary", "timeout"}, {"backup", "ok"}}, failovers: 1},
		{name: "client error is the client's", reply: proxytest.Reply{Status: 400, ContentType: "application/json", Body: []byte(`{"error":{"message":"bad messages"}}`)},
			wantStatus: 400, wantProvider: "primary", wantBody: "bad messages", attempts: []attempt{{"primary", "ok"}}},
		{name: "failover off", routing: `"routing": {"failover": false},`,
			reply:      proxytest.Reply{Status: 503, ContentType: "application/json", Body: []byte(`{"error":{"message":"overloaded"}}`)},
			wantStatus: 503, wantProvider: "primary", wantBody: "overloaded", attempts: []attempt{{"primary", "server_error"}}},
		{name: "retry budget of one", routing: `"routing": {"max_attempts": 1},`, primary: deadPort,
			wantStatus: 502, wantProvider: "primary", wantBody: "could not be reached", attempts: []attempt{{"primary", "unreachable"}}},
		{name: "deadline passed", routing: `"routing": {"deadline": "1ns"},`, primary: deadPort,
			wantStatus: 502, wantProvider: "primary", wantBody: "could not be reached", attempts: []attempt{{"primary", "unreachable"}}},
		{name: "backup not allowed by policy", login: "bob@example.com",
			reply:      proxytest.Reply{Status: 503, ContentType: "application/json", Body: []byte(`{"error":{"message":"overloaded"}}`)},
			wantStatus: 503, wantProvider: "primary", wantBody: "overloaded", attempts: []attempt{{"primary", "server_error"}}},
		{name: "backup with other hook obligations", login: "carol@example.com",
			reply:      proxytest.Reply{Status: 503, ContentType: "application/json", Body: []byte(`{"error":{"message":"overloaded"}}`)},
			wantStatus: 503, wantProvider: "primary", wantBody: "overloaded", attempts: []attempt{{"primary", "server_error"}}},
		{name: "fails after the first byte", stream: true,
			reply:      proxytest.Reply{ContentType: "text/event-stream", Body: nil, CutAfter: 3},
			wantStatus: 200, wantProvider: "primary", attempts: []attempt{{"primary", "ok"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			login := tt.login
			if login == "" {
				login = "alice@example.com"
			}
			primary := tt.primary
			if primary == "" {
				primary = "UPSTREAM/primary"
			}
			config := strings.NewReplacer("PRIMARY", primary, "ROUTING", tt.routing).Replace(failoverConfig)
			gw := newGateway(t, config, login, func(o *Options) { o.HeaderTimeout = time.Second })
			reply := tt.reply
			body := chatReq
			if tt.stream {
				reply.Body = proxytest.Fixture(t, "openai_chat/text.sse")
				body = streamChat
				gw.upstream.Handle("/backup/v1/chat/completions", proxytest.Reply{ContentType: "text/event-stream", Body: reply.Body})
			} else {
				gw.upstream.Handle("/backup/v1/chat/completions", proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
			}
			gw.upstream.Handle("/primary/v1/chat/completions", reply)

			req, _ := http.NewRequest(http.MethodPost, gw.URL+"/v1/chat/completions", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, readErr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus || !strings.Contains(string(got), tt.wantBody) {
				t.Errorf("client got %d %s, want %d with %q", resp.StatusCode, got, tt.wantStatus, tt.wantBody)
			}
			if tt.stream && readErr == nil {
				t.Errorf("client read a stream cut after its first bytes to a clean end: %s", got)
			}
			rec := waitRecords(t, gw, 1)[0]
			if rec.Provider != tt.wantProvider {
				t.Errorf("record provider = %q, want %q", rec.Provider, tt.wantProvider)
			}
			var gotAttempts []attempt
			for _, a := range rec.Attempts {
				gotAttempts = append(gotAttempts, attempt{a.Provider, a.Outcome})
			}
			if diff := cmp.Diff(tt.attempts, gotAttempts, cmp.AllowUnexported(attempt{})); diff != "" {
				t.Errorf("recorded attempts (-want +got):\n%s", diff)
			}
			for _, r := range gw.upstream.Received() {
				if strings.HasPrefix(r.Path, "/backup/") && tt.wantProvider != "backup" {
					t.Errorf("the backup was called (%s) though it must not be", r.Path)
				}
				if strings.HasPrefix(r.Path, "/backup/") && string(r.Body) != body {
					t.Errorf("the backup got body %s, want the client's %s replayed", r.Body, body)
				}
			}
			if n := testutil.ToFloat64(gw.srv.metrics.failovers.WithLabelValues("primary", "backup")); n != tt.failovers {
				t.Errorf("sluice_failovers_total{from=primary,to=backup} = %v, want %v", n, tt.failovers)
			}
			if n := testutil.ToFloat64(gw.srv.metrics.attempts.WithLabelValues("primary", tt.attempts[0].outcome)); n != 1 {
				t.Errorf("sluice_upstream_attempts_total{provider=primary,outcome=%s} = %v, want 1", tt.attempts[0].outcome, n)
			}
		})
	}
}

// TestFailoverJudgesWhenNeeded: a request the first provider answers costs
// one policy decision; the backup is judged only when the request fails
// over to it.
func TestFailoverJudgesWhenNeeded(t *testing.T) {
	for _, tt := range []struct {
		status    int
		decisions float64
	}{{200, 1}, {503, 2}} {
		config := strings.NewReplacer("PRIMARY", "UPSTREAM/primary", "ROUTING", "").Replace(failoverConfig)
		gw := newGateway(t, config, "alice@example.com")
		gw.upstream.Handle("/primary/v1/chat/completions", proxytest.Reply{Status: tt.status, ContentType: "application/json", Body: []byte(chatJSON)})
		gw.upstream.Handle("/backup/v1/chat/completions", proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
		if resp, body := post(t, gw.URL+"/v1/chat/completions", nil, chatReq); resp.StatusCode != 200 {
			t.Fatalf("primary %d: client got %d %s", tt.status, resp.StatusCode, body)
		}
		waitRecords(t, gw, 1)
		if n := testutil.ToFloat64(gw.srv.metrics.decisions.WithLabelValues("allow")); n != tt.decisions {
			t.Errorf("primary %d: %v decisions, want %v", tt.status, n, tt.decisions)
		}
	}
}
