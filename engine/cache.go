package engine

import (
	"container/list"
	"sync"
)

// lru is a bounded, least-recently-used map from cache key to decision.
// One lives in each policy revision, so a new revision starts empty and an
// old one's entries can never answer for the new policy.
type lru struct {
	mu    sync.Mutex
	max   int
	order *list.List // front is most recent; values are *lruEntry
	byKey map[string]*list.Element
}

type lruEntry struct {
	key string
	d   Decision
}

func newLRU(max int) *lru {
	if max <= 0 {
		return nil
	}
	return &lru{max: max, order: list.New(), byKey: make(map[string]*list.Element, min(max, 1024))}
}

// get returns the decision stored under key. A nil cache holds nothing.
// The key is bytes so that a lookup converts it without allocating.
func (c *lru) get(key []byte) (Decision, bool) {
	if c == nil {
		return Decision{}, false
	}
	c.mu.Lock()
	el, ok := c.byKey[string(key)]
	if !ok {
		c.mu.Unlock()
		return Decision{}, false
	}
	// A caller's repeated requests find their entry in front already.
	if c.order.Front() != el {
		c.order.MoveToFront(el)
	}
	d := el.Value.(*lruEntry).d
	c.mu.Unlock()
	return d, true
}

// put stores d under key, evicting the least recently used entry when full.
func (c *lru) put(key string, d Decision) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok {
		el.Value.(*lruEntry).d = d
		c.order.MoveToFront(el)
		return
	}
	if c.order.Len() >= c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.byKey, oldest.Value.(*lruEntry).key)
	}
	c.byKey[key] = c.order.PushFront(&lruEntry{key: key, d: d})
}

// len reports the number of stored decisions.
func (c *lru) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
