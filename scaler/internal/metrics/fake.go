package metrics

import (
	"context"
	"slices"
	"sync"

	"github.com/prometheus/common/model"

	"github.com/memhpa/memhpa/scaler/internal/promquery"
)

// Fake is a Source driven by a map of values, for tests. Values go through
// the same parsing as Prometheus's answers, so a NaN set here is rejected as
// it would be there.
type Fake struct {
	mu      sync.Mutex
	values  map[promquery.Key]float64
	err     error
	queries [][]string
}

// NewFake returns an empty Fake.
func NewFake() *Fake { return &Fake{values: map[promquery.Key]float64{}} }

// Set makes a pod report the given working set.
func (f *Fake) Set(namespace, pod string, bytes float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.values[promquery.Key{Namespace: namespace, Pod: pod}] = bytes
}

// Delete makes a pod report nothing.
func (f *Fake) Delete(namespace, pod string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.values, promquery.Key{Namespace: namespace, Pod: pod})
}

// SetError makes every query fail with err (nil to recover).
func (f *Fake) SetError(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// Queries returns the namespaces of every query so far.
func (f *Fake) Queries() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.queries)
}

// WorkingSet implements Source.
func (f *Fake) WorkingSet(_ context.Context, namespaces []string) (promquery.Samples, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, slices.Clone(namespaces))
	if f.err != nil {
		return promquery.Samples{}, f.err
	}
	return f.answer(func(k promquery.Key) bool { return slices.Contains(namespaces, k.Namespace) }), nil
}

// answer parses, as Prometheus's answer would be, the values of the pods
// that match. f.mu must be held.
func (f *Fake) answer(match func(promquery.Key) bool) promquery.Samples {
	var vec model.Vector
	for k, v := range f.values {
		if match(k) {
			vec = append(vec, &model.Sample{
				Metric: model.Metric{"namespace": model.LabelValue(k.Namespace), "pod": model.LabelValue(k.Pod)},
				Value:  model.SampleValue(v),
			})
		}
	}
	return promquery.Parse(vec)
}

// WorkingSetOfPods implements the per-MemHpa query of the benchmark's
// comparison mode; it is recorded in Queries as namespace/pod names.
func (f *Fake) WorkingSetOfPods(_ context.Context, namespace string, pods []string) (promquery.Samples, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := []string{}
	for _, p := range pods {
		q = append(q, namespace+"/"+p)
	}
	f.queries = append(f.queries, q)
	if f.err != nil {
		return promquery.Samples{}, f.err
	}
	return f.answer(func(k promquery.Key) bool { return k.Namespace == namespace && slices.Contains(pods, k.Pod) }), nil
}
