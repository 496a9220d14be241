package rego

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/sluice-gateway/sluice/policy"
)

// regoResult is the outcome of one Rego test.
type regoResult struct {
	name string
	pass bool
	err  error
}

// runRegoTests runs the test_ rules of mods with OPA's tester, as
// `opa test` does, and returns one result per test.
func runRegoTests(t *testing.T, mods []Module) []regoResult {
	t.Helper()
	parsed := make(map[string]*ast.Module, len(mods))
	for _, m := range mods {
		mod, err := ast.ParseModuleWithOpts(m.Name, string(m.Text), ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
		if err != nil {
			t.Fatalf("parse %s: %v", m.Name, err)
		}
		parsed[m.Name] = mod
	}
	ch, err := tester.NewRunner().SetModules(parsed).RunTests(context.Background(), nil)
	if err != nil {
		t.Fatalf("run Rego tests: %v", err)
	}
	var out []regoResult
	for r := range ch {
		res := regoResult{name: r.Package + "." + r.Name, pass: r.Pass(), err: r.Error}
		out = append(out, res)
	}
	return out
}

// testCase is one directory of testdata/rego: a configuration and the Rego
// tests that a security team would write against its exported policy.
type testCase struct {
	name   string
	dir    string
	config string // "" means the built-in default
	own    bool   // the configuration lives in the case directory
}

const casesDir = "../testdata/rego"

// loadCases lists the case directories. A case's configuration is its
// config.hujson, else ../testdata/configs/NAME.hujson, else (for "default")
// the built-in default configuration.
func loadCases(t *testing.T) []testCase {
	t.Helper()
	entries, err := os.ReadDir(casesDir)
	if err != nil {
		t.Fatal(err)
	}
	var cases []testCase
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		c := testCase{name: e.Name(), dir: filepath.Join(casesDir, e.Name())}
		own := filepath.Join(c.dir, "config.hujson")
		shared := filepath.Join("..", "testdata", "configs", e.Name()+".hujson")
		switch {
		case exists(own):
			c.config, c.own = own, true
		case exists(shared):
			c.config = shared
		case e.Name() == "default":
		default:
			t.Fatalf("%s: no config.hujson and no ../testdata/configs/%s.hujson", c.dir, e.Name())
		}
		cases = append(cases, c)
	}
	return cases
}

func (c testCase) load(t *testing.T) *policy.Config {
	t.Helper()
	if c.config == "" {
		return policy.Default()
	}
	data, err := os.ReadFile(c.config)
	if err != nil {
		t.Fatal(err)
	}
	// A stable name keeps positions in goldens independent of paths.
	cfg, err := policy.Parse(filepath.Base(c.config), data, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("%s: %v", c.config, err)
	}
	return cfg
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func readTests(t *testing.T, dir string) []Module {
	t.Helper()
	mods, err := ReadTests(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mods {
		if !strings.HasSuffix(m.Name, "_test.rego") {
			t.Fatalf("ReadTests returned %s", m.Name)
		}
	}
	return mods
}
