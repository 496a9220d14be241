package quota

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Rate is a refill rate: Amount added every Per.
type Rate struct {
	Amount Amount
	Per    time.Duration
}

// Units are the refill periods a rate may name. A month is 30 days, as
// Aperture documents it.
var Units = map[string]time.Duration{
	"min":   time.Minute,
	"hour":  time.Hour,
	"day":   24 * time.Hour,
	"week":  7 * 24 * time.Hour,
	"month": 30 * 24 * time.Hour,
}

// ErrRate reports a rate string that is not "<amount>/<unit>".
var ErrRate = errors.New(`want "<amount>/<unit>" such as "$5.00/day" (units: min, hour, day, week, month)`)

// ParseRate reads "$5.00/day" into a Rate.
func ParseRate(s string) (Rate, error) {
	amt, unit, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, fmt.Errorf("rate %q: %w", s, ErrRate)
	}
	per, ok := Units[unit]
	if !ok {
		return Rate{}, fmt.Errorf("rate %q: unknown unit %q: %w", s, unit, ErrRate)
	}
	a, err := ParseAmount(amt)
	if err != nil {
		return Rate{}, fmt.Errorf("rate %q: %w", s, err)
	}
	return Rate{Amount: a, Per: per}, nil
}

// String writes r in the configuration's form, "$5.00/day".
func (r Rate) String() string {
	if r.Per == 0 {
		return ""
	}
	for name, d := range Units {
		if d == r.Per {
			return r.Amount.String() + "/" + name
		}
	}
	return r.Amount.String() + "/" + r.Per.String()
}

// Refill is what the rate adds over elapsed, rounded down to a nanodollar
// and never more than limit (a bucket never refills past its capacity, so
// callers pass the room left). Negative elapsed time (clocks of two
// replicas disagreeing) refills nothing.
func (r Rate) Refill(elapsed time.Duration, limit Amount) Amount {
	if elapsed <= 0 || r.Amount <= 0 || r.Per <= 0 || limit <= 0 {
		return 0
	}
	// amount*elapsed overflows int64 for long idle times; big.Int keeps
	// the product exact.
	p := new(big.Int).Mul(big.NewInt(int64(r.Amount)), big.NewInt(int64(elapsed)))
	p.Quo(p, big.NewInt(int64(r.Per)))
	if !p.IsInt64() || p.Int64() > int64(limit) {
		return limit
	}
	return Amount(p.Int64())
}

// Until is how long the rate takes to add need, rounded up; false when
// it never does (no refill).
func (r Rate) Until(need Amount) (time.Duration, bool) {
	if need <= 0 {
		return 0, true
	}
	if r.Amount <= 0 || r.Per <= 0 {
		return 0, false
	}
	p := new(big.Int).Mul(big.NewInt(int64(need)), big.NewInt(int64(r.Per)))
	q, m := new(big.Int).QuoRem(p, big.NewInt(int64(r.Amount)), new(big.Int))
	if m.Sign() != 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsInt64() {
		return 0, false
	}
	return time.Duration(q.Int64()), true
}
