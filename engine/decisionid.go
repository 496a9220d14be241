package engine

import (
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"
)

// newDecisionID returns a random (version 4) UUID.
//
// A decision ID only names a decision: it is sent in a response header
// and written to the access log, traces and the decision log, so that
// they can be matched up, and nothing accepts one back as proof of
// anything. It must therefore be unique, also across replicas and
// restarts writing to one decision log, but it need not be secret. 122
// random bits make a repeat negligible (about one chance in 10^15 after
// 10^11 IDs), and math/rand/v2's generator gives them for a few
// nanoseconds: the runtime's ChaCha8, seeded from the operating system's entropy and
// separately for each thread, so no two processes share a stream and a
// caller who sees some IDs cannot work out others. crypto/rand, which
// reads the kernel's generator, cost a third of a cached decision.
//
// IDs are made idBatchSize at a time into one string and handed out as
// substrings of it: a decision then costs no allocation of its own for
// its ID, only a share of one per batch. A held ID keeps its batch's
// string (2.3 KB) alive.
func newDecisionID() string {
	for {
		b := idCurrent.Load()
		if b != nil {
			if n := int(b.taken.Add(1)); n <= idBatchSize {
				return b.ids[(n-1)*uuidLen : n*uuidLen]
			}
		}
		// Used up: whoever swaps first installs the next batch; the
		// others' go unused.
		idCurrent.CompareAndSwap(b, newIDBatch())
	}
}

const (
	uuidLen     = 36
	idBatchSize = 64
)

// idBatch is a run of decision IDs, of which the first taken are handed
// out (taken goes past idBatchSize once the batch is used up).
type idBatch struct {
	ids   string
	taken atomic.Int32
}

// idCurrent is the batch IDs are taken from. Taking one costs an atomic
// add on memory all goroutines share, which is less than sync.Pool's
// per-P bookkeeping and, at the rate decisions come, hardly contended.
var idCurrent atomic.Pointer[idBatch]

func newIDBatch() *idBatch {
	var buf [uuidLen * idBatchSize]byte
	for i := range idBatchSize {
		putUUID((*[uuidLen]byte)(buf[i*uuidLen:]), rand.Uint64(), rand.Uint64())
	}
	return &idBatch{ids: string(buf[:])}
}

// putUUID writes the 128 bits hi, lo to dst as a version 4 UUID: their
// version and variant bits are overwritten, 122 stay as given.
func putUUID(dst *[uuidLen]byte, hi, lo uint64) {
	hi = hi&^0xf000 | 0x4000           // version 4: the 13th hex digit
	lo = lo&^(0xc0<<56) | (0x80 << 56) // variant 10: the 17th digit is 8, 9, a or b
	// Digits 1-8 -, 9-12 -, 13-16 -, 17-20 -, 21-32.
	binary.BigEndian.PutUint64(dst[0:8], hexDigits(uint32(hi>>32)))
	dst[8] = '-'
	x := hexDigits(uint32(hi))
	binary.BigEndian.PutUint32(dst[9:13], uint32(x>>32))
	dst[13] = '-'
	binary.BigEndian.PutUint32(dst[14:18], uint32(x))
	dst[18] = '-'
	x = hexDigits(uint32(lo >> 32))
	binary.BigEndian.PutUint32(dst[19:23], uint32(x>>32))
	dst[23] = '-'
	binary.BigEndian.PutUint32(dst[24:28], uint32(x))
	binary.BigEndian.PutUint64(dst[28:36], hexDigits(uint32(lo)))
}

// hexDigits returns the eight lowercase hex digits of v as ASCII, the
// most significant in the highest byte (so that big-endian order writes
// them as read). It works on all eight at once, one per byte, rather
// than looking each up.
func hexDigits(v uint32) uint64 {
	// Spread the nibbles out, one per byte: nibble i in byte i.
	x := uint64(v)
	x = (x | x<<16) & 0x0000ffff0000ffff
	x = (x | x<<8) & 0x00ff00ff00ff00ff
	x = (x | x<<4) & 0x0f0f0f0f0f0f0f0f
	// Bytes from 10 up get 'a'-'0'-10 more than '0' + the nibble: adding
	// 6 carries into bit 4 exactly for them.
	letters := (x + 0x0606060606060606) >> 4 & 0x0101010101010101
	return x + 0x3030303030303030 + letters*('a'-'0'-10)
}
