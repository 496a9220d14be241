package storetest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/quota"
	"github.com/sluice-gateway/sluice/store"
)

// testQuotaLifecycle drives one bucket through reserve, settle, release
// and refill with a fake clock, checking every balance against the quota
// package's own arithmetic.
func testQuotaLifecycle(t *testing.T, dsn string) {
	ctx := context.Background()
	st := Open(t, dsn, store.Options{})
	b := &quota.Bucket{Name: "daily:<user>", Capacity: 10 * quota.Dollar, Rate: quota.Rate{Amount: 5 * quota.Dollar, Per: 24 * time.Hour}}
	name := b.Expand("alice@example.com")
	t0 := T0

	bal, ok, err := st.Reserve(ctx, b, name, 8*quota.Dollar, t0)
	if err != nil || !ok || bal != 2*quota.Dollar {
		t.Fatalf("first reservation on a new bucket: %v %v %v; want $2.00 left of the $10.00 capacity", bal, ok, err)
	}
	bal, ok, err = st.Reserve(ctx, b, name, 3*quota.Dollar, t0.Add(time.Hour))
	if err != nil || ok {
		t.Fatalf("$3.00 reserved with about $2.21 left: %v %v", ok, err)
	}
	if want := b.At(quota.Balance{Amount: 2 * quota.Dollar, Updated: t0}, t0.Add(time.Hour)); bal != want {
		t.Errorf("refused reservation reports %v, want the current %v", bal, want)
	}
	// Twelve hours refill $2.50: $4.50, then settle the $8.00 reservation
	// at an actual cost of $1.00 (returns $7.00, capped at $10.00).
	bal, ok, err = st.Reserve(ctx, b, name, 4*quota.Dollar, t0.Add(12*time.Hour))
	if err != nil || !ok || bal != quota.Dollar/2 {
		t.Fatalf("after 12h of refill: %v %v %v; want $0.50 left", bal, ok, err)
	}
	bal, err = st.Adjust(ctx, b, name, 7*quota.Dollar, t0.Add(12*time.Hour))
	if err != nil || bal != 7*quota.Dollar+quota.Dollar/2 {
		t.Fatalf("settle: %v %v; want $7.50", bal, err)
	}
	// Release the $4.00 reservation whole: capped at capacity.
	bal, err = st.Adjust(ctx, b, name, 4*quota.Dollar, t0.Add(12*time.Hour))
	if err != nil || bal != b.Capacity {
		t.Fatalf("release: %v %v; want the capacity $10.00", bal, err)
	}
	// A cost above the reservation may leave a debt that refill pays off.
	bal, err = st.Adjust(ctx, b, name, -11*quota.Dollar, t0.Add(12*time.Hour))
	if err != nil || bal != -quota.Dollar {
		t.Fatalf("overspend: %v %v; want -$1.00", bal, err)
	}
	if _, ok, _ := st.Reserve(ctx, b, name, 1, t0.Add(12*time.Hour)); ok {
		t.Error("a bucket in debt accepted a reservation")
	}
	// A clock behind the row's (another replica's) refills nothing and
	// does not move the row back in time.
	bal, ok, err = st.Reserve(ctx, b, name, quota.Dollar, t0.Add(36*time.Hour))
	if err != nil || !ok || bal != 3*quota.Dollar {
		t.Fatalf("a day later: %v %v %v; want $3.00 (-$1.00 + $5.00 refill - $1.00)", bal, ok, err)
	}
	bal, ok, err = st.Reserve(ctx, b, name, quota.Dollar, t0)
	if err != nil || !ok || bal != 2*quota.Dollar {
		t.Fatalf("behind the clock: %v %v %v; want $2.00", bal, ok, err)
	}
	got, err := st.Balances(ctx, []string{name, "never-charged"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[name].Amount != 2*quota.Dollar || !got[name].Updated.Equal(t0.Add(36*time.Hour)) {
		t.Errorf("Balances = %v; want only %s at $2.00 as of t0+36h", got, name)
	}
	// A year idle fills the bucket to capacity without overflowing.
	if bal, err := st.Adjust(ctx, b, name, 0, t0.Add(365*24*time.Hour)); err != nil || bal != b.Capacity {
		t.Errorf("a year later: %v %v; want the capacity", bal, err)
	}
}

// testQuotaCapacityLowered: a balance stored under a larger capacity is
// capped at the new one by the next change.
func testQuotaCapacityLowered(t *testing.T, dsn string) {
	ctx := context.Background()
	st := Open(t, dsn, store.Options{})
	big := &quota.Bucket{Name: "team", Capacity: 100 * quota.Dollar}
	if _, ok, err := st.Reserve(ctx, big, "team", quota.Dollar, T0); err != nil || !ok {
		t.Fatalf("reserve: %v %v", ok, err)
	}
	small := &quota.Bucket{Name: "team", Capacity: 5 * quota.Dollar}
	bal, ok, err := st.Reserve(ctx, small, "team", quota.Dollar, T0)
	if err != nil || !ok || bal != 4*quota.Dollar {
		t.Fatalf("after lowering capacity to $5: %v %v %v; want $4.00 ($99 capped at $5, minus $1)", bal, ok, err)
	}
	if bal, err := st.Adjust(ctx, small, "team", 50*quota.Dollar, T0); err != nil || bal != 5*quota.Dollar {
		t.Errorf("refill past the new capacity: %v %v; want $5.00", bal, err)
	}
}

// testQuotaConcurrentReserve: parallel reservations on one bucket never
// take more than it holds, on one connection pool or on two stores (two
// gateways) sharing the database.
func testQuotaConcurrentReserve(t *testing.T, dsn string) {
	ctx := context.Background()
	stores := []store.Store{Open(t, dsn, store.Options{}), Open(t, dsn, store.Options{})}
	b := &quota.Bucket{Name: "shared", Capacity: quota.Dollar}
	const n, each = 60, quota.Dollar / 20 // 60 × $0.05 against $1.00: 20 fit
	var mu sync.Mutex
	granted := 0
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, ok, err := stores[i%2].Reserve(ctx, b, "shared", each, T0)
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				mu.Lock()
				granted++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if granted != 20 {
		t.Errorf("%d of %d $0.05 reservations granted on $1.00; want exactly 20", granted, n)
	}
	got, err := stores[0].Balances(ctx, []string{"shared"})
	if err != nil || got["shared"].Amount != 0 {
		t.Errorf("balance %v (%v), want $0.00", got["shared"].Amount, err)
	}
}

// testQuotaSurvivesReopen: balances are in the database, not the process.
func testQuotaSurvivesReopen(t *testing.T, dsn string) {
	ctx := context.Background()
	b := &quota.Bucket{Name: "b", Capacity: 2 * quota.Dollar}
	st, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := st.Reserve(ctx, b, "b", quota.Dollar+quota.Dollar/4, T0); err != nil || !ok {
		t.Fatalf("reserve: %v %v", ok, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = Open(t, dsn, store.Options{})
	all, err := st.Balances(ctx, nil)
	if err != nil || len(all) != 1 || all["b"].Amount != 3*quota.Dollar/4 {
		t.Errorf("after reopening: %v %v; want b at $0.75", all, err)
	}
}

// testQuotaChain: an overdraft chain spends its first bucket, then the
// next; the last may go into debt from a positive balance; a blocked chain
// reserves nothing anywhere.
func testQuotaChain(t *testing.T, dsn string) {
	ctx := context.Background()
	st := Open(t, dsn, store.Options{})
	chain := []quota.Link{
		{Bucket: &quota.Bucket{Name: "a", Capacity: quota.Dollar}, Name: "a"},
		{Bucket: &quota.Bucket{Name: "b", Capacity: quota.Dollar}, Name: "b"},
	}
	cents := func(n int64) quota.Amount { return quota.Amount(n) * quota.Dollar / 100 }
	steps := []struct {
		amount quota.Amount
		taken  []quota.Amount
		ok     bool
		last   quota.Amount
		a, b   quota.Amount
	}{
		{cents(60), []quota.Amount{cents(60), 0}, true, 0, cents(40), cents(100)},
		{cents(60), []quota.Amount{cents(40), cents(20)}, true, 0, 0, cents(80)},
		{cents(150), []quota.Amount{0, cents(150)}, true, 0, 0, -cents(70)},
		{cents(1), []quota.Amount{0, 0}, false, -cents(70), 0, -cents(70)},
	}
	for i, s := range steps {
		taken, last, ok, err := st.ReserveChain(ctx, chain, s.amount, T0)
		if err != nil || ok != s.ok || last != s.last || !slices.Equal(taken, s.taken) {
			t.Errorf("step %d: ReserveChain(%v) = %v, %v, %v, %v; want %v, %v, %v", i, s.amount, taken, last, ok, err, s.taken, s.last, s.ok)
		}
		bals, err := st.Balances(ctx, []string{"a", "b"})
		if err != nil || bals["a"].Amount != s.a || bals["b"].Amount != s.b {
			t.Errorf("step %d: balances %v (%v), want a %v, b %v", i, bals, err, s.a, s.b)
		}
	}
}

// testQuotaChainConcurrent: parallel chain reservations from two stores
// (two gateways) are each all or nothing. The first bucket holds $1.00,
// the last $0.10: $0.05 at a time, exactly 20 fit in the first, 2 in the
// last, and both end at zero, in any order.
func testQuotaChainConcurrent(t *testing.T, dsn string) {
	ctx := context.Background()
	stores := []store.Store{Open(t, dsn, store.Options{}), Open(t, dsn, store.Options{})}
	mine := &quota.Bucket{Name: "mine", Capacity: quota.Dollar}
	team := &quota.Bucket{Name: "team", Capacity: quota.Dollar}
	if _, err := stores[0].Adjust(ctx, team, "team", -90*quota.Dollar/100, T0); err != nil {
		t.Fatal(err)
	}
	chain := []quota.Link{{Bucket: mine, Name: "mine"}, {Bucket: team, Name: "team"}}
	const n, each = 60, quota.Dollar / 20
	var mu sync.Mutex
	granted := 0
	var took quota.Amount
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			taken, _, ok, err := stores[i%2].ReserveChain(ctx, chain, each, T0)
			if err != nil {
				t.Error(err)
				return
			}
			var sum quota.Amount
			for _, a := range taken {
				sum += a
			}
			if ok != (sum == each) || (!ok && sum != 0) {
				t.Errorf("ReserveChain ok=%v took %v of %v", ok, taken, each)
			}
			mu.Lock()
			defer mu.Unlock()
			if ok {
				granted++
			}
			took += sum
		}()
	}
	wg.Wait()
	if granted != 22 || took != 22*each {
		t.Errorf("%d chain reservations granted (%v taken); want exactly 22 ($1.10)", granted, took)
	}
	bals, err := stores[1].Balances(ctx, []string{"mine", "team"})
	if err != nil || bals["mine"].Amount != 0 || bals["team"].Amount != 0 {
		t.Errorf("balances %v (%v), want both at $0.00", bals, err)
	}
}
