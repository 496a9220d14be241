package ui_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy"
	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
	"github.com/sluice-gateway/sluice/store"
)

// Logins of the test gateway: a user and an admin.
const (
	userLogin  = "alice@example.com"
	adminLogin = "boss@example.com"
)

const dashboardConfig = `{
	"database": {"save_raws": true},
	"providers": {
		"openai": {"baseurl": "UPSTREAM", "apikey": "sk-secret-never-shown", "models": ["gpt-5", "gpt-5-mini"]},
		"anthropic": {"baseurl": "UPSTREAM", "apikey": "sk-secret-never-shown", "models": ["claude-opus-4-1"]},
	},
	"temp_grants": [
		{"src": ["boss@example.com"], "grants": [{"role": "admin"}]},
		{"src": ["*"], "grants": [{"role": "user"}, {"providers": [{"provider": "openai", "model": "*"}]}, {"quotas": [{"bucket": "daily:<user>"}]}]},
	],
	"quotas": {"daily:<user>": {"capacity": "$10.00", "rate": "$10.00/day"}},
}`

// dashboard is a gateway recording into a real SQLite log, reachable as
// the user and as the admin (two front doors onto one log: each serves one
// identity, as `sluice serve --local-user` does).
type dashboard struct {
	user, admin *httptest.Server
	upstream    *proxytest.Upstream
	store       store.Store
	writer      *store.Writer
	cfg         *policy.Config
}

func newDashboard(t *testing.T) *dashboard {
	t.Helper()
	up := proxytest.NewUpstream(t)
	cfg, err := policy.Parse("test.hujson", []byte(strings.ReplaceAll(dashboardConfig, "UPSTREAM", up.URL)), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "sluice.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w := store.NewWriter(st, store.WriterOptions{FlushInterval: 10 * time.Millisecond})
	t.Cleanup(func() { _ = w.Close(context.Background()) })
	d := &dashboard{upstream: up, store: st, writer: w, cfg: cfg}
	serve := func(login string) *httptest.Server {
		srv, err := proxy.New(context.Background(), cfg, proxy.Options{Identity: identity.Local(login), Sink: w, Store: st})
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(srv)
		t.Cleanup(hs.Close)
		return hs
	}
	d.user, d.admin = serve(userLogin), serve(adminLogin)
	return d
}

// chat sends one chat completion through gw as its login; the upstream
// answers with the given token counts.
func (d *dashboard) chat(t *testing.T, gw *httptest.Server, model string, in, out int, agent string) {
	t.Helper()
	d.upstream.Handle("/v1/chat/completions", proxytest.Reply{ContentType: "application/json", Body: []byte(fmt.Sprintf(
		`{"id":"c","object":"chat.completion","model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`,
		model, in, out, in+out))})
	req, _ := http.NewRequest(http.MethodPost, gw.URL+"/v1/chat/completions", strings.NewReader(fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hello"}]}`, model)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", agent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("chat as %s: %d %s", gw.URL, resp.StatusCode, body)
	}
}

// flush waits until every request sent is in the log.
func (d *dashboard) flush(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.writer.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// browserPath finds a Chromium or Chrome to drive. Without one the test is
// skipped, unless SLUICE_TEST_REQUIRE_BROWSER=1 makes that a failure.
func browserPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "no Chromium found on PATH (chromium, chromium-browser, google-chrome): install the chromium package to run the browser tests"
	if os.Getenv("SLUICE_TEST_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// newBrowser starts a headless browser for the test and returns a tab.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browserPath(t)),
		chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	// Generous: the machine running the tests may be busy.
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancelT)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", browserPath(t), err)
	}
	return ctx
}

// screenshotDir is where page screenshots go: $SLUICE_SCREENSHOTS when
// set (kept after the test), else a temporary directory.
func screenshotDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("SLUICE_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// screenshot saves the whole page as dir/name.png.
func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// visit opens url and returns the status code of the page.
func visit(t *testing.T, ctx context.Context, url string) int {
	t.Helper()
	resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(url))
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	if resp == nil {
		t.Fatalf("open %s: no response", url)
	}
	return int(resp.Status)
}

// text returns the text of the first element matching sel, "" if none.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.Join(strings.Fields(out), " ")
}

// count returns how many elements match sel.
func count(t *testing.T, ctx context.Context, sel string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// location is the URL the tab shows.
func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	u, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// attr returns attribute name of the first element matching sel.
func attr(t *testing.T, ctx context.Context, sel, name string) string {
	t.Helper()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`((document.querySelector(%q) || {getAttribute: () => ""}).getAttribute(%q)) || ""`, sel, name)))
	if err != nil {
		t.Fatalf("attribute %s of %s: %v", name, sel, err)
	}
	return out
}
