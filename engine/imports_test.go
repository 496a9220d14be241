package engine

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// importsOf returns the imports of the non-test Go files in dir.
func importsOf(t *testing.T, dir string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			out[p] = filepath.Base(f)
		}
	}
	return out
}

// TestImportDirection keeps the data flow one way: the engine knows nothing
// of HTTP or of the packages above it, and the compiler evaluates nothing.
func TestImportDirection(t *testing.T) {
	tests := []struct {
		dir       string
		forbidden []string
	}{
		{".", []string{"net/http", "github.com/sluice-gateway/sluice/proxy", "github.com/sluice-gateway/sluice/compat", "github.com/sluice-gateway/sluice/store"}},
		{"../rego", []string{"net/http", "github.com/sluice-gateway/sluice/engine", "github.com/open-policy-agent/opa/v1/rego", "github.com/open-policy-agent/opa/v1/topdown"}},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			imports := importsOf(t, tt.dir)
			for _, bad := range tt.forbidden {
				for imp, file := range imports {
					if imp == bad || strings.HasPrefix(imp, bad+"/") {
						t.Errorf("%s imports %s", file, imp)
					}
				}
			}
		})
	}
}
