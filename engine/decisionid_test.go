package engine

import (
	"encoding/binary"
	"encoding/hex"
	"sync"
	"testing"
)

// TestDecisionIDsConcurrent: goroutines taking IDs at once, from one
// batch and through the swaps to the next, never get the same one.
func TestDecisionIDsConcurrent(t *testing.T) {
	const goroutines, each = 16, 5000
	ids := make([][]string, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for range each {
				ids[g] = append(ids[g], newDecisionID())
			}
		})
	}
	wg.Wait()
	seen := make(map[string]bool, goroutines*each)
	for _, list := range ids {
		for _, id := range list {
			if !uuidRE.MatchString(id) {
				t.Fatalf("%q is not a version 4 UUID", id)
			}
			if seen[id] {
				t.Fatalf("%q handed out twice", id)
			}
			seen[id] = true
		}
	}
}

// uuidByHex is putUUID written plainly, with encoding/hex.
func uuidByHex(hi, lo uint64) string {
	var u [16]byte
	binary.BigEndian.PutUint64(u[0:8], hi)
	binary.BigEndian.PutUint64(u[8:16], lo)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// FuzzPutUUID compares putUUID's digit arithmetic with encoding/hex.
func FuzzPutUUID(f *testing.F) {
	f.Add(uint64(0), uint64(0))
	f.Add(^uint64(0), ^uint64(0))
	f.Add(uint64(0x0123456789abcdef), uint64(0xfedcba9876543210))
	f.Add(uint64(0x9a9a9a9a9a9a9a9a), uint64(0xa9a9a9a9a9a9a9a9))
	f.Fuzz(func(t *testing.T, hi, lo uint64) {
		var got [uuidLen]byte
		putUUID(&got, hi, lo)
		if want := uuidByHex(hi, lo); string(got[:]) != want {
			t.Fatalf("putUUID(%#x, %#x) = %s, want %s", hi, lo, got[:], want)
		}
		if !uuidRE.Match(got[:]) {
			t.Fatalf("%s is not a version 4 UUID", got[:])
		}
	})
}

func BenchmarkDecisionID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if newDecisionID() == "" {
			b.Fatal("empty ID")
		}
	}
}
