package ui

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPackageBoundaries: the dashboard reads the store's query API and
// rollups and nothing else of sluice's; it never opens the database
// itself, and the gateway hands it what it needs (callers, models,
// quotas) through Options.
func TestPackageBoundaries(t *testing.T) {
	const module = "github.com/sluice-gateway/sluice/"
	allowed := map[string]bool{module + "store": true, module + "usage": true}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	documented := false
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if f.Doc != nil && strings.HasPrefix(f.Doc.Text(), "Package ui ") {
			documented = true
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, module) && !allowed[p] || p == "database/sql" {
				t.Errorf("%s imports %s: ui reads the store's API, nothing else", path, p)
			}
		}
	}
	if !documented {
		t.Error("package ui has no package comment")
	}
}
