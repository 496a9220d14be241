package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sluice-gateway/sluice/store"
)

// TestBrowserPolicyShadowAndReplay: the Policy page lists what a shadow
// candidate answered otherwise (who, which model, live against shadow),
// and replays the recorded requests under a pasted candidate into a
// table of who gains or loses which model; neither changes the live
// policy.
func TestBrowserPolicyShadowAndReplay(t *testing.T) {
	site := newConfigSite(t)
	ctx := newBrowser(t)
	dir := screenshotDir(t)
	original := site.fileText(t)
	candidate := strings.Replace(original, `{"provider": "anthropic", "model": "claude-*"}`, `{"provider": "*", "model": "*"}`, 1)

	if st := visit(t, ctx, site.admin.URL+"/admin/policy"); st != http.StatusOK {
		t.Fatalf("/admin/policy: %d", st)
	}
	if n := count(t, ctx, "#shadow-inactive"); n != 1 {
		t.Errorf("the page shows a shadow before any was set: %s", text(t, ctx, "#shadow"))
	}

	// Traffic before the shadow: recorded with its decision input.
	for _, c := range []struct {
		model string
		want  int
	}{{"gpt-5", 403}, {"claude-sonnet-4-5", 200}} {
		if got := site.bobChat(t, c.model); got != c.want {
			t.Fatalf("bob %s: %d, want %d", c.model, got, c.want)
		}
	}
	body, _ := json.Marshal(map[string]string{"config": candidate})
	req, _ := http.NewRequest("PUT", site.admin.URL+"/api/config/shadow", strings.NewReader(string(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT /api/config/shadow: %v %v", err, resp)
	}
	resp.Body.Close()
	if got := site.bobChat(t, "gpt-5"); got != http.StatusForbidden {
		t.Fatalf("bob gpt-5 with a shadow: %d, want the live 403", got)
	}
	waitRecords(t, site.store, 3)

	if st := visit(t, ctx, site.admin.URL+"/admin/policy"); st != http.StatusOK {
		t.Fatalf("/admin/policy: %d", st)
	}
	if got := text(t, ctx, "#shadow-counts"); !strings.HasPrefix(got, "1 differences: 0 the shadow would deny, 1 it would allow") {
		t.Errorf("shadow counts read %q", got)
	}
	row := func(cell string) string { return text(t, ctx, "#shadow-differences tr.shadow-difference td."+cell) }
	if row("shadow-who") != "bob@example.com" || row("shadow-model") != "openai/gpt-5" || row("shadow-live") != "deny" || row("shadow-shadow") != "allow" {
		t.Errorf("difference row: who %q model %q live %q shadow %q", row("shadow-who"), row("shadow-model"), row("shadow-live"), row("shadow-shadow"))
	}
	screenshot(t, ctx, dir, "admin_policy_shadow")

	js, _ := json.Marshal(candidate)
	run(t, ctx, "replay a candidate",
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.getElementById("replay-config").value = %s`, js)),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("replay-since").value = ""`),
		chromedp.Click("#replay-run"),
		waitFor(`document.querySelector("#replay-table") !== null || document.querySelector("#replay-result .error, #replay-result .ok") !== null`))
	if n := count(t, ctx, "#replay-table tr.replay-change"); n != 1 {
		t.Fatalf("%d changes listed, want 1: %s", n, text(t, ctx, "#replay-result"))
	}
	got := []string{text(t, ctx, "td.replay-kind"), text(t, ctx, "td.replay-user"), text(t, ctx, "td.replay-model"), text(t, ctx, "td.replay-requests")}
	if want := []string{"gained", "bob@example.com", "gpt-5", "2"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("replay row %q, want %q", got, want)
	}
	screenshot(t, ctx, dir, "admin_policy_replay")

	run(t, ctx, "replay a broken candidate",
		chromedp.Evaluate[chromedp.Void](`document.getElementById("replay-config").value = '{"providers": 1}'`),
		chromedp.Click("#replay-run"),
		waitFor(`document.querySelector("#replay-result .error") !== null`))
	if after, _ := os.ReadFile(site.file); string(after) != original {
		t.Error("the shadow or a replay changed the configuration file")
	}
	if got := site.bobChat(t, "gpt-5"); got != http.StatusForbidden {
		t.Errorf("bob got %d for gpt-5 after a replay, want the live 403", got)
	}
	if st := visit(t, ctx, site.user.URL+"/api/config/shadow"); st != http.StatusForbidden {
		t.Errorf("a user got %d for the shadow API, want 403", st)
	}
}

// waitRecords waits until the request log holds n records.
func waitRecords(t *testing.T, st store.Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		page, err := st.Requests(context.Background(), store.Filter{}, store.Page{Limit: 100})
		if err == nil && len(page.Records) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the request log has not %d records: %v", n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
