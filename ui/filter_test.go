package ui

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluice-gateway/sluice/store"
)

// TestParseFilters: a user's filter always holds their own login whatever
// the URL asks; dates default to the page's range and bad values are
// reported, not used.
func TestParseFilters(t *testing.T) {
	now := time.Date(2026, 3, 10, 15, 4, 5, 0, time.UTC)
	h := &Handler{opts: Options{Now: func() time.Time { return now }}}
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	tests := []struct {
		name        string
		query       string
		caller      Caller
		want        store.Filter
		wantProblem bool
	}{
		{"user asks for someone else", "user=boss@example.com", Caller{Login: "alice"},
			store.Filter{Login: "alice", Since: day("2026-02-09"), Until: day("2026-03-11")}, false},
		{"admin asks for a user", "user=bob&model=gpt-5&agent=curl&status=429", Caller{Login: "boss", Admin: true},
			store.Filter{Login: "bob", Model: "gpt-5", Agent: "curl", Status: 429, Since: day("2026-02-09"), Until: day("2026-03-11")}, false},
		{"admin sees everyone", "status=errors", Caller{Login: "boss", Admin: true},
			store.Filter{Errors: true, Since: day("2026-02-09"), Until: day("2026-03-11")}, false},
		{"date range, reversed", "from=2026-03-05&to=2026-03-01", Caller{Login: "alice"},
			store.Filter{Login: "alice", Since: day("2026-03-01"), Until: day("2026-03-06")}, false},
		{"bad status", "status=teapot", Caller{Login: "alice"},
			store.Filter{Login: "alice", Since: day("2026-02-09"), Until: day("2026-03-11")}, true},
		{"bad date", "from=yesterday", Caller{Login: "alice"},
			store.Filter{Login: "alice", Since: day("2026-02-09"), Until: day("2026-03-11")}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.query)
			fl := h.parseFilters(q, tt.caller, usageDays)
			if diff := cmp.Diff(tt.want, fl.f); diff != "" {
				t.Errorf("filter (-want +got):\n%s", diff)
			}
			if (fl.Problem != "") != tt.wantProblem {
				t.Errorf("problem %q", fl.Problem)
			}
		})
	}
}

// TestChartSVG: bars stack per label, the axis tops out at a round number
// at or above the highest stack, and text is escaped.
func TestChartSVG(t *testing.T) {
	tests := []struct {
		name    string
		c       chart
		wantTop string
		bars    int
	}{
		{"counts", chart{Labels: []string{"a", "b"}, Series: []series{{"x", []float64{1, 2}}, {"y", []float64{1, 0}}}}, "4", 3},
		{"tokens", chart{Labels: []string{"a"}, Series: []series{{"x", []float64{1234}}}, Format: formatTokensF}, "2,000", 1},
		{"cost", chart{Labels: []string{"a", "b", "c"}, Series: []series{{"<m>", []float64{0.3, 0, 0.7}}}, Format: formatUSD}, "$1.00", 2},
		{"empty", chart{}, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svg := string(tt.c.SVG())
			if tt.wantTop != "" && !strings.Contains(svg, ">"+tt.wantTop+"</text>") {
				t.Errorf("no axis label %q in %s", tt.wantTop, svg)
			}
			if n := strings.Count(svg, `class="bar"`); n != tt.bars {
				t.Errorf("%d bars, want %d", n, tt.bars)
			}
			if strings.Contains(svg, "<m>") {
				t.Error("series name not escaped")
			}
		})
	}
}
