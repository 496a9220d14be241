package engine

import (
	"hash/maphash"
	"sync"
)

// lru is a bounded map from cache key to decision that evicts entries
// not used lately. One lives in each policy revision, so a new revision
// starts empty and an old one's entries can never answer for the new
// policy (keepCache hands a whole cache on only when the policy's meaning
// is unchanged).
//
// Recency is kept the CLOCK way, an approximation of least-recently-used:
// a hit only sets its entry's used bit, where moving a list node cost a
// hit six pointer writes (each with a write barrier while the collector
// runs); eviction sweeps a hand round the entries, clearing used bits,
// and takes the first entry found unused. So an entry used since the hand
// last passed is kept, and one inserted and never asked for again goes
// first.
//
// The map is keyed by a 64-bit hash of the key, which is cheaper to find
// than the key itself (tens of bytes), and each entry keeps its full key:
// a lookup answers only when it is equal, so two keys of one hash cost
// a miss, never someone else's decision. (With a random seed per cache,
// any two of 10,000 entries share a hash with a chance of about 3 in
// 10^12.)
type lru struct {
	mu      sync.Mutex
	max     int
	seed    maphash.Seed
	slots   map[uint64]int32 // hash of key -> index in entries
	entries []lruEntry       // at most max
	hand    int              // the next entry eviction looks at
}

type lruEntry struct {
	hash uint64
	key  string
	used bool
	// d is never modified once stored (put replaces it), so lookup can
	// hand it out to be read after the lock is released.
	d *Decision
}

func newLRU(max int) *lru {
	if max <= 0 {
		return nil
	}
	n := min(max, 1024)
	return &lru{max: max, seed: maphash.MakeSeed(), slots: make(map[uint64]int32, n), entries: make([]lruEntry, 0, n)}
}

// get returns the decision stored under key. A nil cache holds nothing.
// The key is bytes so that a lookup converts it without allocating.
func (c *lru) get(key []byte) (Decision, bool) {
	if d := c.lookup(key); d != nil {
		return *d, true
	}
	return Decision{}, false
}

// lookup is get without the copy: it returns the stored decision, or nil.
// The caller must not modify it.
func (c *lru) lookup(key []byte) *Decision {
	if c == nil {
		return nil
	}
	h := maphash.Bytes(c.seed, key)
	c.mu.Lock()
	var d *Decision
	if i, ok := c.slots[h]; ok && c.entries[i].key == string(key) {
		e := &c.entries[i]
		e.used = true
		d = e.d
	}
	c.mu.Unlock()
	return d
}

// put stores d under key, evicting an entry not used lately when full.
func (c *lru) put(key string, d Decision) {
	if c == nil {
		return
	}
	h := maphash.String(c.seed, key)
	dp := &d
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.slots[h]; ok {
		// The same key, or one of the same hash, which this replaces.
		c.entries[i] = lruEntry{hash: h, key: key, d: dp}
		return
	}
	if len(c.entries) < c.max {
		c.slots[h] = int32(len(c.entries))
		c.entries = append(c.entries, lruEntry{hash: h, key: key, d: dp})
		return
	}
	for c.entries[c.hand].used {
		c.entries[c.hand].used = false
		c.hand = (c.hand + 1) % len(c.entries)
	}
	delete(c.slots, c.entries[c.hand].hash)
	c.slots[h] = int32(c.hand)
	c.entries[c.hand] = lruEntry{hash: h, key: key, d: dp}
	c.hand = (c.hand + 1) % len(c.entries)
}

// len reports the number of stored decisions.
func (c *lru) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
