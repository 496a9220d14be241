package store

import (
	"encoding/json"
	"fmt"

	"github.com/sluice-gateway/sluice/internal/jsonbytes"
)

// The grants column holds Record.Grants as a JSON array of strings, or ''
// when no grant allowed the request (refused requests, and rows written
// before the column existed). JSON rather than a joined list because a
// capability name from the tailnet policy file may hold any character,
// separators included. It is text in both backends, so inserts and reads
// are the same queries.

// maxGrantsText bounds the encoded column, like the other free-text
// columns: sources that would not fit are left out, so the row still
// names the grants that come first in the (sorted) list.
const maxGrantsText = maxLongText

// encodeGrants is the grants column for grants: each source cleaned like
// any short text, the list cut to maxGrantsText bytes of JSON.
func encodeGrants(grants []string) string {
	if len(grants) == 0 {
		return ""
	}
	b := make([]byte, 0, 64)
	b = append(b, '[')
	for _, g := range grants {
		n := len(b)
		if n > 1 {
			b = append(b, ',')
		}
		b = jsonbytes.AppendString(b, cleanText(g, maxShortText))
		if len(b)+len("]") > maxGrantsText {
			b = b[:n]
			break
		}
	}
	if len(b) == 1 {
		return ""
	}
	return string(append(b, ']'))
}

// decodeGrants reads the grants column: nil for empty text (or an empty array),
// an error for anything else that is not a JSON array of strings.
func decodeGrants(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var grants []string
	if err := json.Unmarshal([]byte(s), &grants); err != nil {
		return nil, fmt.Errorf("grants column: %w", err)
	}
	if grants == nil { // null: never written, so not a list of ours
		return nil, fmt.Errorf("grants column: %q is not a JSON array", s)
	}
	if len(grants) == 0 {
		return nil, nil
	}
	return grants, nil
}
