package store

import (
	"regexp"
	"testing"
	"time"
)

func TestNewIDSortsByTime(t *testing.T) {
	base := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	hexID := regexp.MustCompile(`^[0-9a-f]{24}$`)
	seen := map[string]bool{}
	prev := ""
	// Later requests get greater IDs, even a millisecond apart, and IDs of
	// the same millisecond differ.
	for i := range 2000 {
		id := NewID(base.Add(time.Duration(i/4) * time.Millisecond))
		if !hexID.MatchString(id) {
			t.Fatalf("NewID = %q, want 24 hex digits", id)
		}
		if seen[id] {
			t.Fatalf("NewID repeated %q", id)
		}
		seen[id] = true
		if i%4 == 0 && prev != "" && id <= prev {
			t.Fatalf("ID %q of a later millisecond sorts before %q", id, prev)
		}
		prev = id
	}
	if a, b := NewID(time.UnixMilli(1)), NewID(time.UnixMilli(1<<40)); a >= b {
		t.Errorf("NewID order across years: %q >= %q", a, b)
	}
}
