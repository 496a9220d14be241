package ui_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestBrowserNavigation: every page loads in a real browser for both
// roles; a user's navigation has no admin link and every admin URL answers
// them 403, while the admin sees and opens them all.
func TestBrowserNavigation(t *testing.T) {
	d := newDashboard(t)
	d.chat(t, d.user, "gpt-5", 100, 20, "claude-cli/1.0")
	d.flush(t)
	ctx := newBrowser(t)
	dir := screenshotDir(t)

	userPages := []string{"/ui/", "/ui/logs", "/ui/models", "/ui/connect"}
	adminPages := []string{"/admin/adoption", "/admin/activity", "/admin/logs"}
	for _, role := range []struct {
		name  string
		base  string
		admin bool
	}{{"user", d.user.URL, false}, {"admin", d.admin.URL, true}} {
		t.Run(role.name, func(t *testing.T) {
			if st := visit(t, ctx, role.base+"/"); st != http.StatusOK || !strings.HasSuffix(location(t, ctx), "/ui/") {
				t.Errorf("/ redirected to %s with %d, want /ui/ 200", location(t, ctx), st)
			}
			if n := count(t, ctx, "#nav-admin a"); (n > 0) != role.admin {
				t.Errorf("%d admin links in the navigation of the %s", n, role.name)
			}
			if n := count(t, ctx, `a[href^="/admin"]`); !role.admin && n > 0 {
				t.Errorf("the user's page links to /admin %d times", n)
			}
			for _, p := range userPages {
				if st := visit(t, ctx, role.base+p); st != http.StatusOK {
					t.Errorf("%s: %d", p, st)
				}
				screenshot(t, ctx, dir, role.name+strings.ReplaceAll(strings.TrimSuffix(p, "/"), "/", "_"))
			}
			for _, p := range adminPages {
				st := visit(t, ctx, role.base+p)
				want := http.StatusForbidden
				if role.admin {
					want = http.StatusOK
					screenshot(t, ctx, dir, role.name+strings.ReplaceAll(p, "/", "_"))
				}
				if st != want {
					t.Errorf("%s as %s: %d, want %d", p, role.name, st, want)
				}
			}
		})
	}
}
