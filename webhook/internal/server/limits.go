package server

import (
	"golang.org/x/sync/semaphore"
)

// reviewLimits bounds the reviews being read or answered at once, on both
// paths together, in number and in declared body bytes. The number bounds
// goroutines and CPU under a flood of small requests; the bytes bound memory:
// a review takes about twice its body while it is decoded, so 64 clients
// sending reviews of 1 MiB took the process to 212 MiB resident, over the
// chart's 128 MiB limit (165 MiB of heap in BenchmarkFullInFlightCap), while
// 64 honest reviews of a few KiB need almost nothing.
type reviewLimits struct {
	count    chan struct{}
	bytes    *semaphore.Weighted
	maxBytes int64
}

func newReviewLimits(maxReviews int, maxBytes int64) *reviewLimits {
	return &reviewLimits{count: make(chan struct{}, max(maxReviews, 1)), bytes: semaphore.NewWeighted(maxBytes), maxBytes: maxBytes}
}

// admit takes a place for a request that declares contentLength (-1:
// unknown, which reserves the whole MaxBodyBytes). It never waits: false
// means the limits are reached. The caller must call release once done.
func (l *reviewLimits) admit(contentLength int64) (release func(), ok bool) {
	weight := int64(MaxBodyBytes)
	if contentLength >= 0 && contentLength < weight {
		weight = contentLength
	}
	select {
	case l.count <- struct{}{}:
	default:
		return nil, false
	}
	if !l.bytes.TryAcquire(weight) {
		<-l.count
		return nil, false
	}
	return func() {
		l.bytes.Release(weight)
		<-l.count
	}, true
}

// inFlight is how many reviews hold a place.
func (l *reviewLimits) inFlight() int { return len(l.count) }
