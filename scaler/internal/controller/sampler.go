package controller

import (
	"context"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	"github.com/memhpa/memhpa/scaler/internal/promquery"
	"github.com/memhpa/memhpa/scaler/internal/promsource"
)

// sampler runs the one batched query of a cycle and shares its answer (or its
// error) with every MemHpa of the cycle. A MemHpa in a namespace the last
// answer did not cover (a new one, reconciled at once) triggers a new query
// for every namespace in play.
type sampler struct {
	source promsource.Source
	// own, when set, answers each MemHpa from a query of its own instead:
	// only a build with the memhpabench tag sets it, for make bench's
	// comparison (querymode_bench.go).
	own     func(ctx context.Context, ns string, pods []*corev1.Pod) (promquery.NamespaceSamples, error)
	clock   clock.PassiveClock
	maxAge  time.Duration
	monitor *Monitor

	mu         sync.Mutex
	stale      bool
	at         time.Time
	namespaces []string
	samples    promquery.Samples
	err        error
	// byNamespace splits samples once per query: a MemHpa reads its
	// namespace's share without walking every pod of every namespace
	// (the CPU profile of 1,000 MemHpas over 5,000 pods spent a quarter of a
	// cycle there). The maps are shared and only read.
	byNamespace map[string]promquery.NamespaceSamples
}

// invalidate makes the next get query again: a new cycle has begun.
func (s *sampler) invalidate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stale = true
}

// forMemHpa returns the samples a MemHpa of namespace ns with the given pods
// needs: from the cycle's batched query.
func (s *sampler) forMemHpa(ctx context.Context, ns string, pods []*corev1.Pod, inPlay func() []string) (promquery.NamespaceSamples, error) {
	if s.own != nil {
		return s.own(ctx, ns, pods)
	}
	return s.inNamespace(ctx, ns, inPlay)
}

// inNamespace is get's answer for the pods of ns, split once per query.
func (s *sampler) inNamespace(ctx context.Context, ns string, inPlay func() []string) (promquery.NamespaceSamples, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.getLocked(ctx, ns, inPlay)
	if err != nil {
		return promquery.NamespaceSamples{}, err
	}
	if s.byNamespace == nil {
		s.byNamespace = map[string]promquery.NamespaceSamples{}
	}
	split, ok := s.byNamespace[ns]
	if !ok {
		split = all.InNamespace(ns)
		s.byNamespace[ns] = split
	}
	return split, nil
}

// observe records one query's duration and outcome.
func (s *sampler) observe(start time.Time, err error) {
	failure := ""
	if err != nil {
		failure = promsource.FailureReason(err)
	}
	s.monitor.observeQuery(s.clock.Since(start), failure)
}

// getLocked returns the samples of the latest query that covered ns, querying
// again when there is none or it is older than maxAge. inPlay lists the
// namespaces that have MemHpas. s.mu must be held: MemHpas wait for the
// query in flight rather than sending their own.
func (s *sampler) getLocked(ctx context.Context, ns string, inPlay func() []string) (promquery.Samples, error) {
	if !s.stale && slices.Contains(s.namespaces, ns) && s.clock.Since(s.at) < s.maxAge {
		return s.samples, s.err
	}
	namespaces := inPlay()
	if !slices.Contains(namespaces, ns) {
		namespaces = append(namespaces, ns)
	}
	slices.Sort(namespaces)
	start := s.clock.Now()
	samples, err := s.source.WorkingSet(ctx, namespaces)
	s.observe(start, err)
	s.stale, s.at, s.namespaces, s.samples, s.err = false, start, namespaces, samples, err
	s.byNamespace = nil
	return samples, err
}
