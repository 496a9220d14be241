package tailnet_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports checks that the tailnet node depends on no sluice package but
// identity (and its test tailnet on nothing more than the node).
func TestImports(t *testing.T) {
	allowed := map[string][]string{
		".":           {"github.com/sluice-gateway/sluice/proxy/identity"},
		"tailnettest": {"github.com/sluice-gateway/sluice/proxy/identity", "github.com/sluice-gateway/sluice/proxy/tailnet"},
	}
	fset := token.NewFileSet()
	for dir, ok := range allowed {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no Go files in %s: %v", dir, err)
		}
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if !strings.HasPrefix(path, "github.com/sluice-gateway/sluice/") {
					continue
				}
				found := false
				for _, a := range ok {
					found = found || a == path
				}
				if !found {
					t.Errorf("%s imports %s", name, path)
				}
			}
		}
	}
}
