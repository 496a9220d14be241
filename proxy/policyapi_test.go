package proxy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/proxy/identity"
	"github.com/sluice-gateway/sluice/store"
)

// TestPolicyTry: the running policy's decision for a request, and why,
// as `sluice policy eval` gives it.
func TestPolicyTry(t *testing.T) {
	cg := newConfigGateway(t)
	tests := []struct {
		name       string
		req        map[string]any
		code       int
		allow      bool
		role       string
		refusal    string   // Decision.Code
		allowedBy  []string // grants that allowed
		candidates []string
		err        string // in the error, for a refusal of the try itself
	}{
		{name: "alice may use gpt-5", req: map[string]any{"user": "alice@example.com", "model": "gpt-5"},
			code: 200, allow: true, role: "user", allowedBy: []string{"temp_grants[2].grants[0]"}, candidates: []string{"openai"}},
		{name: "bob may not use gpt-5", req: map[string]any{"user": "bob@example.com", "model": "gpt-5", "provider": "openai"},
			code: 200, role: "user", refusal: engine.CodeNoModel},
		{name: "bob may use claude", req: map[string]any{"user": "bob@example.com", "model": "claude-sonnet-4-5", "format": "anthropic_messages"},
			code: 200, allow: true, role: "user", allowedBy: []string{"temp_grants[3].grants[0]"}, candidates: []string{"anthropic"}},
		{name: "tagged device", req: map[string]any{"tags": []string{"tag:ci"}, "model": "gpt-5"},
			code: 200, allow: true, role: "user", allowedBy: []string{"temp_grants[2].grants[0]"}, candidates: []string{"openai"}},
		{name: "boss is admin", req: map[string]any{"user": "boss@example.com", "model": "claude-sonnet-4-5"},
			code: 200, allow: true, role: "admin", allowedBy: []string{"temp_grants[0].grants[1]"}, candidates: []string{"anthropic"}},
		{name: "no provider serves the model", req: map[string]any{"user": "alice@example.com", "model": "llama-9"},
			code: 422, err: `no provider serves model "llama-9"`},
		{name: "no provider in that format", req: map[string]any{"user": "alice@example.com", "model": "gpt-5", "format": "anthropic_messages"},
			code: 422, err: "in format anthropic_messages"},
		{name: "no caller", req: map[string]any{"model": "gpt-5"}, code: 400, err: "name the caller"},
		{name: "no model", req: map[string]any{"user": "alice@example.com"}, code: 400, err: "name the model"},
		{name: "unknown format", req: map[string]any{"user": "alice@example.com", "model": "gpt-5", "format": "smoke_signals"}, code: 400, err: "unknown format"},
		{name: "bad tag", req: map[string]any{"tags": []string{"ci"}, "model": "gpt-5"}, code: 400, err: `tags start with "tag:"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := call(t, cg.srv, "boss@example.com", "POST", "/api/policy/try", tt.req)
			if code != tt.code {
				t.Fatalf("got %d %s, want %d", code, body, tt.code)
			}
			if tt.err != "" {
				if e := decode[map[string]string](t, body); !strings.Contains(e["error"], tt.err) {
					t.Errorf("error %q, want %q in it", e["error"], tt.err)
				}
				return
			}
			got := decode[explained](t, body)
			d := got.Decision
			if d.Allow != tt.allow || d.Role != tt.role || d.Code != tt.refusal || d.Revision != cg.srv.state.Load().engine.Revision() {
				t.Errorf("decision %+v, want allow %v role %s code %q at the running revision", d, tt.allow, tt.role, tt.refusal)
			}
			var by []string
			for _, a := range got.AllowedBy {
				by = append(by, a.Grant)
				if a.Pos == "" {
					t.Errorf("grant %s comes with no place in the file", a.Grant)
				}
			}
			if diff := cmp.Diff(tt.allowedBy, by); diff != "" {
				t.Errorf("allowed by (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.candidates, got.Candidates); diff != "" {
				t.Errorf("candidates (-want +got):\n%s", diff)
			}
			if !tt.allow && len(got.Grants) == 0 {
				t.Error("a refusal names none of the caller's grants: the page could not say why")
			}
		})
	}
}

// TestPolicyExplainLogged: the explanation of a logged request is its
// decision made again with the logged caller and request.
func TestPolicyExplainLogged(t *testing.T) {
	cg := newConfigGateway(t)
	rev := cg.srv.state.Load().engine.Revision()
	now := time.Now().UTC().Truncate(time.Second)
	recs := []store.Record{
		{ID: "req-bob", Time: now, Login: "bob@example.com", Provider: "openai", Model: "gpt-5", Format: "openai_chat",
			Path: "/v1/chat/completions", Status: 403, Error: "not allowed", Revision: rev},
		{ID: "req-alice", Time: now, Login: "alice@example.com", Provider: "openai", Model: "gpt-5", Format: "openai_chat",
			Path: "/v1/chat/completions", Status: 200, Revision: "older", Grants: []string{"temp_grants[2].grants[0]"}},
		{ID: "req-ci", Time: now, Login: "tag:ci,tag:prod", Provider: "openai", Model: "gpt-5", Format: "openai_chat", Status: 200, Revision: rev},
		{ID: "req-gone", Time: now, Login: "alice@example.com", Model: "llama-9", Format: "openai_chat", Status: 404, Revision: rev},
	}
	if err := cg.store.Insert(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id      string
		code    int
		allow   bool
		same    bool
		noModel bool
		tags    []string
	}{
		{id: "req-bob", code: 200, allow: false, same: true},
		{id: "req-alice", code: 200, allow: true, same: false},
		{id: "req-ci", code: 200, allow: true, same: true, tags: []string{"tag:ci", "tag:prod"}},
		{id: "req-gone", code: 200, same: true, noModel: true},
		{id: "req-none", code: 404},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			code, body := call(t, cg.srv, "boss@example.com", "GET", "/api/policy/explain/"+tt.id, nil)
			if code != tt.code {
				t.Fatalf("got %d %s, want %d", code, body, tt.code)
			}
			if code != 200 {
				return
			}
			got := decode[explainJSON](t, body)
			if got.Request.ID != tt.id || got.Revision.Current != rev || got.Revision.Same != tt.same || got.Note == "" {
				t.Errorf("request %s, revision %+v, want %s at %s (same: %v) with a note", got.Request.ID, got.Revision, tt.id, rev, tt.same)
			}
			if tt.noModel {
				if got.Explanation != nil || !strings.Contains(got.Error, `"llama-9"`) {
					t.Errorf("explanation %+v, error %q; want none, and why", got.Explanation, got.Error)
				}
				return
			}
			if got.Explanation == nil {
				t.Fatalf("no explanation: %s", body)
			}
			x := got.Explanation
			if x.Decision.Allow != tt.allow || x.Input.User.Login != got.Request.Login || x.Input.Request.Model != "gpt-5" {
				t.Errorf("decision %+v for %+v, want allow %v for the logged caller", x.Decision, x.Input, tt.allow)
			}
			if tt.tags != nil && !slices.Equal(x.Input.User.Tags, tt.tags) {
				t.Errorf("tags %q, want %q from the tagged login", x.Input.User.Tags, tt.tags)
			}
		})
	}
}

// TestPolicyModules: the compiled Rego the Policy page shows.
func TestPolicyModules(t *testing.T) {
	cg := newConfigGateway(t)
	code, body := call(t, cg.srv, "boss@example.com", "GET", "/api/policy/modules", nil)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var got struct {
		Revision string       `json:"revision"`
		Modules  []moduleJSON `json:"modules"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Revision != cg.srv.state.Load().engine.Revision() || len(got.Modules) < 2 {
		t.Fatalf("revision %s, %d modules", got.Revision, len(got.Modules))
	}
	grants := got.Modules[0]
	if !strings.Contains(grants.Text, "package sluice.grants") || !strings.Contains(grants.Text, "temp_grants[3].grants[0]") {
		t.Errorf("first module %s is not the generated grants:\n%s", grants.Name, grants.Text)
	}
	if strings.Contains(string(body), "sk-secret") {
		t.Error("the compiled policy carries a provider key")
	}
}

// TestPolicyBundle: the downloaded bundle is what `opa test BUNDLE tests/`
// loads: the stock test loader reads it, and a team's tests run against
// it, passing and failing as the policy decides.
func TestPolicyBundle(t *testing.T) {
	cg := newConfigGateway(t)
	r := download(t, cg, "/api/policy/bundle")
	if r.Code != 200 || r.Header().Get("Content-Type") != "application/gzip" ||
		!strings.Contains(r.Header().Get("Content-Disposition"), `filename="sluice-policy-`) {
		t.Fatalf("got %d %v", r.Code, r.Header())
	}
	rev := cg.srv.state.Load().engine.Revision()
	files := untar(t, r.Body.Bytes())
	var manifest struct{ Revision string }
	if err := json.Unmarshal(files[".manifest"], &manifest); err != nil || manifest.Revision != rev {
		t.Errorf("manifest %s (%v), want revision %s", files[".manifest"], err, rev)
	}
	for _, m := range cg.srv.state.Load().engine.Modules() {
		if !bytes.Equal(files[m.Name], m.Text) {
			t.Errorf("module %s missing or different in the bundle", m.Name)
		}
	}

	dir := t.TempDir()
	bundlePath := filepath.Join(dir, "sluice-policy.tar.gz")
	if err := os.WriteFile(bundlePath, r.Body.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := filepath.Join(dir, "tests")
	if err := os.Mkdir(tests, 0o755); err != nil {
		t.Fatal(err)
	}
	const suite = `package team_test

import data.sluice.authz

req(login, model) := {
	"user": {"login": login, "node_id": "", "tailnet": "", "tags": []},
	"request": {"provider": "openai", "model": model, "format": "openai_chat", "path": "/v1/chat/completions"},
}

test_alice_uses_gpt5 if authz.allow with input as req("alice@example.com", "gpt-5")

test_boss_is_admin if authz.admin with input as req("boss@example.com", "gpt-5")

test_bob_uses_gpt5 if authz.allow with input as req("bob@example.com", "gpt-5")
`
	if err := os.WriteFile(filepath.Join(tests, "team_test.rego"), []byte(suite), 0o644); err != nil {
		t.Fatal(err)
	}
	results := runOPATests(t, bundlePath, tests)
	want := map[string]bool{"test_alice_uses_gpt5": true, "test_boss_is_admin": true, "test_bob_uses_gpt5": false}
	if d := cmp.Diff(want, results); d != "" {
		t.Errorf("opa test results (-want +got):\n%s", d)
	}
}

// download GETs path as boss and returns the whole response.
func download(t *testing.T, cg *configGateway, path string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("GET", path, nil)
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set(identity.HeaderUserLogin, "boss@example.com")
	w := httptest.NewRecorder()
	cg.srv.ServeHTTP(w, r)
	return w
}

// untar reads a tar.gz into file name -> content.
func untar(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	files := make(map[string][]byte)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimPrefix(h.Name, "/")] = b
	}
}

// runOPATests loads paths as `opa test` does and runs the tests, returning
// each test's outcome by name.
func runOPATests(t *testing.T, paths ...string) map[string]bool {
	t.Helper()
	ctx := context.Background()
	popts := ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true}
	modules, st, err := tester.LoadWithParserOptions(paths, nil, popts)
	if err != nil {
		t.Fatalf("loading %v as opa test does: %v", paths, err)
	}
	txn, err := st.NewTransaction(ctx, storage.WriteParams)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Abort(ctx, txn)
	ch, err := tester.NewRunner().SetStore(st).SetModules(modules).RunTests(ctx, txn)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]bool)
	for r := range ch {
		if r.Error != nil {
			t.Errorf("%s: %v", r.Name, r.Error)
		}
		out[r.Name] = r.Pass()
	}
	return out
}
