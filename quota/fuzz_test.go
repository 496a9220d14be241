package quota

import "testing"

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"$10.00", "$0.000000001", "$9223372036.854775807", "$-1", "$1e3", "$.5", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAmount(s)
		if err != nil {
			return
		}
		if a < 0 {
			t.Fatalf("ParseAmount(%q) = %d, negative", s, a)
		}
		// What String writes parses back to the same amount.
		b, err := ParseAmount(a.String())
		if err != nil || b != a {
			t.Fatalf("round trip of %q: %q -> %d, %v", s, a.String(), b, err)
		}
	})
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"$5.00/day", "$1/min", "$500.00/month", "$5.00/days", "$5/", "/day"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			return
		}
		if r.Amount < 0 || r.Per <= 0 {
			t.Fatalf("ParseRate(%q) = %+v", s, r)
		}
		back, err := ParseRate(r.String())
		if err != nil || back != r {
			t.Fatalf("round trip of %q: %q -> %+v, %v", s, r.String(), back, err)
		}
	})
}
