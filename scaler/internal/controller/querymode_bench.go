//go:build memhpabench

package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/memhpa/memhpa/scaler/internal/promquery"
)

// QueryMode says how the scaler asks Prometheus for samples. It exists only
// in a build with the memhpabench tag: make bench compares the modes; the
// product always sends one batched query per cycle.
type QueryMode string

// The query modes.
const (
	// QueryBatched sends one query per cycle for every namespace in play:
	// what the product does.
	QueryBatched QueryMode = "batched"
	// QueryPerMemHpa sends one query per MemHpa for its own pods, as a naive
	// scaler would.
	QueryPerMemHpa QueryMode = "per-memhpa"
)

// PodSource is the Source of the per-MemHpa mode: one query for the named
// pods of one namespace.
type PodSource interface {
	WorkingSetOfPods(ctx context.Context, namespace string, pods []string) (promquery.Samples, error)
}

// SetQueryMode switches c to mode; call it before Run. The per-MemHpa mode
// needs a Source that is also a PodSource.
func (c *Controller) SetQueryMode(mode QueryMode) error {
	switch mode {
	case QueryBatched:
		c.sampler.own = nil
	case QueryPerMemHpa:
		ps, ok := c.sampler.source.(PodSource)
		if !ok {
			return fmt.Errorf("query mode %s: the memory source cannot query pods", mode)
		}
		c.sampler.own = func(ctx context.Context, ns string, pods []*corev1.Pod) (promquery.NamespaceSamples, error) {
			return c.sampler.ofPods(ctx, ps, ns, pods)
		}
	default:
		return fmt.Errorf("unknown query mode %q", mode)
	}
	return nil
}

// ofPods sends the per-MemHpa query of one MemHpa's pods.
func (s *sampler) ofPods(ctx context.Context, ps PodSource, ns string, pods []*corev1.Pod) (promquery.NamespaceSamples, error) {
	if len(pods) == 0 {
		return promquery.Samples{}.InNamespace(ns), nil
	}
	names := make([]string, len(pods))
	for i, p := range pods {
		names[i] = p.Name
	}
	start := s.clock.Now()
	samples, err := ps.WorkingSetOfPods(ctx, ns, names)
	s.observe(start, err)
	if err != nil {
		return promquery.NamespaceSamples{}, err
	}
	return samples.InNamespace(ns), nil
}
