package compat

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLeafPackage keeps compat a leaf: its packages import no sluice
// package but compat's own and the leaves usage, apiformat and
// internal/jsonbytes, and each has a package doc comment.
func TestLeafPackage(t *testing.T) {
	const module = "github.com/sluice-gateway/sluice/"
	docs := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		dir := filepath.Dir(path)
		if _, ok := docs[dir]; !ok {
			docs[dir] = false
		}
		if f.Doc != nil && strings.HasPrefix(f.Doc.Text(), "Package "+f.Name.Name+" ") {
			docs[dir] = true
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, module) && !strings.HasPrefix(p, module+"compat/") && p != module+"usage" && p != module+"apiformat" && p != module+"internal/jsonbytes" {
				t.Errorf("%s imports %s: compat may import only usage, apiformat and internal/jsonbytes of the other sluice packages", path, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) < 4 {
		t.Fatalf("walked only %d packages", len(docs))
	}
	for dir, ok := range docs {
		if !ok {
			t.Errorf("package in %s has no package doc comment", dir)
		}
	}
}
