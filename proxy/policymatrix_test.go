package proxy

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/engine"
)

// TestPolicyMatrixAPI: the running policy's matrix, as the CLI computes it,
// for admins only.
func TestPolicyMatrixAPI(t *testing.T) {
	cg := newConfigGateway(t)
	if code, _ := call(t, cg.srv, "alice@example.com", "GET", "/api/policy/matrix", nil); code != 403 {
		t.Fatalf("a user read the matrix: %d", code)
	}
	code, body := call(t, cg.srv, "boss@example.com", "GET", "/api/policy/matrix", nil)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var m struct {
		Revision string               `json:"revision"`
		Classes  []engine.MatrixClass `json:"classes"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if m.Revision != cg.srv.state.Load().engine.Revision() {
		t.Errorf("revision %s, want the running one", m.Revision)
	}
	pairs := map[string][]string{}
	roles := map[string]string{}
	for _, c := range m.Classes {
		roles[c.Class] = c.Role
		for _, cell := range c.Allowed {
			pairs[c.Class] = append(pairs[c.Class], cell.Provider+"/"+cell.Model)
		}
	}
	want := map[string][]string{
		"boss@example.com":  {"openai/gpt-5", "anthropic/claude-sonnet-4-5"},
		"alice@example.com": {"openai/gpt-5", "anthropic/claude-sonnet-4-5"},
		"bob@example.com":   {"anthropic/claude-sonnet-4-5"},
		"tag:ci":            {"openai/gpt-5", "anthropic/claude-sonnet-4-5"},
		engine.AnyoneElse:   nil,
	}
	for class, w := range want {
		if !slices.Equal(pairs[class], w) {
			t.Errorf("%s may use %v, want %v", class, pairs[class], w)
		}
	}
	if roles["boss@example.com"] != "admin" || roles["bob@example.com"] != "user" {
		t.Errorf("roles %v", roles)
	}
}

// TestPolicyDiffAPI: what a draft would change, against the running
// policy; nothing is saved.
func TestPolicyDiffAPI(t *testing.T) {
	cg := newConfigGateway(t)
	type answer struct {
		OK       bool              `json:"ok"`
		Equal    bool              `json:"equal"`
		Diff     engine.MatrixDiff `json:"diff"`
		Problems []Problem         `json:"problems"`
	}
	diff := func(text string) answer {
		t.Helper()
		code, body := call(t, cg.srv, "boss@example.com", "POST", "/api/policy/diff", map[string]string{"config": text})
		if code != 200 {
			t.Fatalf("%d %s", code, body)
		}
		var a answer
		if err := json.Unmarshal(body, &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	before := cg.srv.state.Load().engine.Revision()

	if a := diff(cg.text(func(s string) string { return strings.Replace(s, "// Admins.", "// The admins.", 1) })); !a.OK || !a.Equal {
		t.Errorf("a comment-only change: %+v", a)
	}
	narrowed := diff(cg.text(func(s string) string {
		return strings.Replace(s, `{"src": ["alice@example.com", "tag:ci"]`, `{"src": ["alice@example.com"]`, 1)
	}))
	if !narrowed.OK || narrowed.Equal || len(narrowed.Diff.Classes) != 1 {
		t.Fatalf("narrowed grant: %+v", narrowed)
	}
	if c := narrowed.Diff.Classes[0]; c.Class != "tag:ci" || len(c.Gains) != 0 ||
		!slices.Equal(c.Losses, []string{"openai/gpt-5", "anthropic/claude-sonnet-4-5"}) {
		t.Errorf("tag:ci change %+v, want it to lose both models", c)
	}
	if bad := diff(`{"providers": {"openai": {"baseurl": 3}}}`); bad.OK || len(bad.Problems) == 0 || bad.Problems[0].Line == 0 {
		t.Errorf("a draft that does not load: %+v", bad)
	}
	if code, _ := call(t, cg.srv, "alice@example.com", "POST", "/api/policy/diff", map[string]string{"config": "{}"}); code != 403 {
		t.Errorf("a user diffed a draft: %d", code)
	}
	if cg.srv.state.Load().engine.Revision() != before {
		t.Error("a diff changed the running policy")
	}
}
