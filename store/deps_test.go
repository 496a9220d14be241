package store

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPackageBoundaries keeps store a leaf: its packages import no sluice
// package but policy, usage, quota, the internal helpers and store's own, and each
// has a package comment.
func TestPackageBoundaries(t *testing.T) {
	const module = "github.com/sluice-gateway/sluice/"
	documented := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		dir := filepath.Dir(path)
		if _, ok := documented[dir]; !ok {
			documented[dir] = false
		}
		if f.Doc != nil && strings.HasPrefix(f.Doc.Text(), "Package "+f.Name.Name+" ") {
			documented[dir] = true
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, module) && p != module+"policy" && p != module+"usage" && p != module+"quota" && !strings.HasPrefix(p, module+"internal/") && !strings.HasPrefix(p, module+"store") {
				t.Errorf("%s imports %s: store may import only policy, usage, quota and the internal helper packages", path, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for dir, ok := range documented {
		if !ok {
			t.Errorf("package in %s has no package comment", dir)
		}
	}
	if len(documented) < 6 {
		t.Errorf("found %d packages, want store and its subpackages", len(documented))
	}
}
