package policy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-gateway/sluice/apiformat"
)

// TestRegistryInSync fails when the configuration accepts a format or an
// authorization type the registry does not list, or refuses one it does.
func TestRegistryInSync(t *testing.T) {
	if diff := cmp.Diff(apiformat.Formats(), Formats); diff != "" {
		t.Errorf("policy.Formats differs from the registry (-registry +policy):\n%s", diff)
	}
	if diff := cmp.Diff(apiformat.AuthTypes(), AuthTypes); diff != "" {
		t.Errorf("policy.AuthTypes differs from the registry (-registry +policy):\n%s", diff)
	}
	for _, f := range apiformat.Formats() {
		cfg := `{"providers": {"p": {"baseurl": "https://p.example", "apikey": "k", "models": ["m"], "compatibility": {"` + f + `": true}}}}`
		c, err := Parse("t.hujson", []byte(cfg), noEnv)
		if err != nil {
			t.Errorf("compatibility flag %s refused: %v", f, err)
			continue
		}
		if !c.Provider("p").Compatibility.Supports(f) {
			t.Errorf("compatibility flag %s loaded but not supported", f)
		}
	}
	for _, a := range apiformat.AuthTypes() {
		cfg := `{"providers": {"p": {"baseurl": "https://p.example", "apikey": "k", "models": ["m"], "authorization": "` + a + `"}}}`
		if _, err := Parse("t.hujson", []byte(cfg), noEnv); err != nil {
			t.Errorf("authorization %s refused: %v", a, err)
		}
	}
	cfg := `{"providers": {"p": {"baseurl": "https://p.example", "apikey": "k", "models": ["m"], "compatibility": {"openai_completions": true}}}}`
	if _, err := Parse("t.hujson", []byte(cfg), noEnv); err == nil || !strings.Contains(err.Error(), "openai_completions") {
		t.Errorf("a flag outside the registry: %v, want it refused by name", err)
	}
}
