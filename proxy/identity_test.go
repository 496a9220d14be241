package proxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
)

// TestTrustedHeaderMode: behind `tailscale serve` on the same machine the
// identity comes from Tailscale-User-Login, accepted only from loopback.
func TestTrustedHeaderMode(t *testing.T) {
	gw := newGateway(t, pipelineConfig, "", func(o *Options) { o.Identity = identity.TrustedHeaders(identity.HeaderTrust{}) })
	gw.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
	body := `{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name       string
		remote     string // "" = a real loopback connection
		login      string
		wantStatus int
	}{
		{name: "loopback peer with alice's header", login: "alice@example.com", wantStatus: 200},
		{name: "loopback peer with bob's header is bob", login: "bob@example.com", wantStatus: 403},
		{name: "loopback peer without headers", wantStatus: 403},
		{name: "tailnet peer sending the header", remote: "100.64.0.7:50000", login: "alice@example.com", wantStatus: 403},
		{name: "LAN peer sending the header", remote: "192.168.1.20:50000", login: "alice@example.com", wantStatus: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{}
			if tt.login != "" {
				h["Tailscale-User-Login"] = tt.login
			}
			var status int
			if tt.remote == "" {
				resp, b := post(t, gw.URL+"/v1/chat/completions", h, body)
				status = resp.StatusCode
				if status != tt.wantStatus {
					t.Fatalf("status %d, want %d: %s", status, tt.wantStatus, b)
				}
			} else {
				r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
				r.RemoteAddr = tt.remote
				for k, v := range h {
					r.Header.Set(k, v)
				}
				w := httptest.NewRecorder()
				gw.srv.ServeHTTP(w, r)
				if w.Code != tt.wantStatus || w.Header().Get(headerDecisionID) != "" {
					t.Fatalf("status %d (decision %q), want %d without a policy decision", w.Code, w.Header().Get(headerDecisionID), tt.wantStatus)
				}
			}
		})
	}
	for _, r := range gw.upstream.Received() {
		if r.Header.Get("Tailscale-User-Login") != "" {
			t.Error("identity headers reached the upstream")
		}
	}
	if n := len(gw.upstream.Received()); n != 1 {
		t.Errorf("upstream got %d requests, want alice's one", n)
	}
}
