package proxy

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/policy"
)

func providerIDs(ps []*policy.Provider) []string {
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return ids
}

// TestCircuitBreaker: with a fake clock, a provider that failed
// routing.circuit_breaker.failures times in a row is out of rotation for
// the cooldown and back after it; one more failure then takes it out
// again; a success resets the count.
func TestCircuitBreaker(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s := newRouteState()
	s.now = func() time.Time { return now }
	r := policy.DefaultRouting()
	r.BreakerFailures, r.BreakerCooldown = 3, 30*time.Second
	a, b := &policy.Provider{ID: "a"}, &policy.Provider{ID: "b"}
	offers := []*policy.Provider{a, b}

	steps := []struct {
		name    string
		advance time.Duration
		fail    int  // failures of a to report
		succeed bool // a success of a to report, after them
		want    []string
	}{
		{name: "healthy", want: []string{"a", "b"}},
		{name: "two failures keep it", fail: 2, want: []string{"a", "b"}},
		{name: "a success resets the count", succeed: true, want: []string{"a", "b"}},
		{name: "two more are not three in a row", fail: 2, want: []string{"a", "b"}},
		{name: "the third opens the circuit", fail: 1, want: []string{"b"}},
		{name: "still open before the cooldown ends", advance: 29 * time.Second, want: []string{"b"}},
		{name: "back after the cooldown", advance: time.Second, want: []string{"a", "b"}},
		{name: "one failure on probation opens it again", fail: 1, want: []string{"b"}},
		{name: "closed again later", advance: 30 * time.Second, succeed: true, want: []string{"a", "b"}},
	}
	for _, st := range steps {
		now = now.Add(st.advance)
		for range st.fail {
			s.result(r, "a", false)
		}
		if st.succeed {
			s.result(r, "a", true)
		}
		if got := providerIDs(s.order(r, offers)); !slices.Equal(got, st.want) {
			t.Fatalf("%s: order = %v, want %v", st.name, got, st.want)
		}
	}
	// Every provider open: they are all tried rather than none.
	for range 3 {
		s.result(r, "b", false)
		s.result(r, "a", false)
	}
	if got := providerIDs(s.order(r, offers)); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("all open: order = %v, want all in declaration order", got)
	}
}

// TestWeightedBalancing: the first provider tried is drawn in proportion
// to the weights (within 5 points over 10,000 draws with a fixed seed);
// the others stay behind it as fallbacks.
func TestWeightedBalancing(t *testing.T) {
	s := newRouteState()
	rng := rand.New(rand.NewPCG(1, 2))
	s.intn = rng.IntN
	r := policy.DefaultRouting()
	r.Balance = policy.BalanceWeighted
	offers := []*policy.Provider{{ID: "a", Weight: 3}, {ID: "b", Weight: 1}, {ID: "c"}} // c: weight 0 counts as 1
	const n = 10000
	counts := map[string]int{}
	for range n {
		got := s.order(r, offers)
		if len(got) != 3 {
			t.Fatalf("order dropped providers: %v", providerIDs(got))
		}
		counts[got[0].ID]++
	}
	for id, want := range map[string]float64{"a": 0.6, "b": 0.2, "c": 0.2} {
		if share := float64(counts[id]) / n; share < want-0.05 || share > want+0.05 {
			t.Errorf("provider %s first in %.3f of requests, want %.2f±0.05", id, share, want)
		}
	}
	if ids := providerIDs(offers); !slices.Equal(ids, []string{"a", "b", "c"}) {
		t.Errorf("the configuration's order changed: %v", ids)
	}
}

// TestLeastOutstanding: the provider with the fewest requests in flight
// comes first; ties keep declaration order.
func TestLeastOutstanding(t *testing.T) {
	s := newRouteState()
	r := policy.DefaultRouting()
	r.Balance = policy.BalanceLeastOutstanding
	offers := []*policy.Provider{{ID: "a"}, {ID: "b"}, {ID: "c"}}
	if got := providerIDs(s.order(r, offers)); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("idle: %v", got)
	}
	s.enter("a")
	s.enter("a")
	s.enter("b")
	if got := providerIDs(s.order(r, offers)); !slices.Equal(got, []string{"c", "b", "a"}) {
		t.Errorf("busy a (2) and b (1): %v, want c b a", got)
	}
	s.leave("a")
	s.leave("a")
	s.leave("b")
	if got := providerIDs(s.order(r, offers)); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("all done: %v, want declaration order", got)
	}
}
