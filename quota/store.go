package quota

import (
	"context"
	"math"
	"math/big"
	"time"
)

// Store keeps bucket balances. Each method is one atomic change (one
// conditional UPDATE in SQL, one transaction for a chain, one critical
// section in memory), so any number of gateways sharing a database never
// lose or double a reservation.
type Store interface {
	// Reserve takes amount from the bucket named name (b's configuration,
	// name expanded) when its balance at now covers it, returning the new
	// balance and true; or, leaving it unchanged, the current balance and
	// false. A bucket never charged starts at b.Capacity.
	Reserve(ctx context.Context, b *Bucket, name string, amount Amount, now time.Time) (Amount, bool, error)
	// ReserveChain reserves amount along an overdraft chain by the rule
	// of the package function ReserveChain, all or nothing: when the
	// chain cannot cover it, no bucket of the chain keeps anything
	// reserved (ok is false, last is the last bucket's balance). Buckets
	// never charged start at their capacity.
	ReserveChain(ctx context.Context, chain []Link, amount Amount, now time.Time) (taken []Amount, last Amount, ok bool, err error)
	// Adjust adds delta to the balance (negative charges), capped at
	// b.Capacity and never floored, and returns the new balance. Settling
	// returns reservation minus cost; releasing returns the reservation;
	// an admin refill adds an amount.
	Adjust(ctx context.Context, b *Bucket, name string, delta Amount, now time.Time) (Amount, error)
	// Balances returns the stored state of the named buckets (every
	// stored bucket when names is nil). A bucket never charged is absent:
	// it holds its capacity.
	Balances(ctx context.Context, names []string) (map[string]Balance, error)
}

// Fraction is a rate as an exact fraction of nanodollars per millisecond,
// Num/Den, reduced, for stores that refill in integer SQL: the refill over
// e milliseconds is (e/Den)*Num + ((e%Den)*Num)/Den, which never
// overflows when Num*Den fits an int64. For the rare rate whose reduced
// fraction does not fit, both are halved until it does, changing the rate
// by under a billionth.
func (r Rate) Fraction() (num, den int64) {
	ms := r.Per.Milliseconds()
	if r.Amount <= 0 || ms <= 0 {
		return 0, 1
	}
	g := new(big.Int).GCD(nil, nil, big.NewInt(int64(r.Amount)), big.NewInt(ms)).Int64()
	num, den = int64(r.Amount)/g, ms/g
	for den > 1 && num > math.MaxInt64/den {
		num, den = num/2, den/2
	}
	for num > 1 && num > math.MaxInt64/max(den, 1) {
		num /= 2
	}
	return num, max(den, 1)
}

// FillMillis bounds the elapsed time a refill counts: the milliseconds the
// rate takes to fill an empty bucket to capacity (at least), so that the
// refill arithmetic of a long-idle bucket stays within an int64.
func (b *Bucket) FillMillis() int64 {
	num, den := b.Rate.Fraction()
	if num == 0 || b.Capacity <= 0 {
		return 0
	}
	p := new(big.Int).Mul(big.NewInt(int64(b.Capacity)), big.NewInt(den))
	p.Quo(p, big.NewInt(num))
	p.Add(p, big.NewInt(den)) // rounds up past one more step of the fraction
	// (e/den)*num stays under MaxInt64/2 for e up to this limit.
	limit := new(big.Int).Mul(big.NewInt(math.MaxInt64/2/num), big.NewInt(den))
	if p.Cmp(limit) > 0 {
		p = limit
	}
	if !p.IsInt64() {
		return math.MaxInt64 / 2
	}
	return p.Int64()
}
