// Package shard splits the MemHpas among scaler replicas: a namespace
// belongs to one of N shards by a stable hash of its name (Of), each shard
// has its own Lease (LeaseName), and a Set is the shards this process leads,
// each with the context of its leadership. A MemHpa and its pods share a
// namespace, so a shard's leader reads and writes only its own namespaces.
package shard

import (
	"context"
	"hash/fnv"
	"strconv"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Of is the shard of a namespace among n: FNV-1a (32 bits) of the
// namespace's name, modulo n. The function is part of the contract between
// replicas of different versions, which must agree on it during a rollout:
// it never changes (TestOfIsStable pins values).
func Of(namespace string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(namespace)) // a hash.Hash never fails
	return int(h.Sum32() % uint32(n))
}

// LeaseName is the name of shard i's Lease: id itself for one shard (the
// Lease of the scaler without shards), id-i for more.
func LeaseName(id string, i, n int) string {
	if n <= 1 {
		return id
	}
	return id + "-" + strconv.Itoa(i)
}

// Set is the shards this process leads. Lead registers a shard for the
// time its lease is held; Enter admits one reconcile of a namespace's
// MemHpa into its shard's leadership, and Lead waits for those in flight
// before it returns, so that nothing of a shard's work outlives its lease.
type Set struct {
	n     int
	retry time.Duration
	clock clock.WithTicker

	mu  sync.RWMutex
	led map[int]*term

	// acquireMu makes this process's attempts to acquire leases one at a
	// time, so that each sees how many it already holds (Acquire).
	acquireMu sync.Mutex
	heldMu    sync.Mutex
	held      map[int]bool
}

// term is one leadership of a shard.
type term struct {
	ctx      context.Context
	inFlight sync.WaitGroup
}

// NewSet returns the empty set of n shards. retry is the leader election's
// retry period, the unit of Acquire's delay.
func NewSet(n int, retry time.Duration, clk clock.WithTicker) *Set {
	return &Set{n: n, retry: retry, clock: clk, led: map[int]*term{}, held: map[int]bool{}}
}

// N is the number of shards.
func (s *Set) N() int { return s.n }

// Leads reports whether this process leads the shard of namespace ns.
func (s *Set) Leads(ns string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.led[Of(ns, s.n)]
	return ok
}

// Led lists the shards this process leads, in order.
func (s *Set) Led() []int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []int
	for i := range s.n {
		if _, ok := s.led[i]; ok {
			out = append(out, i)
		}
	}
	return out
}

// Enter admits one reconcile of a MemHpa of namespace ns: it returns the
// leadership context of the namespace's shard and done, which the caller
// must call when the reconcile is over; ok is false, and nothing is
// admitted, when this process does not lead the shard.
func (s *Set) Enter(ns string) (ctx context.Context, done func(), ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.led[Of(ns, s.n)]
	if !ok {
		return nil, nil, false
	}
	// Under the read lock: Lead removes the term under the write lock before
	// it waits, so no Add can follow its Wait.
	t.inFlight.Add(1)
	return t.ctx, t.inFlight.Done, true
}

// Lead makes shard i led with ctx, the lease's context, until ctx or stop
// ends; started is called once the shard is led. Then no reconcile of the
// shard is admitted any more, and Lead returns when those in flight are
// over: after a lost lease they end quickly (their context is ctx, so no
// write is made), after a graceful stop (stop) they finish on the live ctx,
// so that the lease is released only when nothing of the shard acts.
func (s *Set) Lead(ctx, stop context.Context, i int, started func()) {
	t := &term{ctx: ctx}
	s.mu.Lock()
	s.led[i] = t
	s.mu.Unlock()
	if started != nil {
		started()
	}
	select {
	case <-ctx.Done():
	case <-stop.Done():
	}
	s.mu.Lock()
	delete(s.led, i)
	s.mu.Unlock()
	t.inFlight.Wait()
}

// Acquire returns the gate of shard i's attempts to acquire its lease
// (leader.Config.Acquire). Attempts of this process go one at a time; one
// waits first a retry period for every lease this process already holds,
// so that at start, or when a replica dies, the others (holding fewer)
// come first: with three replicas starting together and six shards, each
// tends to get two. Nothing guarantees balance (no replica knows how many
// there are), and a lease once held is kept while renewed. An attempt made
// after another replica took the lease during the wait fails: the elector's
// write carries the resourceVersion it read, or creates a Lease that now
// exists.
func (s *Set) Acquire(i int) func(ctx context.Context, try func() error) error {
	return func(ctx context.Context, try func() error) error {
		s.acquireMu.Lock()
		defer s.acquireMu.Unlock()
		if d := time.Duration(s.holding()) * s.retry; d > 0 {
			t := s.clock.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C():
			}
		}
		if err := try(); err != nil {
			return err
		}
		s.heldMu.Lock()
		s.held[i] = true
		s.heldMu.Unlock()
		return nil
	}
}

// Released notes that shard i's lease is not held any more (its election
// has ended).
func (s *Set) Released(i int) {
	s.heldMu.Lock()
	defer s.heldMu.Unlock()
	delete(s.held, i)
}

// holding is the number of leases this process holds.
func (s *Set) holding() int {
	s.heldMu.Lock()
	defer s.heldMu.Unlock()
	return len(s.held)
}
