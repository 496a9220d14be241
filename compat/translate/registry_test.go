package translate

import (
	"testing"

	"github.com/sluice-gateway/sluice/apiformat"
)

// TestTranslatorsMatchRegistry: the registry's translatable formats are
// exactly those with a translator, so routing (which asks the registry)
// never picks a pair this package cannot translate.
func TestTranslatorsMatchRegistry(t *testing.T) {
	for _, f := range apiformat.Formats() {
		_, has := translators[f]
		if has != apiformat.Translatable(f) {
			t.Errorf("format %s: translator %v, registry says translatable %v", f, has, apiformat.Translatable(f))
		}
	}
	for f := range translators {
		if !apiformat.Known(f) {
			t.Errorf("translator for %q, which is no API format", f)
		}
	}
}
