package ui_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/ui"
	"github.com/sluice-gateway/sluice/usage"
)

// sent is one request the test sends through the gateway.
type sent struct {
	gw      string // "user" or "admin"
	model   string
	in, out int
	agent   string
}

var traffic = []sent{
	{"user", "gpt-5", 100, 20, "claude-cli/1.0.3 (external, cli)"},
	{"user", "gpt-5", 200, 30, "claude-cli/1.0.3 (external, cli)"},
	{"user", "gpt-5", 50, 5, "claude-cli/1.0.3 (external, cli)"},
	{"user", "gpt-5-mini", 10, 2, "codex_cli_rs/0.5.0"},
	{"admin", "gpt-5", 1000, 100, "curl/8.5.0"},
}

// expected sums what traffic should show for one login (all when "").
func expected(t *testing.T, cfg *policy.Config, gw string) (requests, tokens int64, cost float64) {
	t.Helper()
	for _, s := range traffic {
		if gw != "" && s.gw != gw {
			continue
		}
		p, ok := cfg.PriceOn("openai", s.model)
		if !ok {
			t.Fatalf("no price for %s", s.model)
		}
		r := store.Record{Usage: usage.Tokens{Input: usage.Of(int64(s.in)), Output: usage.Of(int64(s.out))}}
		requests++
		tokens += int64(s.in + s.out)
		cost += store.Cost(p, &r)
	}
	return requests, tokens, cost
}

// TestBrowserFigures: the figures every page shows are those of the
// requests sent through the gateway, each viewer sees only what they may,
// and looking at the dashboard logs no request.
func TestBrowserFigures(t *testing.T) {
	d := newDashboard(t)
	for _, s := range traffic {
		gw := d.user
		if s.gw == "admin" {
			gw = d.admin
		}
		d.chat(t, gw, s.model, s.in, s.out, s.agent)
	}
	d.flush(t)
	cfg := d.cfg
	ctx := newBrowser(t)
	dir := screenshotDir(t)

	t.Run("my usage", func(t *testing.T) {
		visit(t, ctx, d.user.URL+"/ui/")
		req, tok, cost := expected(t, cfg, "user")
		for sel, want := range map[string]string{
			`[data-card="requests"] .v`:                                ui.FormatInt(req),
			`[data-card="tokens"] .v`:                                  ui.FormatInt(tok),
			`[data-card="cost"] .v`:                                    ui.FormatUSD(cost),
			`#by-model tr[data-name="gpt-5"] [data-col="requests"]`:    "3",
			`#by-model tr[data-name="gpt-5"] [data-col="input"]`:       "350",
			`#by-model tr[data-name="gpt-5-mini"] [data-col="output"]`: "2",
		} {
			if got := text(t, ctx, sel); got != want {
				t.Errorf("%s = %q, want %q", sel, got, want)
			}
		}
		if n := count(t, ctx, "#recent tr[data-id]"); n != 4 {
			t.Errorf("recent activity shows %d requests, want alice's 4", n)
		}
		sum, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`[...document.querySelectorAll("#tokens-by-day rect.bar")].reduce((s, b) => s + Number(b.dataset.value), 0)`))
		if err != nil {
			t.Fatal(err)
		}
		if int64(sum) != tok {
			t.Errorf("the tokens chart's bars add up to %g, want %d", sum, tok)
		}
		screenshot(t, ctx, dir, "figures_my_usage")
	})

	t.Run("logs", func(t *testing.T) {
		visit(t, ctx, d.user.URL+"/ui/logs")
		if n := count(t, ctx, "details.session"); n != 2 {
			t.Fatalf("%d sessions, want 2 (gpt-5 and gpt-5-mini, grouped by model)", n)
		}
		// Open the gpt-5 session: its requests load.
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`details.session:has(summary span:nth-of-type(1)) summary strong`))); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`details.session[open] .session-requests tr[data-id]`))); err != nil {
			t.Fatal(err)
		}
		rows := count(t, ctx, `details.session[open] .session-requests tr[data-id]`)
		first := text(t, ctx, `details.session[open] summary [data-col="requests"]`)
		if want := map[int]string{1: "1 request", 3: "3 requests"}[rows]; first != want {
			t.Errorf("opened session says %q and lists %d requests", first, rows)
		}
		screenshot(t, ctx, dir, "figures_logs_open")
		// Its first request's detail.
		if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`details.session[open] .session-requests tr[data-id] a`))); err != nil {
			t.Fatal(err)
		}
		if got := text(t, ctx, "#status"); got != "200" {
			t.Errorf("request status %q", got)
		}
		if got := text(t, ctx, "#decision"); !strings.Contains(got, "temp_grants[1].grants[1]") {
			t.Errorf("decision %q does not name the grant that allowed it", got)
		}
		if got := text(t, ctx, "#bodies"); !strings.Contains(got, "only admins") {
			t.Errorf("bodies section for a user: %q", got)
		}
		screenshot(t, ctx, dir, "figures_request_user")
	})

	t.Run("models and connect", func(t *testing.T) {
		visit(t, ctx, d.user.URL+"/ui/models")
		if n := count(t, ctx, "#models tr[data-model]"); n != 2 {
			t.Errorf("%d models, want 2", n)
		}
		if got := text(t, ctx, `tr[data-model="gpt-5"]`); !strings.Contains(got, "$1.25") || !strings.Contains(got, "$10") || !strings.Contains(got, "400,000") {
			t.Errorf("gpt-5 row %q lacks its prices or context window", got)
		}
		// The user's own bucket, charged by their requests; nobody else's.
		bucket := `#quotas tr[data-bucket="daily:alice@example.com"]`
		if n := count(t, ctx, "#quotas tr[data-bucket]"); n != 1 || count(t, ctx, bucket) != 1 {
			t.Errorf("%d quota rows, want alice's daily bucket alone", n)
		}
		if bal, capacity := text(t, ctx, bucket+` [data-col="balance"]`), text(t, ctx, bucket+` [data-col="capacity"]`); bal == "" || bal == capacity || capacity != "$10.00" {
			t.Errorf("bucket balance %q of %q: want less than the $10.00 capacity after alice's requests", bal, capacity)
		}
		screenshot(t, ctx, dir, "figures_models")
		visit(t, ctx, d.user.URL+"/ui/connect")
		if got := text(t, ctx, "#base"); got != d.user.URL {
			t.Errorf("connect page names %q, want %q", got, d.user.URL)
		}
		if got := text(t, ctx, "#snippet-codex"); !strings.Contains(got, d.user.URL+"/v1") {
			t.Errorf("codex snippet %q", got)
		}
	})

	t.Run("usage overview", func(t *testing.T) {
		visit(t, ctx, d.admin.URL+"/admin/adoption")
		req, tok, cost := expected(t, cfg, "")
		for sel, want := range map[string]string{
			`[data-card="users"] .v`:    "2",
			`[data-card="requests"] .v`: ui.FormatInt(req),
			`[data-card="cost"] .v`:     ui.FormatUSD(cost),
			`[data-card="tokens"] .v`:   ui.FormatTokens(tok),
			`#users tr[data-name="alice@example.com"] [data-col="requests"]`: "4",
			`#users tr[data-name="boss@example.com"] [data-col="tokens"]`:    "1,100",
		} {
			if got := text(t, ctx, sel); got != want {
				t.Errorf("%s = %q, want %q", sel, got, want)
			}
		}
		// Sort by requests, fewest first: boss comes first.
		if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`#users th a[data-sort="requests"]`))); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`#users th a[data-sort="requests"]`))); err != nil {
			t.Fatal(err)
		}
		if got := text(t, ctx, `#users tbody tr:first-child td:first-child`); got != adminLogin {
			t.Errorf("fewest requests first: %q first, want %s", got, adminLogin)
		}
		screenshot(t, ctx, dir, "figures_adoption")
		// Filter by agent: only alice used codex.
		visit(t, ctx, d.admin.URL+"/admin/adoption?agent=codex_cli_rs")
		if n := count(t, ctx, "#users tr[data-name]"); n != 1 || text(t, ctx, `#users tr[data-name] td`) != userLogin {
			t.Errorf("agent filter: %d users", n)
		}
		// The CSV of the current filter.
		href := attr(t, ctx, "#csv", "href")
		resp, err := http.Get(d.admin.URL + href)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := csv.NewReader(resp.Body).ReadAll()
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(lines) != 2 || lines[1][1] != userLogin || lines[1][2] != "1" || lines[1][4] != "10" {
			t.Errorf("CSV of the codex filter = %v", lines)
		}
		// Each user links to their page, which an admin may open.
		visit(t, ctx, d.admin.URL+"/admin/adoption")
		if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`#users tr[data-name="alice@example.com"] a`))); err != nil {
			t.Fatal(err)
		}
		if got := text(t, ctx, `[data-card="requests"] .v`); got != "4" {
			t.Errorf("alice's page as admin shows %q requests", got)
		}
	})

	t.Run("activity", func(t *testing.T) {
		visit(t, ctx, d.admin.URL+"/admin/activity")
		for sel, want := range map[string]string{
			`#agents tr[data-name="claude-cli"] [data-col="requests"]`:   "3",
			`#agents tr[data-name="codex_cli_rs"] [data-col="requests"]`: "1",
			`#agents tr[data-name="curl"] [data-col="input"]`:            "1,000",
			`#models tr[data-name="gpt-5"] [data-col="requests"]`:        "4",
		} {
			if got := text(t, ctx, sel); got != want {
				t.Errorf("%s = %q, want %q", sel, got, want)
			}
		}
		if got := attr(t, ctx, "#active-users rect.bar:last-of-type", "data-value"); got != "2" {
			t.Errorf("active users today = %q, want 2", got)
		}
	})

	t.Run("all logs", func(t *testing.T) {
		visit(t, ctx, d.admin.URL+"/admin/logs")
		if n := count(t, ctx, "tr[data-id]"); n != len(traffic) {
			t.Errorf("all logs show %d requests, want %d", n, len(traffic))
		}
		visit(t, ctx, d.admin.URL+"/admin/logs?agent=curl")
		if n := count(t, ctx, "tr[data-id]"); n != 1 {
			t.Errorf("agent filter shows %d requests, want 1", n)
		}
		// An admin reads the saved bodies.
		if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`tr[data-id] a`))); err != nil {
			t.Fatal(err)
		}
		if got := text(t, ctx, "#body-request"); !strings.Contains(got, `"model": "gpt-5"`) {
			t.Errorf("admin's request body view: %q", got)
		}
		screenshot(t, ctx, dir, "figures_request_admin")
	})

	// Nothing the browser did was logged as an LLM request.
	page, err := d.store.Requests(context.Background(), store.Filter{}, store.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Records) != len(traffic) {
		for _, r := range page.Records {
			t.Logf("logged: %s %s %d", r.Method, r.Path, r.Status)
		}
		t.Errorf("%d requests logged, want the %d sent", len(page.Records), len(traffic))
	}
}

// TestNonAdminRefused: a user gets 403 on every admin URL and admin API,
// and cannot read another user's rows through the dashboard.
func TestNonAdminRefused(t *testing.T) {
	d := newDashboard(t)
	d.chat(t, d.admin, "gpt-5", 1, 1, "curl/8")
	d.flush(t)
	page, err := d.store.Requests(context.Background(), store.Filter{}, store.Page{})
	if err != nil || len(page.Records) != 1 {
		t.Fatalf("setup: %v, %d rows", err, len(page.Records))
	}
	bossRequest := page.Records[0].ID
	tests := []struct {
		method, path string
		want         int
	}{
		{"GET", "/admin", 403},
		{"GET", "/admin/", 403},
		{"GET", "/admin/adoption", 403},
		{"GET", "/admin/adoption?user=boss@example.com", 403},
		{"GET", "/admin/adoption.csv", 403},
		{"GET", "/admin/activity", 403},
		{"GET", "/admin/logs", 403},
		{"GET", "/admin/policy", 403},
		{"GET", "/admin/settings", 403},
		{"GET", "/admin/no-such-page", 403},
		{"POST", "/api/quotas/refill", 403},
		{"GET", "/api/requests?login=boss@example.com", 403},
		{"GET", "/debug/pprof/", 403},
		{"GET", "/metrics", 403},
		{"GET", "/ui/users/boss@example.com", 403},
		{"GET", "/ui/requests/" + bossRequest, 404},
		{"GET", "/ui/sessions/" + bossRequest, 200}, // scoped: an empty list
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, d.user.URL+tt.path, strings.NewReader(`{"bucket":"x","amount":"$1"}`))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("%d, want %d: %s", resp.StatusCode, tt.want, body)
			}
			if strings.Contains(string(body), adminLogin) && !strings.Contains(tt.path, adminLogin) {
				t.Errorf("the answer mentions the admin: %s", body)
			}
			if strings.Contains(string(body), "sk-secret") {
				t.Errorf("the answer holds the provider key")
			}
		})
	}
	// The same URLs answer the admin.
	for _, p := range []string{"/admin/adoption", "/admin/adoption.csv", "/admin/activity", "/admin/logs", "/ui/users/alice@example.com", "/ui/requests/" + bossRequest} {
		resp, err := http.Get(d.admin.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("admin %s: %d", p, resp.StatusCode)
		}
		if strings.Contains(string(body), "sk-secret") {
			t.Errorf("admin %s shows the provider key", p)
		}
	}
}

// TestBrowserRefusedRequest: a request policy refused shows, to its
// sender, that no grant allowed it and why.
func TestBrowserRefusedRequest(t *testing.T) {
	d := newDashboard(t)
	resp, err := http.Post(d.user.URL+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"claude-opus-4-1","messages":[{"role":"user","content":"hello"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Fatalf("a model no grant gives was answered %d", resp.StatusCode)
	}
	d.flush(t)
	page, err := d.store.Requests(context.Background(), store.Filter{}, store.Page{})
	if err != nil || len(page.Records) != 1 {
		t.Fatalf("%d rows, %v", len(page.Records), err)
	}
	rec := page.Records[0]
	ctx := newBrowser(t)
	visit(t, ctx, d.user.URL+"/ui/requests/"+rec.ID)
	if got := text(t, ctx, "#status"); !strings.HasPrefix(got, fmt.Sprint(resp.StatusCode)) {
		t.Errorf("status %q, want %d", got, resp.StatusCode)
	}
	if got := text(t, ctx, "#decision"); !strings.Contains(got, "No grant allowed this request") || !strings.Contains(got, rec.Error) || rec.Error == "" {
		t.Errorf("decision %q does not say why (%q)", got, rec.Error)
	}
	screenshot(t, ctx, screenshotDir(t), "figures_request_refused")
	// It counts on My usage as a failed request, not as tokens.
	visit(t, ctx, d.user.URL+"/ui/")
	if got := text(t, ctx, `[data-card="requests"] .v`); got != "1" {
		t.Errorf("requests card %q", got)
	}
	if got := text(t, ctx, `#recent tr.failed .status`); got != fmt.Sprint(resp.StatusCode) {
		t.Errorf("recent activity does not mark the refusal: %q", got)
	}
}
