package compat

import (
	"net/http"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-gateway/sluice/apiformat"
)

// TestRegistryInSync fails when compat implements a format or credential
// type the registry does not list, or misses one it does: the
// configuration accepts exactly the registry's names, so each must work
// here.
func TestRegistryInSync(t *testing.T) {
	var implemented []string
	for f := range specs {
		implemented = append(implemented, f)
	}
	slices.Sort(implemented)
	want := apiformat.Formats()
	slices.Sort(want)
	if diff := cmp.Diff(want, implemented); diff != "" {
		t.Errorf("formats implemented by compat differ from the registry (-registry +compat):\n%s", diff)
	}
	if diff := cmp.Diff(apiformat.Formats(), Formats()); diff != "" {
		t.Errorf("compat.Formats differs from the registry's order (-registry +compat):\n%s", diff)
	}

	headers := map[string]string{}
	for _, auth := range apiformat.AuthTypes() {
		h := http.Header{}
		if err := SetAuth(h, auth, "k"); err != nil {
			t.Errorf("SetAuth(%q): %v", auth, err)
			continue
		}
		if len(h) != 1 {
			t.Errorf("SetAuth(%q) set %v, want one header", auth, h)
		}
		for name := range h {
			if other, dup := headers[name]; dup {
				t.Errorf("%q and %q both set %s", auth, other, name)
			}
			headers[name] = auth
		}
	}
}
