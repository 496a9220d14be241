package store

import (
	"slices"
	"strings"
	"testing"
)

func TestGrantsColumn(t *testing.T) {
	tests := []struct {
		name   string
		grants []string
		column string // "" means: only check the round trip
		want   []string
	}{
		{"none is empty text", nil, "", nil},
		{"empty list is empty text", []string{}, "", nil},
		{"config grant", []string{"temp_grants[0].grants[1]"}, `["temp_grants[0].grants[1]"]`, []string{"temp_grants[0].grants[1]"}},
		{"config and tailnet", []string{"grants[2].app.tailscale.com/cap/aperture[0]", "tailnet:caps[0]"},
			`["grants[2].app.tailscale.com/cap/aperture[0]","tailnet:caps[0]"]`,
			[]string{"grants[2].app.tailscale.com/cap/aperture[0]", "tailnet:caps[0]"}},
		{"separators survive", []string{"grants[0].a,b\nc[0]", `grants[1]."q"[0]`}, "", []string{"grants[0].a,b\nc[0]", `grants[1]."q"[0]`}},
		{"text is cleaned", []string{"grants[0].x\x00y\xff[0]"}, "", []string{"grants[0].xy\uFFFD[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			col := encodeGrants(tt.grants)
			if tt.column != "" && col != tt.column {
				t.Errorf("column = %s, want %s", col, tt.column)
			}
			if len(tt.grants) == 0 && col != "" {
				t.Errorf("column = %q, want empty text for no grants", col)
			}
			if len(col) > maxGrantsText {
				t.Errorf("column is %d bytes, over %d", len(col), maxGrantsText)
			}
			got, err := decodeGrants(col)
			if err != nil {
				t.Fatalf("decode %q: %v", col, err)
			}
			if !slices.Equal(got, tt.want) || (tt.want == nil) != (got == nil) {
				t.Errorf("round trip = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestGrantsColumnCutKeepsFirst: a list over the column's bound keeps
// whole sources, the first ones.
func TestGrantsColumnCutKeepsFirst(t *testing.T) {
	var grants []string
	for i := range 1000 {
		grants = append(grants, "grants["+strings.Repeat("0", 3)+string(rune('a'+i%26))+"]")
	}
	got, err := decodeGrants(encodeGrants(grants))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || len(got) >= len(grants) || !slices.Equal(got, grants[:len(got)]) {
		t.Errorf("cut list has %d of %d sources; want a non-empty prefix", len(got), len(grants))
	}
}

func TestGrantsColumnRefusesOtherText(t *testing.T) {
	for _, s := range []string{"null", "{}", `"grants[0]"`, "temp_grants[0].grants[1]", `[1]`, `["a"`} {
		if got, err := decodeGrants(s); err == nil {
			t.Errorf("decodeGrants(%q) = %q, want an error", s, got)
		}
	}
}

// FuzzGrantsColumn: any column text decodes to a list or an error, never
// a panic, and any list encodes to a bounded column that decodes back to
// the cleaned prefix of the list.
func FuzzGrantsColumn(f *testing.F) {
	for _, s := range []string{"", "[]", `["temp_grants[0].grants[1]"]`, `["tailnet:caps[0]","grants[2].x[0]"]`, "null", "a\nb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, err := decodeGrants(s); err == nil && got != nil && len(got) == 0 {
			t.Fatalf("decodeGrants(%q) = empty non-nil list", s)
		}
		grants := strings.Split(s, "\n")
		col := encodeGrants(grants)
		if len(col) > maxGrantsText {
			t.Fatalf("column of %q is %d bytes", s, len(col))
		}
		got, err := decodeGrants(col)
		if err != nil {
			t.Fatalf("decode of encoded %q: %v", col, err)
		}
		if len(got) > len(grants) {
			t.Fatalf("%d sources from %d", len(got), len(grants))
		}
		for i, g := range got {
			if want := cleanText(grants[i], maxShortText); g != want {
				t.Fatalf("source %d = %q, want %q", i, g, want)
			}
		}
	})
}
