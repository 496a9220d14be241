package engine

import (
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
)

// lru is a bounded map from cache key to decision that evicts entries
// not used lately. One lives in each policy revision, so an old one's
// entries answer for a new policy only where keepCache hands them on: all
// of them when the policy's meaning is unchanged, else those of callers
// whose grants did not change.
//
// Lookups take no lock: entries are immutable once stored (but for their
// used bit), and the index is an open-addressed table of atomic pointers
// to them, which only put changes, under mu. A lookup racing with a put
// may miss an entry being moved or added, which costs an evaluation,
// never a wrong answer: a lookup answers only with an entry whose full
// key is equal to the one asked for. So a hit costs no atomic
// read-modify-write and no write to memory other lookups share (the used
// bit is written only when it is not set yet).
//
// Recency is kept the CLOCK way, an approximation of least-recently-used:
// a hit only sets its entry's used bit; eviction sweeps a hand round the
// entries, clearing used bits, and takes the first entry found unused. So
// an entry used since the hand last passed is kept, and one inserted and
// never asked for again goes first.
//
// The table finds entries by a 64-bit hash of the key with a random seed
// per cache; two keys of one hash (any two of 10,000 entries share one
// with a chance of about 3 in 10^12) cost a miss, never someone else's
// decision.
type lru struct {
	seed  maphash.Seed
	index atomic.Pointer[lruIndex]

	mu      sync.Mutex // serializes put
	max     int
	entries []*lruEntry // at most max, in CLOCK order
	hand    int         // the next entry eviction looks at
}

// lruIndex is an open-addressed hash table with linear probing, at most
// half full, so that a probe soon meets an empty slot.
type lruIndex struct {
	slots []atomic.Pointer[lruEntry]
	mask  uint64
}

type lruEntry struct {
	hash uint64
	key  string
	used atomic.Bool
	// d is never modified once stored (put replaces the entry), so
	// lookup can hand it out to be read.
	d Decision
}

func newLRU(max int) *lru {
	if max <= 0 {
		return nil
	}
	c := &lru{max: max, seed: maphash.MakeSeed(), entries: make([]*lruEntry, 0, min(max, 1024))}
	c.index.Store(newLRUIndex(min(max, 1024)))
	return c
}

// newLRUIndex returns an empty table for n entries.
func newLRUIndex(n int) *lruIndex {
	size := 8
	for size < 2*n {
		size *= 2
	}
	return &lruIndex{slots: make([]atomic.Pointer[lruEntry], size), mask: uint64(size - 1)}
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
	x := c.index.Load()
	// The table is never full, but it may change under this loop: the
	// bound keeps a lookup from chasing moving entries round forever.
	for i, n := h&x.mask, uint64(0); n <= x.mask; i, n = (i+1)&x.mask, n+1 {
		e := x.slots[i].Load()
		if e == nil {
			return nil
		}
		if e.hash == h && e.key == string(key) {
			if !e.used.Load() {
				e.used.Store(true)
			}
			return &e.d
		}
	}
	return nil
}

// put stores d under key, evicting an entry not used lately when full.
func (c *lru) put(key string, d Decision) {
	if c == nil {
		return
	}
	e := &lruEntry{hash: maphash.String(c.seed, key), key: key, d: d}
	c.mu.Lock()
	defer c.mu.Unlock()
	x := c.index.Load()
	if i, old := x.find(e.hash); old != nil {
		// The same key, or one of the same hash, which this replaces.
		x.slots[i].Store(e)
		c.entries[c.position(old)] = e
		return
	}
	if len(c.entries) < c.max {
		if 2*(len(c.entries)+1) > len(x.slots) {
			x = c.grow(x)
		}
		c.entries = append(c.entries, e)
		x.insert(e)
		return
	}
	for c.entries[c.hand].used.Load() {
		c.entries[c.hand].used.Store(false)
		c.hand = (c.hand + 1) % len(c.entries)
	}
	x.remove(c.entries[c.hand])
	c.entries[c.hand] = e
	x.insert(e)
	c.hand = (c.hand + 1) % len(c.entries)
}

// position returns old's index in c.entries, which holds it. It is called
// only when a key is stored again, which the cache's users do only after
// a miss: rarely.
func (c *lru) position(old *lruEntry) int {
	for i, e := range c.entries {
		if e == old {
			return i
		}
	}
	panic("engine: cache entry missing from its list")
}

// grow replaces the index with one twice the size, holding the same
// entries. Lookups still reading the old one find what it held.
func (c *lru) grow(x *lruIndex) *lruIndex {
	n := newLRUIndex(len(x.slots))
	for _, e := range c.entries {
		n.insert(e)
	}
	c.index.Store(n)
	return n
}

// find returns the slot and entry of hash h, or a nil entry. The caller
// holds the cache's lock.
func (x *lruIndex) find(h uint64) (uint64, *lruEntry) {
	for i := h & x.mask; ; i = (i + 1) & x.mask {
		e := x.slots[i].Load()
		if e == nil || e.hash == h {
			return i, e
		}
	}
}

// insert stores e in the first empty slot from its hash on. The caller
// holds the cache's lock and has checked that no entry has e's hash.
func (x *lruIndex) insert(e *lruEntry) {
	i := e.hash & x.mask
	for x.slots[i].Load() != nil {
		i = (i + 1) & x.mask
	}
	x.slots[i].Store(e)
}

// remove takes e out of the table, moving back the entries after it that
// would otherwise no longer be found from their hash (backward-shift
// deletion, which leaves no tombstones). The caller holds the cache's
// lock.
func (x *lruIndex) remove(e *lruEntry) {
	i := e.hash & x.mask
	for x.slots[i].Load() != e {
		i = (i + 1) & x.mask
	}
	for j := (i + 1) & x.mask; ; j = (j + 1) & x.mask {
		next := x.slots[j].Load()
		if next == nil {
			break
		}
		// next stays where it is when its home slot lies cyclically
		// in (i, j]: a probe from there reaches j without passing i.
		home := next.hash & x.mask
		if (j-home)&x.mask < (j-i)&x.mask {
			continue
		}
		x.slots[i].Store(next)
		i = j
	}
	x.slots[i].Store(nil)
}

// keepFrom stores in c the decisions of old that keep reports still
// exact, in old's eviction order, up to c's bound. Decisions old stores
// meanwhile are not carried over: that costs a later miss, never a stale
// answer.
func (c *lru) keepFrom(old *lru, keep func(key string) bool) {
	if c == nil || old == nil {
		return
	}
	old.mu.Lock()
	entries := slices.Clone(old.entries)
	hand := old.hand
	old.mu.Unlock()
	for i := range entries {
		e := entries[(hand+i)%len(entries)]
		if keep(e.key) {
			c.put(e.key, e.d)
		}
	}
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
