package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/usage"
)

func testFilters(t *testing.T, dsn string) {
	st := Open(t, dsn, store.Options{})
	a := rec("a", "alice", "gpt-5", T0)
	b := rec("b", "bob", "gpt-5", T0.Add(time.Hour))
	c := rec("c", "alice", "claude-haiku-4-5", T0.Add(2*time.Hour))
	c.Provider = "anthropic"
	d := rec("d", "alice", "gpt-5", T0.Add(3*time.Hour))
	d.Status, d.Error = 502, "upstream: connection reset"
	e := rec("e", "bob", "gpt-5", T0.Add(4*time.Hour))
	e.Status, e.Error = 499, "client disconnected"
	insert(t, st, a, b, c, d, e)
	tests := []struct {
		name string
		f    store.Filter
		want []string
	}{
		{"all", store.Filter{}, []string{"e", "d", "c", "b", "a"}},
		{"login", store.Filter{Login: "alice"}, []string{"d", "c", "a"}},
		{"model", store.Filter{Model: "gpt-5"}, []string{"e", "d", "b", "a"}},
		{"provider", store.Filter{Provider: "anthropic"}, []string{"c"}},
		{"status", store.Filter{Status: 502}, []string{"d"}},
		{"errors", store.Filter{Errors: true}, []string{"e", "d"}},
		{"since", store.Filter{Since: T0.Add(2 * time.Hour)}, []string{"e", "d", "c"}},
		{"until", store.Filter{Until: T0.Add(2 * time.Hour)}, []string{"b", "a"}},
		{"range and login", store.Filter{Login: "bob", Since: T0.Add(time.Minute), Until: T0.Add(5 * time.Hour)}, []string{"e", "b"}},
		{"nothing", store.Filter{Login: "carol"}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ids(all(t, st, tt.f))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ids = %v, want %v", got, tt.want)
			}
		})
	}
}

func testPaging(t *testing.T, dsn string) {
	st := Open(t, dsn, store.Options{})
	var recs []store.Record
	for i := range 25 {
		// Pairs of rows share a timestamp, so the cursor must break ties.
		recs = append(recs, rec(fmt.Sprintf("r%02d", i), "alice", "gpt-5", T0.Add(time.Duration(i/2)*time.Second)))
	}
	insert(t, st, recs...)
	var got []string
	var sizes []int
	p := store.Page{Limit: 10}
	for range 10 {
		page, err := st.Requests(context.Background(), store.Filter{}, p)
		if err != nil {
			t.Fatalf("Requests: %v", err)
		}
		got = append(got, ids(page.Records)...)
		sizes = append(sizes, len(page.Records))
		if page.Next == "" {
			break
		}
		// A row inserted between pages must not shift the next page.
		insert(t, st, rec(fmt.Sprintf("late%d", len(sizes)), "alice", "gpt-5", T0.Add(time.Hour)))
		p.Cursor = page.Next
	}
	var want []string
	for i := 24; i >= 0; i-- {
		want = append(want, fmt.Sprintf("r%02d", i))
	}
	if !reflect.DeepEqual(sizes, []int{10, 10, 5}) || !reflect.DeepEqual(got, want) {
		t.Errorf("pages of %v = %v\nwant pages of [10 10 5] = %v", sizes, got, want)
	}
	if _, err := st.Requests(context.Background(), store.Filter{}, store.Page{Cursor: "garbage"}); !errors.Is(err, store.ErrBadCursor) {
		t.Errorf("bad cursor: err = %v, want ErrBadCursor", err)
	}
}

func testSessions(t *testing.T, dsn string) {
	st := Open(t, dsn, store.Options{})
	at := func(min int) time.Time { return T0.Add(time.Duration(min) * time.Minute) }
	clock := func(min int) string { return at(min).Format(time.Kitchen) }
	var recs []store.Record
	// alice, gpt-5, no header: 0, 10, 35 (pause 25m: same), 70 (pause 35m: new), 80.
	for _, m := range []int{0, 10, 35, 70, 80} {
		recs = append(recs, rec(fmt.Sprintf("g%d", m), "alice", "gpt-5", at(m)))
	}
	// alice, another model at the same times: its own session.
	recs = append(recs, rec("m5", "alice", "gpt-5-mini", at(5)))
	// alice with a client session over two models and a 2-hour pause: one session.
	for i, m := range []int{1, 2, 200} {
		r := rec(fmt.Sprintf("h%d", i), "alice", []string{"claude-sonnet-4-5", "claude-haiku-4-5"}[i%2], at(m))
		r.SessionID, r.Provider = "cc-1", "anthropic"
		recs = append(recs, r)
	}
	// bob at the same times: never in alice's sessions.
	recs = append(recs, rec("b0", "bob", "gpt-5", at(11)))
	insert(t, st, recs...)
	ctx := context.Background()

	page, err := st.Sessions(ctx, store.Filter{Login: "alice"}, store.Page{})
	if err != nil {
		t.Fatalf("Sessions: %v", err)
	}
	type got struct {
		id       string
		header   bool
		requests int64
		models   string
		start    string
		end      string
	}
	var have []got
	for _, s := range page.Sessions {
		have = append(have, got{s.ID, s.FromHeader, s.Requests, fmt.Sprint(s.Models), s.Start.Format(time.Kitchen), s.End.Format(time.Kitchen)})
		if s.Login != "alice" {
			t.Errorf("session %s login = %q", s.ID, s.Login)
		}
	}
	want := []got{
		{"cc-1", true, 3, "[claude-haiku-4-5 claude-sonnet-4-5]", clock(1), clock(200)},
		{"g70", false, 2, "[gpt-5]", clock(70), clock(80)},
		{"g0", false, 3, "[gpt-5]", clock(0), clock(35)},
		{"m5", false, 1, "[gpt-5-mini]", clock(5), clock(5)},
	}
	if !reflect.DeepEqual(have, want) {
		t.Errorf("sessions:\n got %+v\nwant %+v", have, want)
	}

	for _, tt := range []struct {
		session, login string
		want           []string
	}{
		{"g0", "", []string{"g35", "g10", "g0"}},
		{"g70", "alice", []string{"g80", "g70"}},
		{"cc-1", "alice", []string{"h2", "h1", "h0"}},
		{"cc-1", "bob", []string{}},
		{"g0", "bob", []string{}},
		{"unknown", "", []string{}},
	} {
		got := ids(all(t, st, store.Filter{Session: tt.session, Login: tt.login}))
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("requests of session %s as %q = %v, want %v", tt.session, tt.login, got, tt.want)
		}
	}

	// Paging through sessions: one at a time, same order.
	var paged []string
	p := store.Page{Limit: 1}
	for range 10 {
		pg, err := st.Sessions(ctx, store.Filter{Login: "alice"}, p)
		if err != nil {
			t.Fatalf("Sessions page: %v", err)
		}
		for _, s := range pg.Sessions {
			paged = append(paged, s.ID)
		}
		if pg.Next == "" {
			break
		}
		p.Cursor = pg.Next
	}
	if !reflect.DeepEqual(paged, []string{"cc-1", "g70", "g0", "m5"}) {
		t.Errorf("paged sessions = %v", paged)
	}
}

func testUsage(t *testing.T, dsn string) {
	st := Open(t, dsn, store.Options{})
	a := rec("a", "alice", "gpt-5", T0)
	a.Usage = usage.Tokens{Input: usage.Of(1000), Output: usage.Of(100), CacheRead: usage.Of(400)}
	a.CostUSD = 0.5
	b := rec("b", "alice", "claude-sonnet-4-5", T0.Add(25*time.Hour))
	b.Usage = usage.Tokens{Input: usage.Of(2000), Output: usage.Of(200), CacheWrite: usage.Of(300)}
	b.CostUSD, b.Provider = 1.25, "anthropic"
	c := rec("c", "bob", "gpt-5", T0.Add(26*time.Hour))
	c.Usage = usage.Tokens{Input: usage.Of(10), Output: usage.Of(0)}
	c.CostUSD, c.Status = 0.25, 500
	d := rec("d", "bob", "mystery-1", T0.Add(26*time.Hour))
	d.Usage = usage.Tokens{Input: usage.Of(50), Output: usage.Of(5)}
	d.CostUSD, d.CostKnown = 0, false
	insert(t, st, a, b, c, d)

	tot := func(req, errs, in, out, cr, cw int64, cost float64, unknown int64) store.Totals {
		return store.Totals{Requests: req, Errors: errs, InputTokens: in, OutputTokens: out,
			CacheReadTokens: cr, CacheWriteTokens: cw, CostUSD: cost, UnknownCost: unknown}
	}
	tests := []struct {
		by   store.GroupBy
		f    store.Filter
		want []store.Aggregate
	}{
		{store.ByUser, store.Filter{}, []store.Aggregate{
			{Key: "alice", Totals: tot(2, 0, 3000, 300, 400, 300, 1.75, 0)},
			{Key: "bob", Totals: tot(2, 1, 60, 5, 0, 0, 0.25, 1)},
		}},
		{store.ByModel, store.Filter{}, []store.Aggregate{
			{Key: "claude-sonnet-4-5", Totals: tot(1, 0, 2000, 200, 0, 300, 1.25, 0)},
			{Key: "gpt-5", Totals: tot(2, 1, 1010, 100, 400, 0, 0.75, 0)},
			{Key: "mystery-1", Totals: tot(1, 0, 50, 5, 0, 0, 0, 1)},
		}},
		{store.ByProvider, store.Filter{Login: "alice"}, []store.Aggregate{
			{Key: "anthropic", Totals: tot(1, 0, 2000, 200, 0, 300, 1.25, 0)},
			{Key: "openai", Totals: tot(1, 0, 1000, 100, 400, 0, 0.5, 0)},
		}},
		{store.ByDay, store.Filter{}, []store.Aggregate{
			{Key: "2026-03-10", Totals: tot(1, 0, 1000, 100, 400, 0, 0.5, 0)},
			{Key: "2026-03-11", Totals: tot(3, 1, 2060, 205, 0, 300, 1.5, 1)},
		}},
		{store.ByDay, store.Filter{Login: "bob"}, []store.Aggregate{
			{Key: "2026-03-11", Totals: tot(2, 1, 60, 5, 0, 0, 0.25, 1)},
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.by)+"/"+tt.f.Login, func(t *testing.T) {
			got, err := st.Usage(context.Background(), tt.by, tt.f)
			if err != nil {
				t.Fatalf("Usage: %v", err)
			}
			for i := range got {
				// Sums of floats: compare to the cent's millionth.
				got[i].CostUSD = float64(int64(got[i].CostUSD*1e6+0.5)) / 1e6
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("usage by %s:\n got %+v\nwant %+v", tt.by, got, tt.want)
			}
		})
	}
}
