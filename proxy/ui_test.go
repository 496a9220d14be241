package proxy

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/store"
)

// TestDashboardAccess: the dashboard identifies its callers as the other
// local endpoints do, admin pages answer admins only, the root leads to
// it, and none of it is recorded as an LLM request.
func TestDashboardAccess(t *testing.T) {
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
	const (
		admin = "boss@example.com"
		user  = "dev@example.com"
	)
	tests := []struct {
		name, method, path string
		login              string // "" sends no identity
		remote             string
		tailnetDown        bool
		wantCode           int
		wantBody, wantLoc  string
	}{
		{"root leads to the dashboard", "GET", "/", user, "", false, 302, "", "/ui/"},
		{"user's usage", "GET", "/ui/", user, "", false, 200, user, ""},
		{"user's models", "GET", "/ui/models", user, "", false, 200, "gpt-5", ""},
		{"admin overview", "GET", "/admin/adoption", admin, "", false, 200, "Usage overview", ""},
		{"admin root", "GET", "/admin/", admin, "", false, 302, "", "/admin/adoption"},
		{"user refused the overview", "GET", "/admin/adoption", user, "", false, 403, "admin pages are for admins", ""},
		{"user refused an unknown admin page", "GET", "/admin/anything", user, "", false, 403, "admin pages are for admins", ""},
		{"unknown caller", "GET", "/ui/", "", "", false, 403, "sluice could not identify the caller", ""},
		{"untrusted identity header", "GET", "/ui/", admin, "100.64.0.7:40000", false, 403, "sluice could not identify the caller", ""},
		{"tailnet down", "GET", "/admin/adoption", admin, "", true, 503, "sluice could not ask the tailnet", ""},
		{"browser icon", "GET", "/favicon.ico", user, "", false, 301, "", "/ui/static/icon.svg"},
		{"static asset", "GET", "/ui/static/style.css", user, "", false, 200, "nav.side", ""},
		{"POST / is not the dashboard", "POST", "/", user, "", false, 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, strings.NewReader("{}"))
			r.RemoteAddr = "127.0.0.1:40000"
			if tt.remote != "" {
				r.RemoteAddr = tt.remote
			}
			if tt.login != "" {
				r.Header.Set(identity.HeaderUserLogin, tt.login)
			}
			if tt.tailnetDown {
				r.Header.Set("X-Test-Tailnet-Down", "1")
			}
			w := httptest.NewRecorder()
			gw.srv.ServeHTTP(w, r)
			if w.Code != tt.wantCode || !strings.Contains(w.Body.String(), tt.wantBody) || w.Header().Get("Location") != tt.wantLoc {
				t.Fatalf("status %d, location %q, body %.300s; want %d, %q, with %q", w.Code, w.Header().Get("Location"), w.Body.String(), tt.wantCode, tt.wantLoc, tt.wantBody)
			}
			if strings.Contains(w.Body.String(), "sk-provider-openai") {
				t.Error("the page holds the provider key")
			}
		})
	}
	for _, rec := range gw.sink.all() {
		if rec.Path != "/" {
			t.Errorf("a dashboard request was recorded: %s %s", rec.Method, rec.Path)
		}
	}
}
