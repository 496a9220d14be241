package store

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecisionColumn(t *testing.T) {
	huge := json.RawMessage(`{"models": "` + strings.Repeat("x", maxDecisionText) + `"}`)
	tests := []struct {
		name string
		in   *DecisionInput
		want *DecisionInput // read back
	}{
		{"no decision", nil, nil},
		{"denied, no attributes", &DecisionInput{}, &DecisionInput{}},
		{"full", &DecisionInput{Tags: []string{"tag:ci"}, Groups: []string{"group:eng"}, Caps: []json.RawMessage{json.RawMessage(`{"role":"user"}`)}, Allow: true},
			&DecisionInput{Tags: []string{"tag:ci"}, Groups: []string{"group:eng"}, Caps: []json.RawMessage{json.RawMessage(`{"role":"user"}`)}, Allow: true}},
		// Cut, it would replay as another caller: not kept at all.
		{"too large to keep", &DecisionInput{Caps: []json.RawMessage{huge}, Allow: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			col := encodeDecision(tt.in)
			if len(col) > maxDecisionText {
				t.Fatalf("column of %d bytes", len(col))
			}
			got, err := decodeDecision(col)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("read back (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := decodeDecision("{not json"); err == nil {
		t.Error("a corrupt column read without an error")
	}
}
