package store

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// NewID returns a request ID for a request that started at t: 24 hex
// digits, the first 12 the milliseconds since the Unix epoch and the rest
// random. IDs sort by time, so the request log's primary-key index grows
// at its end instead of at random pages (at thousands of requests a
// second, random keys made SQLite rewrite pages all over its index), and
// an operator reading IDs can tell which came first.
func NewID(t time.Time) string {
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMilli())<<16) // 48 bits of milliseconds
	_, _ = rand.Read(b[6:])
	return hex.EncodeToString(b[:])
}
