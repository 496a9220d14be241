package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/proxy/proxytest"
	"github.com/sluice-gateway/sluice/store"
)

// configAPIText is the configuration file of the config API tests: boss is
// admin, alice may use every model, bob only claude models. Its comments
// must survive a save.
const configAPIText = `// The gateway of the config API tests.
{
	"providers": {
		"openai": {"baseurl": "UPSTREAM", "apikey": "sk-secret-openai-key", "models": ["gpt-5"],
			"name": "OpenAI", "description": "the OpenAI API"},
		"anthropic": {"baseurl": "UPSTREAM/anth/", "apikey": "sk-secret-anthropic-key", "authorization": "x-api-key",
			"models": ["claude-sonnet-4-5"], "compatibility": {"openai_chat": false, "anthropic_messages": true}},
	},
	"temp_grants": [
		// Admins.
		{"src": ["boss@example.com"], "grants": [{"role": "admin"}, {"providers": [{"provider": "*", "model": "*"}]}]},
		{"src": ["*"], "grants": [{"role": "user"}]},
		{"src": ["alice@example.com", "tag:ci"], "grants": [{"providers": [{"provider": "*", "model": "*"}]}]},
		{"src": ["bob@example.com"], "grants": [{"providers": [{"provider": "anthropic", "model": "claude-*"}]}]},
	],
}
`

// configGateway is a gateway serving configAPIText from a file, with a
// request log; callers are named by the Tailscale-User-Login header.
type configGateway struct {
	*gateway
	file  string
	store store.Store
}

func newConfigGateway(t *testing.T) *configGateway {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(dir, "sluice.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	file := filepath.Join(dir, "sluice.hujson")
	cg := &configGateway{file: file, store: st}
	cg.gateway = newGateway(t, configAPIText, "", func(o *Options) {
		o.Identity = identity.TrustedHeaders(identity.HeaderTrust{})
		o.Store = st
		o.ConfigFile = file
	})
	cg.upstream.HandleAll(proxytest.Reply{ContentType: "application/json", Body: []byte(chatJSON)})
	// The file holds what the gateway loaded, the upstream's URL included.
	if err := os.WriteFile(file, cg.srv.Config().Raw, 0o640); err != nil {
		t.Fatal(err)
	}
	return cg
}

// text is configAPIText as the gateway serves it, with edit applied.
func (cg *configGateway) text(edit func(string) string) string {
	s := string(cg.srv.Config().Raw)
	if edit != nil {
		s = edit(s)
	}
	return s
}

// call sends a request to the gateway's own endpoints as login (none when
// empty) and returns the status and body.
func call(t *testing.T, h http.Handler, login, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	r := httptest.NewRequest(method, path, rd)
	r.RemoteAddr = "127.0.0.1:40000"
	if login != "" {
		r.Header.Set(identity.HeaderUserLogin, login)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.Bytes()
}

func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	return v
}

func sha(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])
}

// chatAs sends a chat completion for model as login through the gateway
// and returns the status.
func (cg *configGateway) chatAs(t *testing.T, login, model string) int {
	t.Helper()
	resp, _ := post(t, cg.URL+"/v1/chat/completions", map[string]string{identity.HeaderUserLogin: login},
		`{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`)
	return resp.StatusCode
}

// posOf is the 1-based line and column where needle starts in text.
func posOf(t *testing.T, text, needle string) (int, int) {
	t.Helper()
	i := strings.Index(text, needle)
	if i < 0 {
		t.Fatalf("%q not in the text", needle)
	}
	line := strings.Count(text[:i], "\n") + 1
	return line, i - strings.LastIndex(text[:i], "\n")
}

// TestAdminAPIForbidden: every endpoint of the config and policy API
// refuses non-admins and unidentified callers with 403, and admins get
// through.
func TestAdminAPIForbidden(t *testing.T) {
	cg := newConfigGateway(t)
	endpoints := []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/config", nil},
		{"PUT", "/api/config", map[string]string{"config": "{}", "hash": "x"}},
		{"POST", "/api/config/validate", map[string]string{"config": "{}"}},
		{"GET", "/api/providers", nil},
		{"POST", "/api/policy/try", map[string]any{"user": "a@example.com", "model": "gpt-5"}},
		{"GET", "/api/policy/explain/nope", nil},
		{"GET", "/api/policy/modules", nil},
		{"GET", "/api/policy/bundle", nil},
	}
	for _, e := range endpoints {
		for _, tt := range []struct {
			who  string
			want int
		}{{"dev@example.com", 403}, {"", 403}, {"boss@example.com", 0}} {
			t.Run(e.method+" "+e.path+" as "+tt.who, func(t *testing.T) {
				code, body := call(t, cg.srv, tt.who, e.method, e.path, e.body)
				if tt.want == 0 {
					if code == 403 || code == 401 {
						t.Fatalf("admin got %d: %s", code, body)
					}
					return
				}
				if code != tt.want {
					t.Fatalf("got %d %s, want %d", code, body, tt.want)
				}
				if bytes.Contains(body, []byte("sk-secret")) {
					t.Errorf("a refusal carries a provider key: %s", body)
				}
			})
		}
	}
}

// TestConfigGet: the file's text as written, comments included, with its
// hash; the embedded default is shown but marked as no file.
func TestConfigGet(t *testing.T) {
	cg := newConfigGateway(t)
	code, body := call(t, cg.srv, "boss@example.com", "GET", "/api/config", nil)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	got := decode[configJSON](t, body)
	disk, _ := os.ReadFile(cg.file)
	want := configJSON{Config: string(disk), Exists: true, Hash: sha(string(disk)), File: cg.file, Editable: true, Running: true}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("GET /api/config (-want +got):\n%s", d)
	}
	if !strings.Contains(got.Config, "// Admins.") {
		t.Error("comments are missing from the text")
	}
	// An edit on disk not yet reloaded: shown, and flagged as not running.
	if err := os.WriteFile(cg.file, append(disk, '\n'), 0o640); err != nil {
		t.Fatal(err)
	}
	_, body = call(t, cg.srv, "boss@example.com", "GET", "/api/config", nil)
	if got := decode[configJSON](t, body); got.Running || got.Hash != sha(string(disk)+"\n") {
		t.Errorf("after an edit on disk: running %v, hash %s; want false and the new text's hash", got.Running, got.Hash)
	}

	def := newGateway(t, string(policy.DefaultHuJSON), "me@example.com")
	code, body = call(t, def.srv, "", "GET", "/api/config", nil)
	if code != 200 {
		t.Fatalf("default: %d %s", code, body)
	}
	got = decode[configJSON](t, body)
	if got.Exists || got.Editable || got.Config != string(policy.DefaultHuJSON) || got.Hash != sha(got.Config) {
		t.Errorf("default: exists %v editable %v hash %s, want the default's text, not a file", got.Exists, got.Editable, got.Hash)
	}
}

// TestConfigPut saves configurations through the API: a good one is
// written to the file as sent and takes effect at once; every refusal
// changes neither the file nor the running policy.
func TestConfigPut(t *testing.T) {
	type want struct {
		code     int
		errCode  string
		problems []string // "line:col code" of each problem, or "code" when it has no place
	}
	tests := []struct {
		name string
		edit func(string) string
		hash func(cg *configGateway) string
		want want
		// bobGPT is what bob gets asking for gpt-5 afterwards.
		bobGPT int
	}{
		{
			name: "grant bob gpt-5",
			edit: func(s string) string {
				return strings.Replace(s, `{"provider": "anthropic", "model": "claude-*"}`, `{"provider": "*", "model": "*"}`, 1)
			},
			want:   want{code: 200},
			bobGPT: 200,
		},
		{
			name: "stale hash",
			edit: func(s string) string {
				return strings.Replace(s, `{"provider": "anthropic", "model": "claude-*"}`, `{"provider": "*", "model": "*"}`, 1)
			},
			hash:   func(*configGateway) string { return sha("something else") },
			want:   want{code: 409, errCode: codeStaleHash},
			bobGPT: 403,
		},
		{
			name: "unknown role and bad fail_policy",
			edit: func(s string) string {
				s = strings.Replace(s, `{"role": "user"}`, `{"role": "superuser"}`, 1)
				return strings.Replace(s, `"temp_grants"`, `"hooks": {"h": {"url": "http://127.0.0.1:9", "fail_policy": "sometimes"}},`+"\n\t"+`"temp_grants"`, 1)
			},
			want:   want{code: 422, errCode: codeInvalid, problems: []string{`"sometimes" bad_fail_policy`, `"superuser" bad_role`}},
			bobGPT: 403,
		},
		{
			name:   "syntax error",
			edit:   func(s string) string { return strings.Replace(s, `"temp_grants": [`, `"temp_grants": [[`, 1) },
			want:   want{code: 422, errCode: codeInvalid, problems: []string{"syntax"}},
			bobGPT: 403,
		},
		{
			name:   "saver loses admin",
			edit:   func(s string) string { return strings.Replace(s, `{"role": "admin"}`, `{"role": "user"}`, 1) },
			want:   want{code: 422, errCode: codeAdminLockout, problems: []string{codeAdminLockout}},
			bobGPT: 403,
		},
		{
			name: "needs a restart",
			edit: func(s string) string {
				return strings.Replace(s, `"providers": {`, `"database": {"keep_encrypted_blobs": true}, "providers": {`, 1)
			},
			want:   want{code: 409, errCode: codeRestartRequired, problems: []string{codeRestartRequired}},
			bobGPT: 403,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cg := newConfigGateway(t)
			before, _ := os.ReadFile(cg.file)
			beforeCfg := cg.srv.Config()
			if got := cg.chatAs(t, "bob@example.com", "gpt-5"); got != 403 {
				t.Fatalf("before: bob got %d for gpt-5, want 403", got)
			}
			text := cg.text(tt.edit)
			hash := sha(string(before))
			if tt.hash != nil {
				hash = tt.hash(cg)
			}
			code, body := call(t, cg.srv, "boss@example.com", "PUT", "/api/config", map[string]string{"config": text, "hash": hash})
			if code != tt.want.code {
				t.Fatalf("PUT got %d %s, want %d", code, body, tt.want.code)
			}
			after, _ := os.ReadFile(cg.file)
			if code == 200 {
				got := decode[map[string]any](t, body)
				if got["success"] != true || got["new_hash"] != sha(text) {
					t.Errorf("answer %s, want success and the new text's hash", body)
				}
				if string(after) != text {
					t.Errorf("the file holds\n%s\nwant the text saved\n%s", after, text)
				}
				if fi, _ := os.Stat(cg.file); fi.Mode().Perm() != 0o640 {
					t.Errorf("file mode %v, want 0640 kept", fi.Mode().Perm())
				}
				if string(cg.srv.Config().Raw) != text {
					t.Error("the running configuration is not the text saved")
				}
			} else {
				e := decode[configError](t, body)
				if e.Code != tt.want.errCode || e.Error == "" {
					t.Errorf("error %q code %q, want code %q", e.Error, e.Code, tt.want.errCode)
				}
				var got []string
				for _, p := range e.Problems {
					if p.Line == 0 {
						got = append(got, p.Code)
						continue
					}
					got = append(got, p.Code)
					if p.Message == "" || !strings.Contains(p.Text, p.Message) {
						t.Errorf("problem %+v: want a message and a text", p)
					}
				}
				var wantCodes []string
				for _, w := range tt.want.problems {
					needle, code, located := strings.Cut(w, " ")
					if !located {
						wantCodes = append(wantCodes, needle)
						continue
					}
					wantCodes = append(wantCodes, code)
					line, col := posOf(t, text, needle)
					if !hasProblemAt(e.Problems, code, line, col) {
						t.Errorf("no %s problem at %d:%d in %+v", code, line, col, e.Problems)
					}
				}
				if d := cmp.Diff(wantCodes, got); tt.want.problems != nil && d != "" {
					t.Errorf("problem codes (-want +got):\n%s", d)
				}
				if tt.want.errCode == codeStaleHash && e.Hash != sha(string(before)) {
					t.Errorf("stale hash answer carries %q, want the current hash", e.Hash)
				}
				if !bytes.Equal(after, before) {
					t.Errorf("a refused save changed the file:\n%s", after)
				}
				if cg.srv.Config() != beforeCfg {
					t.Error("a refused save replaced the running configuration")
				}
			}
			if got := cg.chatAs(t, "bob@example.com", "gpt-5"); got != tt.bobGPT {
				t.Errorf("after: bob got %d for gpt-5, want %d", got, tt.bobGPT)
			}
		})
	}
}

// putOK saves text as login and fails the test unless it was applied.
func (cg *configGateway) putOK(t *testing.T, login, text string) {
	t.Helper()
	disk, _ := os.ReadFile(cg.file)
	code, body := call(t, cg.srv, login, "PUT", "/api/config", map[string]string{"config": text, "hash": sha(string(disk))})
	if code != 200 {
		t.Fatalf("PUT: %d %s", code, body)
	}
}

func hasProblemAt(ps []Problem, code string, line, col int) bool {
	for _, p := range ps {
		if p.Code == code && p.Line == line && p.Col == col {
			return true
		}
	}
	return false
}

// TestConfigPutByOtherAdmin: the lockout check is about the saver only:
// an admin may take the role away from another, and the change applies at
// once.
func TestConfigPutByOtherAdmin(t *testing.T) {
	cg := newConfigGateway(t)
	cg.putOK(t, "boss@example.com", cg.text(func(s string) string {
		return strings.Replace(s, `"src": ["boss@example.com"]`, `"src": ["boss@example.com", "root@example.com"]`, 1)
	}))
	cg.putOK(t, "root@example.com", cg.text(func(s string) string {
		return strings.Replace(s, `{"src": ["boss@example.com", "root@example.com"], "grants": [{"role": "admin"}`,
			`{"src": ["root@example.com"], "grants": [{"role": "admin"}`, 1) + "\n// boss is no admin now\n"
	}))
	if code, _ := call(t, cg.srv, "boss@example.com", "GET", "/api/config", nil); code != 403 {
		t.Errorf("boss, no longer admin, got %d on GET /api/config, want 403", code)
	}
	if code, _ := call(t, cg.srv, "root@example.com", "GET", "/api/config", nil); code != 200 {
		t.Errorf("root lost admin")
	}
}

// TestConfigPutTwice: two admins edit the same text; the second save is
// refused as stale and keeps the first one's change.
func TestConfigPutTwice(t *testing.T) {
	cg := newConfigGateway(t)
	_, body := call(t, cg.srv, "boss@example.com", "GET", "/api/config", nil)
	read := decode[configJSON](t, body)
	first := strings.Replace(read.Config, `{"provider": "anthropic", "model": "claude-*"}`, `{"provider": "*", "model": "*"}`, 1)
	second := strings.Replace(read.Config, `"alice@example.com", `, ``, 1)
	if code, body := call(t, cg.srv, "boss@example.com", "PUT", "/api/config", map[string]string{"config": first, "hash": read.Hash}); code != 200 {
		t.Fatalf("first save: %d %s", code, body)
	}
	code, body := call(t, cg.srv, "boss@example.com", "PUT", "/api/config", map[string]string{"config": second, "hash": read.Hash})
	if code != 409 || decode[configError](t, body).Hash != sha(first) {
		t.Fatalf("second save: %d %s, want 409 with the first save's hash", code, body)
	}
	if disk, _ := os.ReadFile(cg.file); string(disk) != first {
		t.Error("the file lost the first save")
	}
	// Saving the same text again is accepted and changes nothing.
	code, body = call(t, cg.srv, "boss@example.com", "PUT", "/api/config", map[string]string{"config": first, "hash": sha(first)})
	if code != 200 || decode[map[string]any](t, body)["unchanged"] != true {
		t.Errorf("same text again: %d %s, want 200 unchanged", code, body)
	}
}

// TestConfigPutRefusals: what cannot be saved for want of a file, or
// because the file cannot be written, changes nothing.
func TestConfigPutRefusals(t *testing.T) {
	t.Run("embedded default", func(t *testing.T) {
		gw := newGateway(t, string(policy.DefaultHuJSON), "me@example.com")
		text := string(policy.DefaultHuJSON)
		code, body := call(t, gw.srv, "", "PUT", "/api/config", map[string]string{"config": text, "hash": sha(text)})
		if code != 409 || decode[configError](t, body).Code != codeNoConfigFile {
			t.Fatalf("got %d %s, want 409 %s", code, body, codeNoConfigFile)
		}
	})
	t.Run("file cannot be written", func(t *testing.T) {
		cg := newConfigGateway(t)
		running := cg.srv.Config()
		// The directory is gone: the file cannot be written (also as root).
		cg.srv.opts.ConfigFile = filepath.Join(t.TempDir(), "gone", "sluice.hujson")
		text := cg.text(func(s string) string {
			return strings.Replace(s, `{"provider": "anthropic", "model": "claude-*"}`, `{"provider": "*", "model": "*"}`, 1)
		})
		code, body := call(t, cg.srv, "boss@example.com", "PUT", "/api/config", map[string]string{"config": text, "hash": sha(string(running.Raw))})
		if code != 500 || decode[configError](t, body).Code != codeWriteFailed {
			t.Fatalf("got %d %s, want 500 %s", code, body, codeWriteFailed)
		}
		if cg.srv.Config() != running {
			t.Error("the configuration was applied although the file was not written")
		}
		if got := cg.chatAs(t, "bob@example.com", "gpt-5"); got != 403 {
			t.Errorf("bob got %d for gpt-5, want 403 as before", got)
		}
	})
	t.Run("bad bodies", func(t *testing.T) {
		cg := newConfigGateway(t)
		for _, body := range []any{"not json", map[string]string{"hash": "x"}, map[string]string{"config": "{}"}} {
			if code, b := call(t, cg.srv, "boss@example.com", "PUT", "/api/config", body); code != 400 {
				t.Errorf("body %v: got %d %s, want 400", body, code, b)
			}
		}
	})
}

// TestReloadFileAfterSave: SIGHUP after a save applies what the file holds,
// which is what was saved.
func TestReloadFileAfterSave(t *testing.T) {
	cg := newConfigGateway(t)
	text := cg.text(func(s string) string {
		return strings.Replace(s, `{"provider": "anthropic", "model": "claude-*"}`, `{"provider": "*", "model": "*"}`, 1)
	})
	cg.putOK(t, "boss@example.com", text)
	cfg, err := cg.srv.ReloadFile(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if string(cfg.Raw) != text || cg.srv.Config().File != cg.file {
		t.Errorf("ReloadFile read %q", cfg.Raw)
	}
	if got := cg.chatAs(t, "bob@example.com", "gpt-5"); got != 200 {
		t.Errorf("bob got %d for gpt-5 after the reload, want 200", got)
	}
}

// TestConfigValidate: the checks of a save, without saving, each problem
// located.
func TestConfigValidate(t *testing.T) {
	cg := newConfigGateway(t)
	tests := []struct {
		name     string
		edit     func(string) string
		ok       bool
		problems []string // "needle code" located at needle, or "code"
	}{
		{"valid", nil, true, nil},
		{"unknown provider field type", func(s string) string {
			return strings.Replace(s, `"models": ["gpt-5"]`, `"models": "gpt-5"`, 1)
		}, false, []string{`{"baseurl" no_models`, `"gpt-5" type`}},
		{"unknown hook in grant", func(s string) string {
			return strings.Replace(s, `{"role": "user"}]`, `{"role": "user"}, {"hook": {"hook": "nope"}}]`, 1)
		}, false, []string{`"nope" undefined_hook`}},
		{"bad condition", func(s string) string {
			s = strings.Replace(s, `"temp_grants"`, `"hooks": {"h": {"url": "http://127.0.0.1:9"}}, "temp_grants"`, 1)
			return strings.Replace(s, `{"role": "user"}]`, `{"role": "user"}, {"hook": {"hook": "h", "condition": "request.nope > 1"}}]`, 1)
		}, false, []string{"bad_condition"}},
		{"lockout", func(s string) string { return strings.Replace(s, `{"role": "admin"}`, `{"role": "user"}`, 1) },
			false, []string{codeAdminLockout}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := cg.text(tt.edit)
			code, body := call(t, cg.srv, "boss@example.com", "POST", "/api/config/validate", map[string]string{"config": text})
			if code != 200 {
				t.Fatalf("%d %s", code, body)
			}
			got := decode[validateResult](t, body)
			if got.OK != tt.ok {
				t.Fatalf("ok %v, want %v: %s", got.OK, tt.ok, body)
			}
			if tt.ok {
				if got.Summary == nil || got.Summary.Providers != 2 || got.Summary.Models != 2 || got.Summary.GrantSets != 4 ||
					!strings.HasSuffix(got.Text, ": ok (2 providers, 2 models, 4 grant sets, 0 hooks)\n") {
					t.Errorf("summary %+v, text %q", got.Summary, got.Text)
				}
				return
			}
			var codes []string
			for _, p := range got.Problems {
				codes = append(codes, p.Code)
				if !strings.Contains(got.Text, "error: "+p.Text) {
					t.Errorf("text %q lacks problem %q", got.Text, p.Text)
				}
			}
			var wantCodes []string
			for _, w := range tt.problems {
				needle, code, located := strings.Cut(w, " ")
				if !located {
					wantCodes = append(wantCodes, needle)
					continue
				}
				wantCodes = append(wantCodes, code)
				line, col := posOf(t, text, needle)
				if !hasProblemAt(got.Problems, code, line, col) {
					t.Errorf("no %s problem at %d:%d in %+v", code, line, col, got.Problems)
				}
			}
			if d := cmp.Diff(wantCodes, codes); d != "" {
				t.Errorf("problem codes (-want +got):\n%s", d)
			}
		})
	}
	if disk, _ := os.ReadFile(cg.file); string(disk) != cg.text(nil) {
		t.Error("validating changed the file")
	}
}

// TestProviders: providers as documented, and never a key.
func TestProviders(t *testing.T) {
	cg := newConfigGateway(t)
	code, body := call(t, cg.srv, "boss@example.com", "GET", "/api/providers", nil)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	if bytes.Contains(body, []byte("sk-secret")) || bytes.Contains(body, []byte("apikey")) {
		t.Fatalf("providers carry a key: %s", body)
	}
	got := decode[[]providerJSON](t, body)
	if len(got) != 2 {
		t.Fatalf("%d providers, want 2: %s", len(got), body)
	}
	want := []struct {
		id, name, desc, model string
		chat, messages        bool
	}{
		{"openai", "OpenAI", "the OpenAI API", "gpt-5", true, false},
		{"anthropic", "anthropic", "", "claude-sonnet-4-5", false, true},
	}
	for i, w := range want {
		p := got[i]
		if p.ID != w.id || p.Name != w.name || p.Description != w.desc || len(p.Models) != 1 || p.Models[0] != w.model ||
			p.Compatibility["openai_chat"] != w.chat || p.Compatibility["anthropic_messages"] != w.messages {
			t.Errorf("provider %d: %+v, want %+v", i, p, w)
		}
	}
}

// TestConfigSaveRacesReload: saves and SIGHUP reloads running at once
// never leave the running configuration different from the file.
func TestConfigSaveRacesReload(t *testing.T) {
	cg := newConfigGateway(t)
	texts := []string{
		cg.text(func(s string) string { return strings.Replace(s, "// Admins.", "// Admins, one.", 1) }),
		cg.text(func(s string) string { return strings.Replace(s, "// Admins.", "// Admins, two.", 1) }),
	}
	for i := range 20 {
		done := make(chan struct{})
		go func() {
			defer close(done)
			if _, err := cg.srv.ReloadFile(context.Background()); err != nil {
				t.Errorf("reload: %v", err)
			}
		}()
		disk, _ := os.ReadFile(cg.file)
		code, body := call(t, cg.srv, "boss@example.com", "PUT", "/api/config", map[string]string{"config": texts[i%2], "hash": sha(string(disk))})
		<-done
		if code != 200 {
			t.Fatalf("save %d: %d %s", i, code, body)
		}
		disk, _ = os.ReadFile(cg.file)
		if running := cg.srv.Config().Raw; string(running) != string(disk) {
			t.Fatalf("after save %d and a reload, the running configuration differs from the file:\n%s\n---\n%s", i, running, disk)
		}
	}
}

// BenchmarkConfigValidate measures one check of the Settings editor (POST
// /api/config/validate): load, compile the Rego, prepare the queries,
// compile CEL, check the saver stays admin.
func BenchmarkConfigValidate(b *testing.B) {
	cfg, err := policy.Parse("bench.hujson", []byte(strings.ReplaceAll(configAPIText, "UPSTREAM", "http://127.0.0.1:1")), nil)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(context.Background(), cfg, Options{Identity: identity.TrustedHeaders(identity.HeaderTrust{}), Sink: &memSink{}})
	if err != nil {
		b.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"config": string(cfg.Raw)})
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/api/config/validate", bytes.NewReader(body))
		r.RemoteAddr = "127.0.0.1:40000"
		r.Header.Set(identity.HeaderUserLogin, "boss@example.com")
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		if w.Code != 200 || !strings.Contains(w.Body.String(), `"ok":true`) {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}
