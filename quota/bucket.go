package quota

import (
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
