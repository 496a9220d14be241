package engine

import (
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// virtualCache is OPA's cache of rule results within one evaluation
// (topdown.VirtualCache), kept for reuse from one evaluation to the next.
// OPA's own allocates a tree node and a hash map for every step of every
// rule's path on every evaluation, about 120 allocations of a decision;
// this one keeps the rules' paths flat in one map and its storage in a
// pool, so that a decision allocates nothing for it once warm. It answers
// exactly as OPA's does: Get finds what Put stored under an equal
// reference in the current frame only (a frame is pushed for each `with`),
// nil and false when nothing was stored, nil and true for a stored
// undefined result.
type virtualCache struct {
	frames []*vcFrame
	depth  int // frames[depth] is the current frame
}

// vcFrame holds one frame's entries. Entries are chained by the hash of
// their reference: heads maps a hash to the index of its first entry.
type vcFrame struct {
	heads   map[uint64]int32
	entries []vcEntry
	// terms holds the entries' references end to end: OPA may reuse a
	// reference's slice after Put, so the cache keeps its own copy.
	terms []*ast.Term
}

type vcEntry struct {
	hash       uint64
	start, end int32 // the reference is terms[start:end]
	next       int32 // next entry of the same hash, or -1
	undefined  bool
	value      *ast.Term
}

var _ topdown.VirtualCache = (*virtualCache)(nil)

var virtualCaches = sync.Pool{New: func() any { return &virtualCache{frames: []*vcFrame{newVCFrame()}} }}

func newVCFrame() *vcFrame { return &vcFrame{heads: make(map[uint64]int32, 64)} }

// getVirtualCache returns an empty cache; putVirtualCache returns it to
// the pool once its evaluation (and all reading of its results' terms
// through the cache) is over.
func getVirtualCache() *virtualCache { return virtualCaches.Get().(*virtualCache) }

func putVirtualCache(c *virtualCache) {
	for i := 0; i <= c.depth && i < len(c.frames); i++ {
		c.frames[i].reset()
	}
	c.depth = 0
	virtualCaches.Put(c)
}

func (f *vcFrame) reset() {
	clear(f.heads)
	clear(f.entries) // drop the results, which the pool must not keep alive
	f.entries = f.entries[:0]
	clear(f.terms)
	f.terms = f.terms[:0]
}

// Push starts a new, empty frame.
func (c *virtualCache) Push() {
	c.depth++
	if c.depth == len(c.frames) {
		c.frames = append(c.frames, newVCFrame())
	}
}

// Pop drops the current frame and its entries.
func (c *virtualCache) Pop() {
	c.frames[c.depth].reset()
	c.depth--
}

// Get returns the result stored under ref in the current frame: nil and
// false when there is none, nil and true when it is undefined.
func (c *virtualCache) Get(ref ast.Ref) (*ast.Term, bool) {
	f := c.frames[c.depth]
	i := f.find(ref, refHash(ref))
	if i < 0 {
		return nil, false
	}
	e := &f.entries[i]
	if e.undefined {
		return nil, true
	}
	return e.value, false
}

// Put stores value under ref in the current frame; a nil value records an
// undefined result.
func (c *virtualCache) Put(ref ast.Ref, value *ast.Term) {
	f := c.frames[c.depth]
	h := refHash(ref)
	i := f.find(ref, h)
	if i < 0 {
		start := int32(len(f.terms))
		f.terms = append(f.terms, ref...)
		next, ok := f.heads[h]
		if !ok {
			next = -1
		}
		i = int32(len(f.entries))
		f.entries = append(f.entries, vcEntry{hash: h, start: start, end: int32(len(f.terms)), next: next})
		f.heads[h] = i
	}
	// As OPA's cache does: a value replaces an earlier one, and an
	// undefined result marks the reference for good.
	e := &f.entries[i]
	if value != nil {
		e.value = value
	} else {
		e.undefined = true
	}
}

// Keys returns the references with a value in the current frame.
func (c *virtualCache) Keys() []ast.Ref {
	f := c.frames[c.depth]
	var keys []ast.Ref
	for _, e := range f.entries {
		if e.value != nil {
			keys = append(keys, append(ast.Ref(nil), f.terms[e.start:e.end]...))
		}
	}
	return keys
}

func (f *vcFrame) find(ref ast.Ref, h uint64) int32 {
	i, ok := f.heads[h]
	if !ok {
		return -1
	}
	for ; i >= 0; i = f.entries[i].next {
		e := &f.entries[i]
		if e.hash == h && refEqual(f.terms[e.start:e.end], ref) {
			return i
		}
	}
	return -1
}

// refHash hashes a reference's terms in order (ast.Ref.Hash adds them up,
// so that data.a.b and data.b.a would collide).
func refHash(ref ast.Ref) uint64 {
	h := uint64(len(ref))
	for _, t := range ref {
		h = h*1099511628211 ^ uint64(t.Value.Hash())
	}
	return h
}

func refEqual(a, b []*ast.Term) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}
