package store

import (
	"encoding/json"
	"fmt"
)

// maxAttempts bounds the attempts a row keeps; routing never makes more
// than a handful, so the bound only guards the column's size.
const maxAttempts = 16

// encodeAttempts renders attempts for the attempts column: a JSON array,
// or "" for none.
func encodeAttempts(attempts []Attempt) string {
	if len(attempts) == 0 {
		return ""
	}
	kept := make([]Attempt, 0, min(len(attempts), maxAttempts))
	for _, a := range attempts[max(0, len(attempts)-maxAttempts):] {
		a.Provider = cleanText(a.Provider, maxShortText)
		a.Outcome = cleanText(a.Outcome, maxShortText)
		a.Error = cleanText(a.Error, maxShortText)
		kept = append(kept, a)
	}
	return string(appendAttempts(nil, kept))
}

// decodeAttempts reads the attempts column.
func decodeAttempts(s string) ([]Attempt, error) {
	if s == "" {
		return nil, nil
	}
	var attempts []Attempt
	if err := json.Unmarshal([]byte(s), &attempts); err != nil {
		return nil, fmt.Errorf("attempts column: %w", err)
	}
	return attempts, nil
}
