package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
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

// settingsConfig is the configuration file of the Settings and Policy page
// tests: boss is admin, bob may use claude models only.
const settingsConfig = `// The gateway of the Settings page tests.
{
	"providers": {
		"openai": {"baseurl": "UPSTREAM", "apikey": "sk-secret-never-shown", "models": ["gpt-5"]},
		"anthropic": {"baseurl": "UPSTREAM", "apikey": "sk-ant-secret-never-shown", "models": ["claude-sonnet-4-5"]},
	},
	"temp_grants": [
		// Admins.
		{"src": ["boss@example.com"], "grants": [{"role": "admin"}]},
		{"src": ["*"], "grants": [{"role": "user"}]},
		{"src": ["bob@example.com"], "grants": [{"providers": [{"provider": "anthropic", "model": "claude-*"}]}]},
	],
}
`

// configSite is one gateway serving its configuration from a file, with
// two front doors: the admin's (boss) and a user's (bob). Both reach the
// same server, so a save through the admin's door changes what bob may do.
type configSite struct {
	admin, user *httptest.Server
	srv         *proxy.Server
	file        string
	store       store.Store
	writer      *store.Writer
}

func newConfigSite(t *testing.T) *configSite {
	t.Helper()
	up := proxytest.NewUpstream(t)
	up.HandleAll(proxytest.Reply{ContentType: "application/json", Body: []byte(
		`{"id":"c","object":"chat.completion","model":"gpt-5","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`)})
	dir := t.TempDir()
	file := filepath.Join(dir, "sluice.hujson")
	text := strings.ReplaceAll(settingsConfig, "UPSTREAM", up.URL)
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := policy.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), filepath.Join(dir, "sluice.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w := store.NewWriter(st, store.WriterOptions{FlushInterval: 10 * time.Millisecond})
	t.Cleanup(func() { _ = w.Close(context.Background()) })

	site := &configSite{file: file, store: st, writer: w}
	var adminAddr string
	// The caller is told by the front door the request came through.
	who := identity.ResolverFunc(func(r *http.Request) (identity.Identity, error) {
		addr, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		if addr != nil && addr.String() == adminAddr {
			return identity.Identity{Login: "boss@example.com"}, nil
		}
		return identity.Identity{Login: "bob@example.com"}, nil
	})
	site.srv, err = proxy.New(context.Background(), cfg, proxy.Options{Identity: who, Sink: w, Store: st, ConfigFile: file})
	if err != nil {
		t.Fatal(err)
	}
	site.admin, site.user = httptest.NewServer(site.srv), httptest.NewServer(site.srv)
	t.Cleanup(site.admin.Close)
	t.Cleanup(site.user.Close)
	adminAddr = site.admin.Listener.Addr().String()
	return site
}

// bobChat sends a chat completion for model as bob and returns the status.
func (s *configSite) bobChat(t *testing.T, model string) int {
	t.Helper()
	resp, err := http.Post(s.user.URL+"/v1/chat/completions", "application/json",
		strings.NewReader(fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hi"}]}`, model)))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func (s *configSite) fileText(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(s.file)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// run runs browser actions, failing the test with what on error.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// edit replaces the editor's text as typing would, firing its input event.
func edit(text string) chromedp.Action[chromedp.Void] {
	js, _ := json.Marshal(text)
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`(() => { const ta = document.getElementById("config"); ta.value = %s; ta.dispatchEvent(new Event("input")); })()`, js))
}

// waitFor polls a JavaScript predicate, generously for a busy machine.
func waitFor(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(60*time.Second))
}

// lineCol is the 1-based line and column where needle starts in text.
func lineCol(t *testing.T, text, needle string) (int, int) {
	t.Helper()
	i := strings.Index(text, needle)
	if i < 0 {
		t.Fatalf("%q not in the text", needle)
	}
	return strings.Count(text[:i], "\n") + 1, i - strings.LastIndex(text[:i], "\n")
}

// TestBrowserSettingsSave edits the configuration in the Settings page: a
// save makes bob's denied request pass; a broken configuration shows its
// problems at their line and column and changes nothing; a change made
// behind the page's back is reported as a conflict, not overwritten.
func TestBrowserSettingsSave(t *testing.T) {
	site := newConfigSite(t)
	ctx := newBrowser(t)
	dir := screenshotDir(t)
	if got := site.bobChat(t, "gpt-5"); got != http.StatusForbidden {
		t.Fatalf("before: bob got %d for gpt-5, want 403", got)
	}
	original := site.fileText(t)

	if st := visit(t, ctx, site.admin.URL+"/admin/settings"); st != http.StatusOK {
		t.Fatalf("/admin/settings: %d", st)
	}
	run(t, ctx, "first check", waitFor(`document.getElementById("settings").dataset.problems === "0"`))
	if got := text(t, ctx, "#config-file"); got != site.file {
		t.Errorf("file shown %q, want %q", got, site.file)
	}
	if n := count(t, ctx, "#gutter span"); n != strings.Count(original, "\n")+1 {
		t.Errorf("%d line numbers, want %d", n, strings.Count(original, "\n")+1)
	}
	screenshot(t, ctx, dir, "admin_settings")

	t.Run("broken configuration", func(t *testing.T) {
		broken := strings.Replace(original, `{"role": "user"}`, `{"role": "superuser"}`, 1)
		line, col := lineCol(t, broken, `"superuser"`)
		run(t, ctx, "type a bad role", edit(broken),
			waitFor(`document.getElementById("settings").dataset.problems === "1"`))
		sel := fmt.Sprintf(`#problems li.bad[data-line="%d"][data-col="%d"]`, line, col)
		if got := text(t, ctx, sel); !strings.Contains(got, `unknown role "superuser"`) || !strings.Contains(got, fmt.Sprintf("%d:%d", line, col)) {
			t.Errorf("problem at %d:%d reads %q", line, col, got)
		}
		if n := count(t, ctx, fmt.Sprintf(`#gutter span.bad:nth-child(%d)`, line)); n != 1 {
			t.Errorf("line %d is not marked in the gutter", line)
		}
		run(t, ctx, "save it", chromedp.Click("#save"), waitFor(`!document.getElementById("banner").hidden`))
		if got := text(t, ctx, "#banner"); !strings.Contains(got, "Not saved") {
			t.Errorf("banner %q, want a refusal", got)
		}
		screenshot(t, ctx, dir, "admin_settings_problems")
		if site.fileText(t) != original {
			t.Error("a refused configuration was written")
		}
		if got := site.bobChat(t, "gpt-5"); got != http.StatusForbidden {
			t.Errorf("after the refusal bob got %d for gpt-5, want 403 still", got)
		}
	})

	t.Run("save applies", func(t *testing.T) {
		granted := strings.Replace(original, `{"provider": "anthropic", "model": "claude-*"}`, `{"provider": "*", "model": "*"}`, 1)
		run(t, ctx, "grant bob every model", edit(granted),
			waitFor(`document.getElementById("settings").dataset.problems === "0"`),
			chromedp.Click("#save"),
			waitFor(`!document.getElementById("banner").hidden`))
		if got := text(t, ctx, "#banner"); !strings.Contains(got, "Saved and applied") {
			t.Fatalf("banner %q, want saved", got)
		}
		screenshot(t, ctx, dir, "admin_settings_saved")
		if got := site.fileText(t); got != granted {
			t.Errorf("the file holds\n%s\nwant what was saved\n%s", got, granted)
		}
		if got := site.bobChat(t, "gpt-5"); got != http.StatusOK {
			t.Errorf("after the save bob got %d for gpt-5, want 200", got)
		}
	})

	t.Run("conflict", func(t *testing.T) {
		behind := site.fileText(t) + "// edited on disk\n"
		if err := os.WriteFile(site.file, []byte(behind), 0o600); err != nil {
			t.Fatal(err)
		}
		mine := strings.Replace(site.fileText(t), "// Admins.", "// Admins, edited in the page.", 1)
		run(t, ctx, "save over a changed file", edit(mine), chromedp.Click("#save"),
			waitFor(`document.getElementById("banner").classList.contains("conflict")`))
		if got := text(t, ctx, "#banner"); !strings.Contains(got, "changed since you opened it") {
			t.Errorf("banner %q, want the conflict explained", got)
		}
		run(t, ctx, "the conflict's diff", waitFor(`document.getElementById("conflict-diff") !== null`))
		diff := text(t, ctx, "#conflict-diff")
		if !strings.Contains(diff, "- // Admins.") || !strings.Contains(diff, "+ // Admins, edited in the page.") {
			t.Errorf("the conflict's diff reads %q, want the file's line removed and mine added", diff)
		}
		screenshot(t, ctx, dir, "admin_settings_conflict")
		if site.fileText(t) != behind {
			t.Error("the change made on disk was overwritten")
		}
		run(t, ctx, "load the current version", chromedp.Click("#load-current"),
			waitFor(`document.getElementById("config").value.endsWith("// edited on disk\n")`))
	})
}

// TestBrowserPolicyTry: the Policy page decides a request and says why,
// explains a logged one, and shows the compiled Rego; none of it is open to
// a user.
func TestBrowserPolicyTry(t *testing.T) {
	site := newConfigSite(t)
	if got := site.bobChat(t, "gpt-5"); got != http.StatusForbidden {
		t.Fatalf("bob got %d for gpt-5, want 403", got)
	}
	ctx := newBrowser(t)
	dir := screenshotDir(t)

	if st := visit(t, ctx, site.admin.URL+"/admin/policy"); st != http.StatusOK {
		t.Fatalf("/admin/policy: %d", st)
	}
	if got := text(t, ctx, "#revision"); got == "" {
		t.Error("no policy revision shown")
	}
	if got := text(t, ctx, "details.module pre.rego"); !strings.Contains(got, "package sluice.grants") {
		t.Errorf("the first module shown is not the generated grants: %.200s", got)
	}
	if n := count(t, ctx, `a#bundle[href="/api/policy/bundle"]`); n != 1 {
		t.Error("no bundle download link")
	}

	tests := []struct {
		name, user, model string
		allow             bool
		why               string
	}{
		{"bob denied gpt-5", "bob@example.com", "gpt-5", false, `bob@example.com may not use model "gpt-5"`},
		{"bob allowed claude", "bob@example.com", "claude-sonnet-4-5", true, "temp_grants[2].grants[0]"},
		{"stranger has a role but no model", "eve@example.com", "claude-sonnet-4-5", false, "no provider grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run(t, ctx, "fill the form",
				chromedp.Navigate(site.admin.URL+"/admin/policy"),
				chromedp.SetValue("#try-user", tt.user),
				chromedp.SetValue("#try-model", tt.model),
				chromedp.Click("#try-submit"),
				chromedp.WaitVisible("#verdict"))
			allow, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("verdict").dataset.allow`))
			if err != nil {
				t.Fatal(err)
			}
			if allow != fmt.Sprint(tt.allow) {
				t.Errorf("verdict allow=%s, want %v", allow, tt.allow)
			}
			if got := text(t, ctx, "#why"); !strings.Contains(got, tt.why) {
				t.Errorf("why: %q, want %q in it", got, tt.why)
			}
			if !strings.Contains(location(t, ctx), "model="+tt.model) {
				t.Errorf("the decision's URL %s does not carry the query", location(t, ctx))
			}
			screenshot(t, ctx, dir, "admin_policy_"+strings.ReplaceAll(tt.name, " ", "_"))
		})
	}

	t.Run("a grant's place opens the editor at its line", func(t *testing.T) {
		visit(t, ctx, site.admin.URL+"/admin/policy?user=bob@example.com&model=claude-sonnet-4-5")
		href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#why a.pos").getAttribute("href")`))
		if err != nil {
			t.Fatal(err)
		}
		line, _ := lineCol(t, site.fileText(t), `{"providers": [{"provider": "anthropic"`)
		if want := fmt.Sprintf("/admin/settings#L%d", line); href != want {
			t.Fatalf("the allowing grant links to %q, want %q", href, want)
		}
		visit(t, ctx, site.admin.URL+href)
		run(t, ctx, "the editor is ready", waitFor(`document.getElementById("settings").dataset.problems === "0"`))
		at, err := chromedp.Run(ctx, chromedp.Evaluate[int](
			`(() => { const ta = document.getElementById("config"); return ta.value.slice(0, ta.selectionStart).split("\n").length; })()`))
		if err != nil || at != line {
			t.Errorf("the caret is on line %d (%v), want %d", at, err, line)
		}
	})

	t.Run("explain a logged request", func(t *testing.T) {
		ctxW, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := site.writer.Flush(ctxW); err != nil {
			t.Fatal(err)
		}
		page, err := site.store.Requests(context.Background(), store.Filter{Login: "bob@example.com"}, store.Page{Limit: 1})
		if err != nil || len(page.Records) != 1 {
			t.Fatalf("bob's request is not logged: %v %d", err, len(page.Records))
		}
		id := page.Records[0].ID
		// The request's own page links an admin to the explanation.
		if st := visit(t, ctx, site.admin.URL+"/ui/requests/"+id); st != http.StatusOK {
			t.Fatalf("request page %s: %d", id, st)
		}
		if href := attr(t, ctx, "#explain-link", "href"); !strings.HasSuffix(href, "/admin/policy/explain/"+id) {
			t.Errorf("explain link %q, want the request's explanation", href)
		}
		if st := visit(t, ctx, site.admin.URL+"/admin/policy/explain?id="+id); st != http.StatusOK {
			t.Fatalf("explain %s: %d", id, st)
		}
		if !strings.HasSuffix(location(t, ctx), "/admin/policy/explain/"+id) {
			t.Errorf("the form went to %s", location(t, ctx))
		}
		if got := text(t, ctx, "#logged-login"); got != "bob@example.com" {
			t.Errorf("logged caller %q", got)
		}
		if got := text(t, ctx, "#verdict .word"); got != "Denied" {
			t.Errorf("verdict %q, want Denied", got)
		}
		if n := count(t, ctx, "#revision-same"); n != 1 {
			t.Error("the page does not say the deciding policy is still the running one")
		}
		screenshot(t, ctx, dir, "admin_policy_explain")
	})

	t.Run("not for users", func(t *testing.T) {
		for _, p := range []string{"/admin/policy", "/admin/settings", "/admin/policy/explain/x", "/api/config", "/api/policy/bundle"} {
			if st := visit(t, ctx, site.user.URL+p); st != http.StatusForbidden {
				t.Errorf("%s as a user: %d, want 403", p, st)
			}
		}
		visit(t, ctx, site.user.URL+"/ui/")
		if n := count(t, ctx, `a[href="/admin/policy"], a[href="/admin/settings"]`); n != 0 {
			t.Errorf("a user's page links to the Policy or Settings page %d times", n)
		}
	})
}

// TestBrowserAccessMatrix: the matrix page shows who may use what, and a
// draft pasted there shows who would gain and lose, saving nothing.
func TestBrowserAccessMatrix(t *testing.T) {
	site := newConfigSite(t)
	ctx := newBrowser(t)
	dir := screenshotDir(t)

	if st := visit(t, ctx, site.admin.URL+"/admin/policy"); st != http.StatusOK {
		t.Fatalf("/admin/policy: %d", st)
	}
	if href := attr(t, ctx, "#matrix-page-link", "href"); href != "/admin/policy/matrix" {
		t.Errorf("the Policy page links the matrix as %q", href)
	}
	if st := visit(t, ctx, site.admin.URL+"/admin/policy/matrix"); st != http.StatusOK {
		t.Fatalf("/admin/policy/matrix: %d", st)
	}
	row := func(class, cell string) string {
		return text(t, ctx, fmt.Sprintf(`tr.matrix-class[data-class=%q] td.%s`, class, cell))
	}
	if got := row("bob@example.com", "matrix-allowed"); got != "anthropic/claude-sonnet-4-5" {
		t.Errorf("bob may use %q, want only claude", got)
	}
	if got := row("boss@example.com", "matrix-role"); got != "admin" {
		t.Errorf("boss's role %q", got)
	}
	if got := row("anyone else", "matrix-allowed"); got != "nothing" {
		t.Errorf("anyone else may use %q", got)
	}
	screenshot(t, ctx, dir, "admin_policy_matrix")

	before, err := os.ReadFile(site.file)
	if err != nil {
		t.Fatal(err)
	}
	draft := strings.Replace(string(before), `{"provider": "anthropic", "model": "claude-*"}`, `{"provider": "*", "model": "*"}`, 1)
	js, _ := json.Marshal(draft)
	run(t, ctx, "compare a draft",
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.getElementById("draft").value = %s`, js)),
		chromedp.Click("#compare"),
		waitFor(`document.querySelector("#diff-result tr.diff-class") !== null || document.querySelector("#diff-result .error, #diff-result .ok") !== null`))
	if n := count(t, ctx, "#diff-result tr.diff-class"); n == 0 {
		t.Fatalf("no change listed: %s", text(t, ctx, "#diff-result"))
	}
	if got := text(t, ctx, `#diff-result tr.diff-class[data-class="bob@example.com"] td.diff-gains`); got != "openai/gpt-5" {
		t.Errorf("bob would gain %q, want openai/gpt-5", got)
	}
	screenshot(t, ctx, dir, "admin_policy_matrix_diff")
	after, _ := os.ReadFile(site.file)
	if string(after) != string(before) {
		t.Error("comparing a draft changed the configuration file")
	}
	if got := site.bobChat(t, "gpt-5"); got != http.StatusForbidden {
		t.Errorf("bob got %d for gpt-5 after a comparison, want 403 still", got)
	}

	for _, p := range []string{"/admin/policy/matrix", "/api/policy/matrix"} {
		if st := visit(t, ctx, site.user.URL+p); st != http.StatusForbidden {
			t.Errorf("a user got %d for %s, want 403", st, p)
		}
	}
}
