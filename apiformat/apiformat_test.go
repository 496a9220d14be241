package apiformat

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLeaf keeps the registry importable from everywhere: policy may not
// import HTTP, and compat may import no sluice package but leaves.
func TestLeaf(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, "github.com/sluice-gateway/sluice/") || strings.HasPrefix(p, "net/") {
				t.Errorf("%s imports %s", name, p)
			}
		}
	}
}

func TestRegistry(t *testing.T) {
	tests := []struct {
		name  string
		list  []string
		known func(string) bool
	}{
		{"formats", Formats(), Known},
		{"auth types", AuthTypes(), KnownAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[string]bool{}
			for _, n := range tt.list {
				if seen[n] {
					t.Errorf("%q listed twice", n)
				}
				seen[n] = true
				if !tt.known(n) {
					t.Errorf("%q listed but not known", n)
				}
			}
			for _, n := range []string{"", "OpenAI_Chat", "Bearer", "openai"} {
				if tt.known(n) {
					t.Errorf("%q known", n)
				}
			}
		})
	}
	// The lists are copies: a caller cannot change the registry.
	f := Formats()
	f[0] = "x"
	if Formats()[0] != OpenAIChat {
		t.Error("Formats returned the registry's own slice")
	}
	a := AuthTypes()
	a[0] = "x"
	if AuthTypes()[0] != AuthBearer {
		t.Error("AuthTypes returned the registry's own slice")
	}
}
