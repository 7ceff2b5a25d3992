// Package kept holds a node's copies of rows it read, for a while, for as
// long as it hears of their changes (events.Watch): a read that began before
// a change is not kept, and nothing is kept while the node does not listen.
package kept

import (
	"sync"
	"time"
)

// Map keeps values by key until their time is up or they are dropped. The
// zero value keeps nothing until Listening(true). Safe for concurrent use.
type Map[K comparable, V any] struct {
	mu   sync.Mutex
	m    map[K]entry[V]
	live bool
	gen  uint64
	// Max bounds the values kept (Default when 0).
	Max int
}

type entry[V any] struct {
	v     V
	until time.Time
}

// Default is the bound of a Map whose Max is 0.
const Default = 16384

// Get returns the value kept for k if its time is not up at now.
func (c *Map[K, V]) Get(k K, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if ok && now.Before(e.until) {
		return e.v, true
	}
	if ok {
		delete(c.m, k)
	}
	var zero V
	return zero, false
}

// Generation is to be taken before reading what Put keeps.
func (c *Map[K, V]) Generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// Put keeps v for k until until — unless a drop came since generation gen
// was taken, or the node is not listening. When full, the values whose
// time is up go first, then any.
func (c *Map[K, V]) Put(k K, v V, gen uint64, now, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || c.gen != gen {
		return
	}
	if c.m == nil {
		c.m = map[K]entry[V]{}
	}
	if len(c.m) >= c.limit() {
		for key, e := range c.m {
			if !now.Before(e.until) {
				delete(c.m, key)
			}
		}
		for key := range c.m {
			if len(c.m) < c.limit() {
				break
			}
			delete(c.m, key)
		}
	}
	c.m[k] = entry[V]{v: v, until: until}
}

// Update changes the value kept for k, if any, in place.
func (c *Map[K, V]) Update(k K, edit func(*V)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		edit(&e.v)
		c.m[k] = e
	}
}

// Drop forgets the values for which match says true (all when match is
// nil), and any read in flight.
func (c *Map[K, V]) Drop(match func(K, V) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if match == nil {
		clear(c.m)
		return
	}
	for k, e := range c.m {
		if match(k, e.v) {
			delete(c.m, k)
		}
	}
}

// Listening starts (true) or stops keeping values; either way it forgets
// those kept (events.Watch's listening).
func (c *Map[K, V]) Listening(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.live = live
	clear(c.m)
}

// Len is how many values are kept.
func (c *Map[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

func (c *Map[K, V]) limit() int {
	if c.Max > 0 {
		return c.Max
	}
	return Default
}
