package store

import (
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/usage"
)

// benchRecord is a record as the gateway writes one for a plain chat
// request: one grant, a decision, one attempt.
func benchRecord() Record {
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return Record{
		ID: NewID(t), Time: t, Login: "alice@example.com", NodeID: "nABCDEF", NodeName: "laptop", Tailnet: "example.com",
		Provider: "openai", Model: "gpt-5", Format: "openai_chat", Method: "POST", Path: "/v1/chat/completions",
		Status: 200, Latency: 900 * time.Millisecond, TTFB: 300 * time.Millisecond,
		Usage:   usage.Tokens{Input: usage.Of(120), Output: usage.Of(40)},
		CostUSD: 0.0012, CostKnown: true, RequestBytes: 420, ResponseBytes: 1800,
		UserAgent: "claude-cli/2.1.0 (external, cli)", Revision: "r1a2b3c", Instance: "gw-1",
		Grants:   []string{"grants[0].app.tailscale.com/cap/aperture[0]"},
		Decision: &DecisionInput{Tags: []string{"tag:dev"}, Groups: []string{"group:eng"}, Allow: true},
		Attempts: []Attempt{{Provider: "openai", Status: 200, Outcome: "ok"}},
	}
}

func BenchmarkRecordArgs(b *testing.B) {
	r := benchRecord()
	args := make([]any, 0, len(requestColumns))
	b.ReportAllocs()
	for b.Loop() {
		args = appendRecordArgs(args[:0], &r, false)
	}
}

func BenchmarkRecordValues(b *testing.B) {
	r := benchRecord()
	vals := make([]colValue, 0, len(requestColumns))
	b.ReportAllocs()
	for b.Loop() {
		vals = appendRecordValues(vals[:0], &r, false)
	}
}

// TestRecordValuesAreArgs: the unboxed values SQLite's batch inserts bind
// are, column by column, the driver values of every other insert.
func TestRecordValuesAreArgs(t *testing.T) {
	full := benchRecord()
	full.Usage.Reasoning = usage.Of(0)
	tests := []struct {
		name    string
		r       Record
		hasRaws bool
	}{
		{"plain chat request", benchRecord(), false},
		{"usage not reported, raws kept", Record{ID: "x", Stream: true, Truncated: true}, true},
		{"every count reported", full, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals := appendRecordValues(nil, &tt.r, tt.hasRaws)
			args := appendRecordArgs(nil, &tt.r, tt.hasRaws)
			if len(vals) != len(requestColumns) || len(args) != len(requestColumns) {
				t.Fatalf("%d values and %d args for %d columns", len(vals), len(args), len(requestColumns))
			}
			for i, v := range vals {
				if got := v.arg(); got != args[i] {
					t.Errorf("column %s: value %#v, arg %#v", requestColumns[i], got, args[i])
				}
			}
		})
	}
}
