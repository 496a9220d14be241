// Package quota holds spend limits as token buckets of money: a bucket has a
// capacity (its starting and maximum balance) and a refill rate, and every
// request reserves its worst-case cost before it is forwarded, then settles
// to its actual cost when the answer ends.
//
// Money is counted in integer nanodollars ([Amount]) from the configuration
// strings on ("$10.00", "$5.00/day"), so no rounding of floats can let a
// bucket drift. Refill is computed lazily from the time elapsed since a
// bucket last changed, never by a timer, so a balance kept in a database is
// correct for every replica that reads it.
//
// The package knows nothing of HTTP or API formats; balances live behind a
// [Store] whose every change is atomic: one statement (or, for an
// overdraft chain, one transaction) in a shared database, one critical
// section in a gateway that keeps them in memory.
package quota

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Amount is a sum of money in nanodollars (1e-9 USD). Balances may go
// negative when a request costs more than it reserved.
type Amount int64

// Dollar is one US dollar.
const Dollar Amount = 1_000_000_000

// ErrAmount reports an amount string that is not "$" followed by a decimal
// number with at most nine decimals.
var ErrAmount = errors.New(`want "$" followed by a decimal number such as "$10.00" (at most 9 decimals)`)

// maxDollars bounds the integer part so that parsing cannot overflow:
// 9,223,372,036 dollars is the most an int64 of nanodollars holds.
const maxDollars = math.MaxInt64 / int64(Dollar)

// ParseAmount reads "$10.00" (or "$10", "$0.000001") into nanodollars.
// Negative amounts, signs, exponents, separators and more than nine
// decimals are refused: a budget is written the way people write prices.
func ParseAmount(s string) (Amount, error) {
	rest, ok := strings.CutPrefix(s, "$")
	if !ok || rest == "" {
		return 0, fmt.Errorf("amount %q: %w", s, ErrAmount)
	}
	whole, frac, hasDot := strings.Cut(rest, ".")
	if whole == "" || !digits(whole) || (hasDot && (frac == "" || !digits(frac))) || len(frac) > 9 {
		return 0, fmt.Errorf("amount %q: %w", s, ErrAmount)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > maxDollars {
		return 0, fmt.Errorf("amount %q: too large", s)
	}
	n := w * int64(Dollar)
	if frac != "" {
		f, _ := strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
		if n > math.MaxInt64-f {
			return 0, fmt.Errorf("amount %q: too large", s)
		}
		n += f
	}
	return Amount(n), nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String writes a in the configuration's form, "$1.50", keeping every
// nonzero decimal ("$0.000000001"), and a leading "-" when negative.
func (a Amount) String() string {
	sign := ""
	u := uint64(a)
	if a < 0 {
		sign, u = "-", uint64(-(a+1))+1
	}
	whole, frac := u/uint64(Dollar), u%uint64(Dollar)
	fs := fmt.Sprintf("%09d", frac)
	fs = strings.TrimRight(fs, "0")
	for len(fs) < 2 {
		fs += "0"
	}
	return sign + "$" + strconv.FormatUint(whole, 10) + "." + fs
}
