package store_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-gateway/sluice/quota"
	"github.com/sluice-gateway/sluice/store"
	"github.com/sluice-gateway/sluice/store/storetest"
)

// BenchmarkQuotaReserveSettle measures what quotas add to a request: one
// reservation and its settlement, on SQLite and, with SLUICE_TEST_POSTGRES,
// on PostgreSQL.
func BenchmarkQuotaReserveSettle(b *testing.B) {
	for _, db := range []struct {
		name string
		dsn  func(b *testing.B) string
	}{
		{"sqlite", func(b *testing.B) string { return filepath.Join(b.TempDir(), "sluice.db") }},
		{"postgres", func(b *testing.B) string { return storetest.PostgresDSN(b) }},
	} {
		b.Run(db.name, func(b *testing.B) {
			ctx := context.Background()
			st, err := store.Open(ctx, db.dsn(b), store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			bucket := &quota.Bucket{Name: "daily:<user>", Capacity: 1000 * quota.Dollar, Rate: quota.Rate{Amount: 1000 * quota.Dollar, Per: time.Minute}}
			name := bucket.Expand("alice@example.com")
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				now := time.Now()
				if _, ok, err := st.Reserve(ctx, bucket, name, quota.Dollar/100, now); err != nil || !ok {
					b.Fatalf("reserve: %v %v", ok, err)
				}
				// Settle at a cost of one nanodollar, so the bucket
				// lasts however many iterations run.
				if _, err := st.Adjust(ctx, bucket, name, quota.Dollar/100-1, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkQuotaChainReserveSettle measures an overdraft chain's
// reservation (the first bucket empty, the second covering it) and its
// settlement.
func BenchmarkQuotaChainReserveSettle(b *testing.B) {
	for _, db := range []struct {
		name string
		dsn  func(b *testing.B) string
	}{
		{"sqlite", func(b *testing.B) string { return filepath.Join(b.TempDir(), "sluice.db") }},
		{"postgres", func(b *testing.B) string { return storetest.PostgresDSN(b) }},
	} {
		b.Run(db.name, func(b *testing.B) {
			ctx := context.Background()
			st, err := store.Open(ctx, db.dsn(b), store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			mine := &quota.Bucket{Name: "mine", Capacity: 0}
			team := &quota.Bucket{Name: "team", Capacity: 1000 * quota.Dollar, Rate: quota.Rate{Amount: 1000 * quota.Dollar, Per: time.Minute}}
			chain := []quota.Link{{Bucket: mine, Name: "mine"}, {Bucket: team, Name: "team"}}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				now := time.Now()
				if _, _, ok, err := st.ReserveChain(ctx, chain, quota.Dollar/100, now); err != nil || !ok {
					b.Fatalf("reserve: %v %v", ok, err)
				}
				if _, err := st.Adjust(ctx, team, "team", quota.Dollar/100-1, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
