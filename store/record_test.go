package store

import (
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sluice-gateway/sluice/policy"
	"github.com/sluice-gateway/sluice/usage"
)

var of = usage.Of

func TestCost(t *testing.T) {
	sonnet := policy.Price{Input: 3, Output: 15, CacheRead: 0.30, CacheWrite: 3.75}
	tests := []struct {
		name  string
		price policy.Price
		u     usage.Tokens
		want  float64
	}{
		// 1M uncached input at $3 + 1M output at $15.
		{"plain", sonnet, usage.Tokens{Input: of(1_000_000), Output: of(1_000_000)}, 18},
		// Anthropic: 200k fresh ($0.60) + 800k read ($0.24) + 100k written
		// ($0.375) + 10k out ($0.15); Input counts all three.
		{"anthropic cache", sonnet, usage.Tokens{Input: of(1_100_000), CacheRead: of(800_000), CacheWrite: of(100_000), Output: of(10_000)}, 0.6 + 0.24 + 0.375 + 0.15},
		// OpenAI: 1M prompt of which 600k cached: 400k × $1.25 + 600k ×
		// $0.125 + 100k out × $10.
		{"openai cache", policy.Price{Input: 1.25, Output: 10, CacheRead: 0.125}, usage.Tokens{Input: of(1_000_000), CacheRead: of(600_000), Output: of(100_000)}, 0.5 + 0.075 + 1},
		// No cache rates: cached tokens bill at the input rate, never free.
		{"missing cache rates", policy.Price{Input: 2, Output: 4}, usage.Tokens{Input: of(1_000_000), CacheRead: of(250_000), CacheWrite: of(250_000)}, 2},
		{"inconsistent counts never go negative", policy.Price{Input: 1, Output: 1}, usage.Tokens{Input: of(100), CacheRead: of(300)}, 300.0 / 1e6},
		{"nothing used", sonnet, usage.Tokens{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Record{Usage: tt.u}
			if got := Cost(tt.price, &r); math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("Cost = %.9f, want %.9f", got, tt.want)
			}
		})
	}
}

func TestSetCost(t *testing.T) {
	cfg := &policy.Config{Pricing: map[string]policy.Price{"house-model": {Input: 1, Output: 1}}}
	full := usage.Tokens{Input: of(1000), Output: of(1000)}
	tests := []struct {
		name  string
		model string
		u     usage.Tokens
		known bool
		want  float64
	}{
		{"priced", "gpt-5", full, true, (1000*1.25 + 1000*10) / 1e6},
		{"configured price", "house-model", full, true, 2000 / 1e6},
		{"bedrock id", "us.anthropic.claude-haiku-4-5-20251001-v1:0", full, true, (1000*1 + 1000*5) / 1e6},
		{"no price", "mystery-9000", full, false, 0},
		{"reported zeros", "house-model", usage.Tokens{Input: of(0), Output: of(0)}, true, 0},
		// A stream aborted before its usage arrived: unknown, not free.
		{"usage not reported", "gpt-5", usage.Tokens{}, false, 0},
		{"output not reported", "gpt-5", usage.Tokens{Input: of(1000)}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Record{Model: tt.model, Usage: tt.u, CostUSD: 99, CostKnown: !tt.known}
			r.SetCost(cfg)
			if r.CostKnown != tt.known || math.Abs(r.CostUSD-tt.want) > 1e-12 {
				t.Errorf("SetCost: %v %v, want %v %v", r.CostUSD, r.CostKnown, tt.want, tt.known)
			}
		})
	}
}

func TestSessionFromHeader(t *testing.T) {
	tests := []struct {
		name string
		h    http.Header
		want string
	}{
		{"claude code", http.Header{"X-Claude-Code-Session-Id": {"cc-1"}}, "cc-1"},
		{"codex hyphen", http.Header{"Session-Id": {"cx-1"}}, "cx-1"},
		// net/http's server canonicalises "session_id" to "Session_id".
		{"codex underscore", http.Header{"Session_id": {"cx-3"}}, "cx-3"},
		{"generic", http.Header{"X-Session-Id": {"s-1"}}, "s-1"},
		{"claude code wins", http.Header{"X-Session-Id": {"s-1"}, "X-Claude-Code-Session-Id": {"cc-1"}}, "cc-1"},
		{"invalid value skipped", http.Header{"X-Claude-Code-Session-Id": {"has space"}, "X-Session-Id": {"s-2"}}, "s-2"},
		{"too long", http.Header{"X-Session-Id": {string(make([]byte, 129))}}, ""},
		{"none", http.Header{"User-Agent": {"curl"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SessionFromHeader(tt.h); got != tt.want {
				t.Errorf("SessionFromHeader = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseDSN(t *testing.T) {
	tests := []struct {
		dsn, backend, target string
		err                  bool
	}{
		{"/var/lib/sluice/sluice.db", BackendSQLite, "/var/lib/sluice/sluice.db", false},
		{"sluice.db", BackendSQLite, "sluice.db", false},
		{"sqlite:/data/s.db", BackendSQLite, "/data/s.db", false},
		{"sqlite:///data/s.db", BackendSQLite, "/data/s.db", false},
		{"postgres://u@db:5432/sluice", BackendPostgres, "postgres://u@db:5432/sluice", false},
		{"postgresql://u@db/sluice?sslmode=require", BackendPostgres, "postgresql://u@db/sluice?sslmode=require", false},
		{"mysql://u@db/sluice", "", "", true},
		{"sqlite:", "", "", true},
		{"", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			backend, target, err := ParseDSN(tt.dsn)
			if (err != nil) != tt.err || backend != tt.backend || target != tt.target {
				t.Errorf("ParseDSN = %q, %q, %v; want %q, %q, error %v", backend, target, err, tt.backend, tt.target, tt.err)
			}
			if err != nil && !errors.Is(err, ErrUnknownScheme) {
				t.Errorf("error %v is not ErrUnknownScheme", err)
			}
		})
	}
}

func TestCleanText(t *testing.T) {
	tests := []struct {
		name, in string
		limit    int
		want     string
	}{
		{"clean", "hello", 10, "hello"},
		{"invalid utf-8", "a\xffb", 10, "a\uFFFDb"},
		{"nul", "a\x00b", 10, "ab"},
		{"cut on a rune boundary", "ééé", 5, "éé"},
		{"ascii cut", "abcdefghijkl", 10, "abcdefghij"},
		{"nul in the first eight bytes", "abc\x00defghijk", 20, "abcdefghijk"},
		{"nul after eight bytes", "abcdefghij\x00k", 20, "abcdefghijk"},
		{"high byte after eight bytes", "abcdefghij\x80", 20, "abcdefghij\uFFFD"},
		{"empty", "", 10, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cleanText(tt.in, tt.limit); got != tt.want {
				t.Errorf("cleanText(%q, %d) = %q, want %q", tt.in, tt.limit, got, tt.want)
			}
		})
	}
}

// FuzzCleanText: cleanText's pass for plain ASCII gives what the general
// cleaning gives, and takes exactly the text that is ASCII without NUL
// bytes.
func FuzzCleanText(f *testing.F) {
	f.Add("hello", 10)
	f.Add("abcdefgh\x00", 64)
	f.Add("abcdefg\x7f\x80", 64)
	f.Add("ééé", 5)
	f.Add("", 0)
	f.Fuzz(func(t *testing.T, s string, limit int) {
		if limit < 0 {
			limit = -limit
		}
		limit %= 1 << 16
		if got, want := cleanText(s, limit), cleanTextAny(s, limit); got != want {
			t.Fatalf("cleanText(%q, %d) = %q, the general cleaning gives %q", s, limit, got, want)
		}
		want := utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
		for i := range len(s) {
			want = want && s[i] < utf8.RuneSelf
		}
		if got := plainText(s); got != want {
			t.Fatalf("plainText(%q) = %v, want %v", s, got, want)
		}
	})
}

func TestRebind(t *testing.T) {
	q := "SELECT a FROM t WHERE x = ? AND y IN (?, ?)"
	if got := postgresDialect.rebind(q); got != "SELECT a FROM t WHERE x = $1 AND y IN ($2, $3)" {
		t.Errorf("postgres rebind = %q", got)
	}
	if got := sqliteDialect.rebind(q); got != q {
		t.Errorf("sqlite rebind = %q", got)
	}
}

func FuzzParseDSN(f *testing.F) {
	for _, s := range []string{"sluice.db", "sqlite:x.db", "postgres://u@h/db", "x://y", "sqlite://"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		backend, target, err := ParseDSN(dsn)
		if err != nil {
			return
		}
		if target == "" || (backend != BackendSQLite && backend != BackendPostgres) {
			t.Fatalf("ParseDSN(%q) = %q, %q", dsn, backend, target)
		}
	})
}

func FuzzRequestCursor(f *testing.F) {
	f.Add(encodeRequestCursor(requestCursor{timeUS: 1773133200000000, id: "req-1"}))
	f.Add("")
	f.Add("cjE3NzM6YQ")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeRequestCursor(s)
		if err != nil {
			if !errors.Is(err, ErrBadCursor) {
				t.Fatalf("decode error %v is not ErrBadCursor", err)
			}
			return
		}
		// What decodes re-encodes to a cursor that decodes the same.
		back, err := decodeRequestCursor(encodeRequestCursor(c))
		if err != nil || back != c {
			t.Fatalf("round trip of %q: %+v vs %+v, %v", s, c, back, err)
		}
	})
}
