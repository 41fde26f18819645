package controller

import (
	"context"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	"github.com/memhpa/memhpa/scaler/internal/metrics"
	"github.com/memhpa/memhpa/scaler/internal/promquery"
)

// sampler runs the one batched query of a cycle and shares its answer (or its
// error) with every MemHpa of the cycle. A MemHpa in a namespace the last
// answer did not cover (a new one, reconciled at once) triggers a new query
// for every namespace in play. With perMemHpa set (the benchmark's comparison
// mode) every MemHpa sends its own query for its own pods instead.
type sampler struct {
	source    metrics.Source
	perMemHpa PodSource
	clock     clock.PassiveClock
	maxAge    time.Duration
	metrics   *Metrics

	mu         sync.Mutex
	stale      bool
	at         time.Time
	namespaces []string
	samples    promquery.Samples
	err        error
}

// invalidate makes the next get query again: a new cycle has begun.
func (s *sampler) invalidate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stale = true
}

// forMemHpa returns the samples a MemHpa of namespace ns with the given pods
// needs: from the cycle's batched query, or, in the per-MemHpa mode, from a
// query of its own.
func (s *sampler) forMemHpa(ctx context.Context, ns string, pods []*corev1.Pod, inPlay func() []string) (promquery.Samples, error) {
	if s.perMemHpa == nil {
		return s.get(ctx, ns, inPlay)
	}
	if len(pods) == 0 {
		return promquery.Samples{}, nil
	}
	names := make([]string, len(pods))
	for i, p := range pods {
		names[i] = p.Name
	}
	start := s.clock.Now()
	samples, err := s.perMemHpa.WorkingSetOfPods(ctx, ns, names)
	s.observe(start, err)
	return samples, err
}

// observe records one query's duration and outcome.
func (s *sampler) observe(start time.Time, err error) {
	failure := ""
	if err != nil {
		failure = metrics.FailureReason(err)
	}
	s.metrics.observeQuery(s.clock.Since(start), failure)
}

// get returns the samples of the latest query that covered ns, querying
// again when there is none or it is older than maxAge. inPlay lists the
// namespaces that have MemHpas.
func (s *sampler) get(ctx context.Context, ns string, inPlay func() []string) (promquery.Samples, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
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
	return samples, err
}
