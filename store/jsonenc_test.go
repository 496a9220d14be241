package store

import (
	"encoding/json"
	"testing"
)

// TestJSONColumnsMatchEncodingJSON: the grants, decision and attempts
// columns hold what encoding/json wrote before they were written by hand.
func TestJSONColumnsMatchEncodingJSON(t *testing.T) {
	marshal := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	attempts := []struct {
		name string
		in   []Attempt
	}{
		{"one", []Attempt{{Provider: "openai", Status: 200, Outcome: "ok"}}},
		{"failed over", []Attempt{{Provider: "a", Outcome: "timeout", Error: "dial <tcp>: \"refused\""}, {Provider: "b", Status: 429, Outcome: "rate_limited"}}},
		{"empty fields", []Attempt{{}}},
	}
	for _, tt := range attempts {
		t.Run("attempts/"+tt.name, func(t *testing.T) {
			if got, want := encodeAttempts(tt.in), marshal(tt.in); got != want {
				t.Errorf("got %s, want %s", got, want)
			}
		})
	}
	decisions := []struct {
		name string
		in   DecisionInput
	}{
		{"allow only", DecisionInput{Allow: true}},
		{"refused", DecisionInput{}},
		{"tags and groups", DecisionInput{Tags: []string{"tag:dev", "tag:<ci>"}, Groups: []string{"group:eng"}, Allow: true}},
		{"groups only", DecisionInput{Groups: []string{"g"}}},
		{"empty lists", DecisionInput{Tags: []string{}, Groups: []string{}, Allow: true}},
		{"caps", DecisionInput{Caps: []json.RawMessage{json.RawMessage(`{ "models" : ["<x>"] }`)}, Allow: true}},
	}
	for _, tt := range decisions {
		t.Run("decision/"+tt.name, func(t *testing.T) {
			if got, want := encodeDecision(&tt.in), marshal(&tt.in); got != want {
				t.Errorf("got %s, want %s", got, want)
			}
		})
	}
	grants := []struct {
		name string
		in   []string
	}{
		{"one", []string{"grants[0].app.tailscale.com/cap/aperture[0]"}},
		{"several", []string{"a", "temp_grants[1].grants[0]", "tailnet:caps[2]"}},
		{"odd characters", []string{"a,b", `q"&<>`, "\u2028"}},
	}
	for _, tt := range grants {
		t.Run("grants/"+tt.name, func(t *testing.T) {
			if got, want := encodeGrants(tt.in), marshal(tt.in); got != want {
				t.Errorf("got %s, want %s", got, want)
			}
		})
	}
}
