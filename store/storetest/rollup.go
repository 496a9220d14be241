package storetest

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/usage"
)

// rollupRecords are varied requests over three days: users, models,
// agents, statuses, reported and unreported usage, unknown costs.
func rollupRecords() []store.Record {
	logins := []string{"alice", "bob", "carol"}
	models := []string{"gpt-5", "claude-sonnet-4-5", "mystery-1"}
	agents := []string{"claude-cli/1.0.3 (external, cli)", "codex_cli_rs/0.2", "curl/8.5.0", ""}
	var recs []store.Record
	for i := range 240 {
		r := rec(fmt.Sprintf("r%03d", i), logins[i%3], models[(i/3)%3], T0.Add(time.Duration(i)*17*time.Minute))
		r.UserAgent = agents[(i/2)%4]
		switch {
		case i%11 == 0:
			r.Status, r.Error = 502, "upstream failed"
			r.Usage = usage.Tokens{}
			r.CostUSD, r.CostKnown = 0, false
		case i%7 == 0:
			r.Status = 429
			r.Usage = usage.Tokens{}
			r.CostUSD, r.CostKnown = 0, false
		default:
			r.Usage = usage.Tokens{Input: usage.Of(int64(100 + i)), Output: usage.Of(int64(i % 50)),
				CacheRead: usage.Of(int64(i % 13)), CacheWrite: usage.Of(int64(i % 5)), Reasoning: usage.Of(int64(i % 3))}
			r.CostUSD, r.CostKnown = float64(i)/1000, r.Model != "mystery-1"
		}
		recs = append(recs, r)
	}
	return recs
}

// testRollup: the rollups the writer keeps (hourly and daily) answer every filter and
// grouping exactly as a scan of the rows does, a batch inserted twice
// counts once, and retention takes deleted rows out of it.
func testRollup(t *testing.T, dsn string) {
	ctx := context.Background()
	st := Open(t, dsn, store.Options{})
	recs := rollupRecords()
	insert(t, st, recs[:100]...)
	insert(t, st, recs[50:]...) // overlaps: 50 rows already stored

	check := func(t *testing.T) {
		t.Helper()
		filters := []store.Filter{
			{},
			{Login: "alice"},
			{Model: "gpt-5"},
			{Agent: "claude-cli"},
			{Agent: "curl", Login: "bob"},
			{Status: 429},
			{Errors: true},
			// Hours: the hourly table.
			{Since: T0.Add(24 * time.Hour), Until: T0.Add(48 * time.Hour)},
			// Whole days: the daily table.
			{Since: T0.Truncate(24*time.Hour).AddDate(0, 0, 1), Until: T0.Truncate(24*time.Hour).AddDate(0, 0, 2), Login: "bob"},
		}
		dims := []struct {
			by  store.GroupBy
			dim store.Dimension
		}{{store.ByUser, store.DimUser}, {store.ByModel, store.DimModel}, {store.ByDay, store.DimDay}}
		for _, f := range filters {
			for _, d := range dims {
				want, err := st.Usage(ctx, d.by, f)
				if err != nil {
					t.Fatal(err)
				}
				got, err := st.Rollup(ctx, f, d.dim)
				if err != nil {
					t.Fatalf("Rollup(%+v, %s): %v", f, d.dim, err)
				}
				wantBy := map[string]store.Totals{}
				for _, a := range want {
					wantBy[a.Key] = round(a.Totals)
				}
				gotBy := map[string]store.Totals{}
				for _, r := range got {
					k := map[store.Dimension]string{store.DimUser: r.Login, store.DimModel: r.Model, store.DimDay: r.Time.Format(time.DateOnly)}[d.dim]
					gotBy[k] = round(r.Totals)
				}
				if diff := cmp.Diff(wantBy, gotBy); diff != "" {
					t.Errorf("rollup by %s with %+v differs from the rows (-rows +rollup):\n%s", d.dim, f, diff)
				}
			}
		}
	}
	check(t)

	// Reasoning tokens, which the row sums do not carry, and agents.
	all, err := st.Rollup(ctx, store.Filter{}, store.DimAgent)
	if err != nil {
		t.Fatal(err)
	}
	var reasoning, requests int64
	for _, r := range all {
		reasoning += r.ReasoningTokens
		requests += r.Requests
	}
	var wantReasoning int64
	for _, r := range recs {
		wantReasoning += r.Usage.Reasoning.Value()
	}
	if reasoning != wantReasoning || requests != int64(len(recs)) || len(all) != 4 {
		t.Errorf("by agent: %d groups, %d requests, %d reasoning tokens; want 4, %d, %d", len(all), requests, reasoning, len(recs), wantReasoning)
	}

	if _, err := st.DeleteOlderThan(ctx, T0.Add(30*time.Hour+7*time.Minute)); err != nil {
		t.Fatal(err)
	}
	t.Run("after retention", check)
	if _, err := st.Rollup(ctx, store.Filter{Session: "x"}); err == nil {
		t.Error("a session filter on rollups was accepted")
	}
}

func round(t store.Totals) store.Totals {
	t.CostUSD = math.Round(t.CostUSD*1e6) / 1e6
	return t
}
