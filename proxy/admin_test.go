package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/store"
)

const adminConfig = `{
	"providers": {"openai": {"baseurl": "UPSTREAM", "apikey": "sk-provider-openai", "models": ["gpt-5"]}},
	"temp_grants": [
		{"src": ["boss@example.com"], "grants": [{"role": "admin"}]},
		{"src": ["*"], "grants": [{"role": "user"}, {"providers": [{"provider": "*", "model": "*"}]}]},
	],
}`

// TestLocalEndpointsAccess: /metrics and the request-log API identify their
// callers the way model requests do, and policy decides what they read:
// metrics for callers with read_metrics (admins), everyone's rows for
// admins, nothing for a caller that cannot be identified.
func TestLocalEndpointsAccess(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "sluice.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	headers := identity.TrustedHeaders(identity.HeaderTrust{})
	resolver := identity.ResolverFunc(func(r *http.Request) (identity.Identity, error) {
		if r.Header.Get("X-Test-Tailnet-Down") != "" {
			return identity.Identity{}, errors.New("local tailscaled is not running")
		}
		return headers.Identify(r)
	})
	gw := newGateway(t, adminConfig, "", func(o *Options) {
		o.Identity = resolver
		o.Store = st
	})

	type caller struct {
		remote string
		header [2]string
	}
	var (
		admin       = caller{"127.0.0.1:40000", [2]string{identity.HeaderUserLogin, "boss@example.com"}}
		user        = caller{"127.0.0.1:40000", [2]string{identity.HeaderUserLogin, "dev@example.com"}}
		unknown     = caller{"127.0.0.1:40000", [2]string{}}
		untrusted   = caller{"100.64.0.7:40000", [2]string{identity.HeaderUserLogin, "boss@example.com"}}
		tailnetDown = caller{"127.0.0.1:40000", [2]string{"X-Test-Tailnet-Down", "1"}}
	)
	tests := []struct {
		name     string
		path     string
		caller   caller
		wantCode int
		wantBody string // in the body
	}{
		{"admin reads metrics", "/metrics", admin, 200, "sluice_hook_queue_length 0"},
		{"user may not read metrics", "/metrics", user, 403, `"error":"dev@example.com may not read /metrics`},
		{"unknown caller may not read metrics", "/metrics", unknown, 403, `"error":"sluice could not identify the caller`},
		{"untrusted header may not read metrics", "/metrics", untrusted, 403, `"error":"sluice could not identify the caller`},
		{"tailnet failure on metrics", "/metrics", tailnetDown, 503, `"error":"sluice could not ask the tailnet`},
		{"admin lists requests", "/api/requests", admin, 200, `"requests":[]`},
		{"admin lists someone's requests", "/api/requests?login=dev@example.com", admin, 200, `"requests":[]`},
		{"user lists own requests", "/api/requests", user, 200, `"requests":[]`},
		{"user may not list someone else's", "/api/requests?login=boss@example.com", user, 403, "only admins"},
		{"unknown caller may not list requests", "/api/requests", unknown, 403, `"error":"sluice could not identify the caller`},
		{"untrusted header may not list requests", "/api/requests", untrusted, 403, `"error":"sluice could not identify the caller`},
		{"tailnet failure on requests", "/api/requests", tailnetDown, 503, `"error":"sluice could not ask the tailnet`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tt.path, nil)
			r.RemoteAddr = tt.caller.remote
			if tt.caller.header[0] != "" {
				r.Header.Set(tt.caller.header[0], tt.caller.header[1])
			}
			w := httptest.NewRecorder()
			gw.srv.ServeHTTP(w, r)
			body := w.Body.String()
			if w.Code != tt.wantCode || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("status %d, body %s; want %d with %q", w.Code, body, tt.wantCode, tt.wantBody)
			}
			if w.Code != 200 {
				var e struct{ Error string }
				if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" || w.Header().Get("Content-Type") != "application/json" {
					t.Errorf("refusal is not a JSON error (%q, %v): %s", w.Header().Get("Content-Type"), err, body)
				}
				if strings.Contains(body, "sluice_") {
					t.Errorf("refusal carries metrics: %s", body)
				}
			}
		})
	}
}
