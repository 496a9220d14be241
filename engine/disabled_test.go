package engine

import (
	"context"
	"slices"
	"testing"
)

// TestDisabledProviderDenied: a wildcard grant does not reach a disabled
// provider, and the caller is told why; the enabled one stays allowed.
func TestDisabledProviderDenied(t *testing.T) {
	e := newEngine(t, loadCase(t, "disabled-provider"))
	for _, tt := range []struct {
		provider string
		allow    bool
		reasons  []string
	}{
		{"openai", true, nil},
		{"old", false, []string{`provider "old" is disabled in the configuration`}},
	} {
		d, err := e.Decide(context.Background(), in("alice@example.com", tt.provider, "gpt-5"))
		if err != nil {
			t.Fatal(err)
		}
		if d.Allow != tt.allow || !slices.Equal(d.Reasons, tt.reasons) {
			t.Errorf("%s: allow %v reasons %q; want %v %q", tt.provider, d.Allow, d.Reasons, tt.allow, tt.reasons)
		}
	}
}
