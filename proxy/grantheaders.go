package proxy

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/sluice-gateway/sluice/policy"
)

// setGrantHeaders sets the add_headers of the grants that allowed the
// request, after the client's headers are filtered and before the
// provider's credential is set (policy refuses credential headers anyway).
// A grant's value replaces a client's; two grants' values for one name are
// both sent.
func setGrantHeaders(h http.Header, add []policy.Header) {
	for i, a := range add {
		if !slices.ContainsFunc(add[:i], func(b policy.Header) bool { return strings.EqualFold(a.Name, b.Name) }) {
			h.Del(a.Name)
		}
		h.Add(a.Name, a.Value)
	}
}

// appGrants merges the custom app capabilities of the config grants naming
// the caller with those of the tailnet policy file, for metadata.grants.
func appGrants(config map[string][]any, tailnet map[string][]json.RawMessage) map[string][]json.RawMessage {
	if len(config) == 0 && len(tailnet) == 0 {
		return nil
	}
	out := make(map[string][]json.RawMessage, len(config)+len(tailnet))
	for name, vals := range config {
		for _, v := range vals {
			raw, err := json.Marshal(v)
			if err == nil {
				out[name] = append(out[name], raw)
			}
		}
	}
	for name, vals := range tailnet {
		out[name] = append(out[name], vals...)
	}
	return out
}
