package controller

import (
	"sync"
	"time"
)

// cycle follows one full cycle: it begins when the periodic resync queues
// every MemHpa and ends when the last of those has been reconciled (whatever
// the outcome) or deleted. A resync that comes while a cycle is unfinished
// does not begin another one: the cycle in progress goes on until all of its
// MemHpas are done, and the resync counts as an overrun. Reconciliations of
// MemHpas outside the cycle (a new one, a retry) do not touch it.
type cycle struct {
	mu      sync.Mutex
	start   time.Time
	pending map[string]struct{} // nil between cycles
}

// begin starts a cycle over keys at now. It reports false, and starts
// nothing, when the previous cycle is unfinished. A cycle over no keys is
// over at once and measures nothing.
func (c *cycle) begin(now time.Time, keys []string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending != nil {
		return false
	}
	if len(keys) == 0 {
		return true
	}
	c.start = now
	c.pending = make(map[string]struct{}, len(keys))
	for _, k := range keys {
		c.pending[k] = struct{}{}
	}
	return true
}

// done notes that key was reconciled or deleted at now. When it was the last
// of the cycle, it returns the cycle's duration and true.
func (c *cycle) done(key string, now time.Time) (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pending[key]; !ok {
		return 0, false
	}
	delete(c.pending, key)
	if len(c.pending) > 0 {
		return 0, false
	}
	c.pending = nil
	return now.Sub(c.start), true
}
