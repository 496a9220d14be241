package rego

import (
	"embed"
	"io/fs"
	"path"
	"strings"
)

//go:embed lib/*.rego
var libFS embed.FS

// LibraryDir is where the library's files go in an export.
const LibraryDir = "sluice"

// Library returns the static modules of package sluice.authz, without their
// tests, named as they are exported ("sluice/authz.rego").
func Library() []Module { return libraryFiles(false) }

// LibraryTests returns the library's own Rego tests (package
// sluice.authz_test). They mock data.sluice.grants, so they pass whatever
// the configuration.
func LibraryTests() []Module { return libraryFiles(true) }

func libraryFiles(tests bool) []Module {
	entries, err := fs.ReadDir(libFS, "lib")
	if err != nil {
		panic("rego: embedded library unreadable: " + err.Error())
	}
	var out []Module
	for _, e := range entries { // ReadDir sorts by name
		if isTestFile(e.Name()) != tests {
			continue
		}
		text, err := libFS.ReadFile("lib/" + e.Name())
		if err != nil {
			panic("rego: embedded library unreadable: " + err.Error())
		}
		out = append(out, Module{Name: path.Join(LibraryDir, e.Name()), Text: text})
	}
	return out
}

func isTestFile(name string) bool { return strings.HasSuffix(name, "_test.rego") }
