package rego

import (
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
)

// MaxBundleBytes bounds a bundle read by ReadBundle, uncompressed.
const MaxBundleBytes = 64 << 20

// WriteBundle writes mods as an OPA bundle (a tar.gz with a .manifest
// carrying revision and the bundle's roots), which OPA, its bundle service
// and `opa test` read. The roots are the top-level names of the modules'
// packages ("sluice" for the generated policy).
func WriteBundle(w io.Writer, revision string, mods []Module) error {
	b := bundle.Bundle{Data: map[string]any{}}
	var roots []string
	for _, m := range mods {
		parsed, err := ast.ParseModuleWithOpts(m.Name, string(m.Text), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
		// data.sluice.authz: the root is the first name after data.
		root := strings.Trim(parsed.Package.Path[1].Value.String(), `"`)
		if !slices.Contains(roots, root) {
			roots = append(roots, root)
		}
		p := "/" + path.Clean(m.Name)
		b.Modules = append(b.Modules, bundle.ModuleFile{URL: p, Path: p, Raw: m.Text, Parsed: parsed})
	}
	slices.Sort(roots)
	b.Manifest = bundle.Manifest{Revision: revision, Roots: &roots}
	return bundle.NewWriter(w).Write(b)
}

// ReadBundle reads the user's own modules from an OPA bundle (tar.gz) and
// returns them with the bundle's revision. Modules sluice generates (a
// bundle written by `sluice policy bundle`) are left out: the running
// configuration generates its own. A bundle with data documents is
// refused, since sluice's policy reads none.
func ReadBundle(r io.Reader, name string) ([]Module, string, error) {
	b, err := bundle.NewReader(r).WithSizeLimitBytes(MaxBundleBytes).WithRegoVersion(ast.RegoV1).Read()
	if err != nil {
		return nil, "", fmt.Errorf("policy bundle %s: %w", name, err)
	}
	if len(b.Data) > 0 {
		return nil, "", fmt.Errorf("policy bundle %s: holds data documents (%s), which sluice's policy does not read", name, strings.Join(sortedKeys(b.Data), ", "))
	}
	var mods []Module
	for _, m := range b.Modules {
		if IsGenerated(m.Raw) || isTestFile(m.Path) {
			continue
		}
		mods = append(mods, Module{Name: name + ":" + strings.TrimPrefix(m.Path, "/"), Text: m.Raw})
	}
	slices.SortFunc(mods, func(a, b Module) int { return strings.Compare(a.Name, b.Name) })
	return mods, b.Manifest.Revision, nil
}
