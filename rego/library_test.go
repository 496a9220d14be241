package rego

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/format"
)

// TestLibraryRegoTests runs the library's own _test.rego files.
func TestLibraryRegoTests(t *testing.T) {
	results := runRegoTests(t, append(Library(), LibraryTests()...))
	if len(results) < 20 {
		t.Fatalf("ran %d library tests, want at least 20", len(results))
	}
	for _, r := range results {
		if !r.pass {
			t.Errorf("%s failed (error: %v)", r.name, r.err)
		}
	}
}

func TestLibraryFiles(t *testing.T) {
	lib, tests := Library(), LibraryTests()
	if len(lib) == 0 || len(tests) == 0 {
		t.Fatalf("library has %d modules and %d test files", len(lib), len(tests))
	}
	for _, m := range lib {
		if !strings.HasPrefix(m.Name, LibraryDir+"/") || strings.HasSuffix(m.Name, "_test.rego") {
			t.Errorf("library module named %q", m.Name)
		}
		if !strings.Contains(string(m.Text), "package sluice.authz\n") {
			t.Errorf("%s is not in package sluice.authz", m.Name)
		}
	}
	for _, m := range tests {
		if !strings.Contains(string(m.Text), "package sluice.authz_test\n") {
			t.Errorf("%s is not in package sluice.authz_test", m.Name)
		}
	}
}

// TestRegoFormatted keeps the library and the test cases in `opa fmt` form.
func TestRegoFormatted(t *testing.T) {
	mods := append(Library(), LibraryTests()...)
	paths, err := filepath.Glob("../testdata/rego/*/*.rego")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		text, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		mods = append(mods, Module{Name: p, Text: text})
	}
	for _, m := range mods {
		got, err := format.SourceWithOpts(m.Name, m.Text, format.Opts{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Errorf("%s: %v", m.Name, err)
			continue
		}
		if !bytes.Equal(got, m.Text) {
			t.Errorf("%s is not formatted (opa fmt -w)", m.Name)
		}
	}
}
