package quota

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestParseAmount(t *testing.T) {
	tests := []struct {
		in   string
		want Amount
		err  bool
	}{
		{"$10.00", 10 * Dollar, false},
		{"$10", 10 * Dollar, false},
		{"$0.5", Dollar / 2, false},
		{"$0.000000001", 1, false},
		{"$1234.56789", 1234_567_890_000, false},
		{"$0", 0, false},
		{"$9223372036.854775807", 9223372036854775807, false},
		{"$9223372036.854775808", 0, true},
		{"$9223372037", 0, true},
		{"$99999999999999999999999", 0, true},
		{"$0.0000000001", 0, true},
		{"10.00", 0, true},
		{"$", 0, true},
		{"$-1", 0, true},
		{"$+1", 0, true},
		{"$1e3", 0, true},
		{"$1,000", 0, true},
		{"$.5", 0, true},
		{"$5.", 0, true},
		{"$ 5", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAmount(tt.in)
			if (err != nil) != tt.err {
				t.Fatalf("ParseAmount(%q) error = %v, want error %v", tt.in, err, tt.err)
			}
			if got != tt.want {
				t.Errorf("ParseAmount(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestAmountString(t *testing.T) {
	tests := []struct {
		in   Amount
		want string
	}{
		{10 * Dollar, "$10.00"},
		{Dollar / 2, "$0.50"},
		{1, "$0.000000001"},
		{-Dollar - Dollar/4, "-$1.25"},
		{0, "$0.00"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Amount(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want Rate
		err  bool
	}{
		{"$5.00/day", Rate{5 * Dollar, 24 * time.Hour}, false},
		{"$1/min", Rate{Dollar, time.Minute}, false},
		{"$2/hour", Rate{2 * Dollar, time.Hour}, false},
		{"$3/week", Rate{3 * Dollar, 7 * 24 * time.Hour}, false},
		{"$500.00/month", Rate{500 * Dollar, 30 * 24 * time.Hour}, false},
		{"$5.00/days", Rate{}, true},
		{"$5.00/Day", Rate{}, true},
		{"$5.00", Rate{}, true},
		{"5.00/day", Rate{}, true},
		{"$5.00/day/day", Rate{}, true},
		{"/day", Rate{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRate(tt.in)
			if (err != nil) != tt.err {
				t.Fatalf("ParseRate(%q) error = %v, want error %v", tt.in, err, tt.err)
			}
			if tt.err && !errors.Is(err, ErrRate) && !errors.Is(err, ErrAmount) {
				t.Errorf("ParseRate(%q) error %v wraps neither ErrRate nor ErrAmount", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseRate(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if !tt.err && got.String() != tt.in && tt.in != "$1/min" && tt.in != "$2/hour" && tt.in != "$3/week" {
				t.Errorf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}

// TestRefillOverTime drives one bucket with a fake clock: $10 capacity,
// $5/day, so a day refills half of it and an idle week only fills it.
func TestRefillOverTime(t *testing.T) {
	b := &Bucket{Name: "daily:<user>", Capacity: 10 * Dollar, Rate: Rate{5 * Dollar, 24 * time.Hour}}
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	s := Balance{Amount: b.Capacity, Updated: t0}

	s, ok := b.Reserve(s, 8*Dollar, t0)
	if !ok || s.Amount != 2*Dollar {
		t.Fatalf("first reserve: ok=%v balance %v, want $2.00", ok, s.Amount)
	}
	if _, ok := b.Reserve(s, 3*Dollar, t0.Add(time.Hour)); ok {
		t.Fatal("a $3 reservation passed with about $2.21 in the bucket")
	}
	if got := b.At(s, t0.Add(12*time.Hour)); got != 4*Dollar+Dollar/2 {
		t.Errorf("after 12h: %v, want $4.50", got)
	}
	if got := b.At(s, t0.Add(7*24*time.Hour)); got != b.Capacity {
		t.Errorf("after a week: %v, want capacity %v", got, b.Capacity)
	}
	if got := b.At(s, t0.Add(-time.Hour)); got != 2*Dollar {
		t.Errorf("clock behind the stored time: %v, want the stored $2.00", got)
	}
	// Settling a $1.00 answer on the $8.00 reservation returns $7.00.
	s = b.Adjust(s, 7*Dollar, t0)
	if s.Amount != 9*Dollar {
		t.Errorf("after settle: %v, want $9.00", s.Amount)
	}
	// Settling more than reserved may go into debt.
	s = b.Adjust(s, -12*Dollar, t0)
	if s.Amount != -3*Dollar {
		t.Errorf("after overspend: %v, want -$3.00", s.Amount)
	}
	d, ok := b.RetryAfter(s.Amount, Dollar)
	if !ok || d != 19*time.Hour+12*time.Minute {
		t.Errorf("RetryAfter($1 from -$3) = %v, %v; want 19h12m (=$4 at $5/day)", d, ok)
	}
	if _, ok := b.RetryAfter(0, 11*Dollar); ok {
		t.Error("RetryAfter above capacity reported a time")
	}
}

func TestCapacityLoweredCapsBalance(t *testing.T) {
	b := &Bucket{Capacity: 3 * Dollar, Rate: Rate{Dollar, time.Hour}}
	t0 := time.Unix(0, 0)
	if got := b.At(Balance{Amount: 10 * Dollar, Updated: t0}, t0.Add(time.Hour)); got != 3*Dollar {
		t.Errorf("balance stored under a larger capacity: %v, want the new capacity $3.00", got)
	}
}

func TestRefillNoOverflow(t *testing.T) {
	r := Rate{Amount: 9_000_000_000 * Dollar / 1000, Per: time.Minute}
	if got := r.Refill(100*365*24*time.Hour, 5*Dollar); got != 5*Dollar {
		t.Errorf("a century at a huge rate: %v, want the limit $5.00", got)
	}
}

func TestExpand(t *testing.T) {
	tests := []struct{ name, login, want string }{
		{"daily:<user>", "alice@example.com", "daily:alice@example.com"},
		{"team-monthly", "alice@example.com", "team-monthly"},
		{"<user>/<user>", "bob", "bob/bob"},
	}
	for _, tt := range tests {
		b := &Bucket{Name: tt.name}
		if got := b.Expand(tt.login); got != tt.want {
			t.Errorf("Expand(%q, %q) = %q, want %q", tt.name, tt.login, got, tt.want)
		}
		if b.PerUser() != (tt.want != tt.name) {
			t.Errorf("PerUser(%q) = %v", tt.name, b.PerUser())
		}
	}
}

// TestFractionMatchesRefill: the integer fraction stores refill with gives
// the exact refill over whole milliseconds, and never overflows for odd
// rates.
func TestFractionMatchesRefill(t *testing.T) {
	rates := []string{"$5.00/day", "$500.00/month", "$0.000000001/month", "$9223372036.854775807/min", "$10.000000001/month", "$1/week"}
	for _, s := range rates {
		r, err := ParseRate(s)
		if err != nil {
			t.Fatal(err)
		}
		num, den := r.Fraction()
		if den <= 0 || num < 0 || (num > 0 && num > math.MaxInt64/den) {
			t.Fatalf("%s: fraction %d/%d overflows", s, num, den)
		}
		b := &Bucket{Capacity: 100 * Dollar, Rate: r}
		maxe := b.FillMillis()
		for _, ms := range []int64{1, 999, 3_600_000, 86_400_000, 40 * 86_400_000} {
			e := min(ms, maxe)
			got := Amount((e/den)*num + ((e%den)*num)/den)
			got = min(got, b.Capacity)
			want := r.Refill(time.Duration(ms)*time.Millisecond, b.Capacity)
			// Equal up to a nanodollar, or a billionth for a halved
			// fraction.
			if d := math.Abs(float64(got - want)); d > 1+float64(want)*1e-9 {
				t.Errorf("%s over %dms: fraction refill %d, exact %d", s, ms, got, want)
			}
		}
	}
}
