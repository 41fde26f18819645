package admission

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/utils/clock"
)

// Limits of the live reads a CachedLookup makes when its cache cannot answer.
// Anyone who reaches the webhook's port can send reviews for random workload
// names, each a cache miss: without a bound, every one would be a read of the
// apiserver.
const (
	// DefaultLiveReadQPS and DefaultLiveReadBurst are the token bucket that
	// all reviews share. Honest misses are rare (a workload created a moment
	// before its MemHpa, a ReplicaSet target), so 10 a second is plenty.
	DefaultLiveReadQPS   = 10
	DefaultLiveReadBurst = 20
	// DefaultNotFoundTTL is how long a workload found missing stays missing
	// without another read, and DefaultNotFoundEntries how many such answers
	// are kept. Entries come only from live reads, so at the default rate
	// about 70 are alive at most; the bound matters only for a higher rate.
	DefaultNotFoundTTL     = 5 * time.Second
	DefaultNotFoundEntries = 4096
)

// ErrLiveReadThrottled is the error of a read that the cache could not answer
// and the live-read limit did not allow. The validator treats it as any failed
// read: it admits the object with a warning.
var ErrLiveReadThrottled = errors.New("too many reads the cache could not answer; not read")

// CachedLookupOption changes a CachedLookup made by NewCachedLookup.
type CachedLookupOption func(*lookupGuardConfig)

type lookupGuardConfig struct {
	qps        float32
	burst      int
	ttl        time.Duration
	maxEntries int
	clock      clock.PassiveClock
}

// WithLiveReadLimit sets the token bucket of live reads (qps per second,
// burst at once); the defaults are DefaultLiveReadQPS and DefaultLiveReadBurst.
func WithLiveReadLimit(qps float32, burst int) CachedLookupOption {
	return func(c *lookupGuardConfig) { c.qps, c.burst = qps, burst }
}

// WithNotFoundCache sets how long and how many not-found answers are kept.
func WithNotFoundCache(ttl time.Duration, maxEntries int) CachedLookupOption {
	return func(c *lookupGuardConfig) { c.ttl, c.maxEntries = ttl, maxEntries }
}

// WithClock sets the clock of the limit and of the not-found cache.
func WithClock(c clock.PassiveClock) CachedLookupOption {
	return func(g *lookupGuardConfig) { g.clock = c }
}

// LookupCounts are the counters of a CachedLookup's live reads.
type LookupCounts struct {
	// LiveReads were sent to the apiserver.
	LiveReads int64
	// Throttled were not sent: the live-read limit was reached.
	Throttled int64
	// NotFoundHits were answered "not found" from the not-found cache.
	NotFoundHits int64
}

// lookupGuard is what stands between a cache miss and the apiserver: the
// shared live-read limit and the short memory of workloads found missing.
type lookupGuard struct {
	limiter  flowcontrol.PassiveRateLimiter
	notFound *notFoundCache

	liveReads, throttled, notFoundHits atomic.Int64
}

func newLookupGuard(opts []CachedLookupOption) *lookupGuard {
	cfg := lookupGuardConfig{
		qps: DefaultLiveReadQPS, burst: DefaultLiveReadBurst,
		ttl: DefaultNotFoundTTL, maxEntries: DefaultNotFoundEntries,
		clock: clock.RealClock{},
	}
	for _, o := range opts {
		o(&cfg)
	}
	return &lookupGuard{
		limiter:  flowcontrol.NewTokenBucketPassiveRateLimiterWithClock(cfg.qps, cfg.burst, cfg.clock),
		notFound: &notFoundCache{ttl: cfg.ttl, maxEntries: cfg.maxEntries, clock: cfg.clock, entries: map[WorkloadKey]notFoundEntry{}},
	}
}

// allow takes a token for one live read, or counts a throttled one.
func (g *lookupGuard) allow() bool {
	if !g.limiter.TryAccept() {
		g.throttled.Add(1)
		return false
	}
	g.liveReads.Add(1)
	return true
}

func (g *lookupGuard) counts() LookupCounts {
	return LookupCounts{LiveReads: g.liveReads.Load(), Throttled: g.throttled.Load(), NotFoundHits: g.notFoundHits.Load()}
}

// notFoundCache keeps the not-found errors of live reads of workloads for
// ttl. It holds at most maxEntries: when full it drops the expired entries,
// and if none has expired, one entry, whichever the map yields first (a flood
// of random names would evict anything anyway).
type notFoundCache struct {
	ttl        time.Duration
	maxEntries int
	clock      clock.PassiveClock

	mu      sync.Mutex
	entries map[WorkloadKey]notFoundEntry
}

type notFoundEntry struct {
	err   error
	until time.Time
}

// get returns the remembered error of key, or nil.
func (c *notFoundCache) get(key WorkloadKey) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil
	}
	if !c.clock.Now().Before(e.until) {
		delete(c.entries, key)
		return nil
	}
	return e.err
}

func (c *notFoundCache) add(key WorkloadKey, err error) {
	if c.ttl <= 0 || c.maxEntries <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.maxEntries {
		for k, e := range c.entries {
			if !now.Before(e.until) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < c.maxEntries {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[key] = notFoundEntry{err: err, until: now.Add(c.ttl)}
}
