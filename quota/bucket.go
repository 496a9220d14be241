package quota

import (
	"slices"
	"strings"
	"time"
)

// OnExceedReject is the one on_exceed action: refuse the request (HTTP 429
// with Retry-After).
const OnExceedReject = "reject"

// UserTemplate in a bucket name stands for the caller's login: a name with
// it is one bucket per user.
const UserTemplate = "<user>"

// Bucket is one entry of the quotas section.
type Bucket struct {
	// Name is the configured name, possibly holding UserTemplate.
	Name     string
	Capacity Amount
	Rate     Rate
	OnExceed string
	// Overdraft names the bucket this one borrows from when it cannot
	// cover a request (an overdraft chain: spend this one, then the next;
	// the chain's last bucket may go into debt). Empty for none.
	Overdraft string
}

// Expand returns the name of the bucket a caller is charged in: Name with
// every UserTemplate replaced by login.
func (b *Bucket) Expand(login string) string {
	return strings.ReplaceAll(b.Name, UserTemplate, login)
}

// PerUser reports whether the bucket is one bucket per caller.
func (b *Bucket) PerUser() bool { return strings.Contains(b.Name, UserTemplate) }

// Balance is a bucket's stored state: its balance when it last changed.
// A bucket never charged has no stored state and holds its capacity.
type Balance struct {
	Amount  Amount
	Updated time.Time
}

// At is the balance at now: the stored amount plus the refill since
// Updated, capped at capacity. A stored amount above capacity (capacity
// was lowered) is capped too.
func (b *Bucket) At(s Balance, now time.Time) Amount {
	cur := min(s.Amount, b.Capacity)
	return cur + b.Rate.Refill(now.Sub(s.Updated), b.Capacity-cur)
}

// Reserve takes amount from the balance at now when the balance covers it,
// and returns the new state; ok is false (and s unchanged) when it does
// not. This is the rule every Store implements in one statement.
func (b *Bucket) Reserve(s Balance, amount Amount, now time.Time) (Balance, bool) {
	cur := b.At(s, now)
	if cur < amount {
		return s, false
	}
	return Balance{Amount: cur - amount, Updated: later(s.Updated, now)}, true
}

// Adjust adds delta (negative to charge) to the balance at now, capped at
// capacity but never floored: a request that cost more than it reserved
// may leave the bucket in debt until refills cover it.
func (b *Bucket) Adjust(s Balance, delta Amount, now time.Time) Balance {
	return Balance{Amount: min(b.At(s, now)+delta, b.Capacity), Updated: later(s.Updated, now)}
}

// RetryAfter is how long until the bucket, holding cur, refills enough to
// cover need; false when it never will (need above capacity, or no
// refill).
func (b *Bucket) RetryAfter(cur, need Amount) (time.Duration, bool) {
	if need > b.Capacity {
		return 0, false
	}
	return b.Rate.Until(need - cur)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Link is one bucket of an overdraft chain, its name expanded.
type Link struct {
	Bucket *Bucket
	Name   string
}

// ReserveChain applies the rule of an overdraft chain to the balances of
// its links (in chain order) at now: each bucket but the last gives what
// it holds, never going below zero, until amount is covered; the last
// covers what remains, into debt if need be, but only from a positive
// balance. It returns the new balances and what each link gave (zero for
// links the chain did not reach). When the last bucket is reached with a
// balance of zero or less, ok is false, nothing is taken and last is that
// balance. This is the rule every Store applies all or nothing.
func ReserveChain(chain []Link, bals []Balance, amount Amount, now time.Time) (out []Balance, taken []Amount, last Amount, ok bool) {
	out = slices.Clone(bals)
	taken = make([]Amount, len(chain))
	remaining := amount
	for i, l := range chain {
		b := l.Bucket
		cur := b.At(bals[i], now)
		take := min(max(cur, 0), remaining)
		if i == len(chain)-1 {
			if cur <= 0 {
				return bals, make([]Amount, len(chain)), cur, false
			}
			take = remaining
		}
		taken[i] = take
		out[i] = Balance{Amount: cur - take, Updated: later(bals[i].Updated, now)}
		if remaining -= take; remaining <= 0 {
			break
		}
	}
	return out, taken, 0, true
}
