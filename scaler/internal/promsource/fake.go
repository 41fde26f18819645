package promsource

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
	values  map[containerKey]float64
	series  map[containerKey]int
	err     error
	queries [][]string
	// cpu and cpuQueries are CPUUsage's (cpu.go).
	cpu        map[containerKey]float64
	cpuQueries [][]string
}

// containerKey names one container of one pod.
type containerKey struct {
	promquery.Key
	container string
}

// FakeContainer is the container a pod has when Set gives its working set.
const FakeContainer = "app"

// NewFake returns an empty Fake.
func NewFake() *Fake {
	return &Fake{values: map[containerKey]float64{}, series: map[containerKey]int{}}
}

// Set makes a pod report the given working set, all in container FakeContainer.
func (f *Fake) Set(namespace, pod string, bytes float64) {
	f.SetContainer(namespace, pod, FakeContainer, bytes)
}

// SetContainer makes one container of a pod report the given working set.
func (f *Fake) SetContainer(namespace, pod, container string, bytes float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.values[containerKey{promquery.Key{Namespace: namespace, Pod: pod}, container}] = bytes
}

// SetSeries makes n series report one container, as two scrape jobs of one
// kubelet would (its figure stays the one set): the answer counts them.
func (f *Fake) SetSeries(namespace, pod, container string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.series[containerKey{promquery.Key{Namespace: namespace, Pod: pod}, container}] = n
}

// Delete makes a pod report nothing.
func (f *Fake) Delete(namespace, pod string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := promquery.Key{Namespace: namespace, Pod: pod}
	for c := range f.values {
		if c.Key == k {
			delete(f.values, c)
			delete(f.series, c)
		}
	}
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
// that match, in the query's two parts. f.mu must be held.
func (f *Fake) answer(match func(promquery.Key) bool) promquery.Samples {
	return parseValues(f.values, f.series, match)
}

// parseValues parses values (and the series counts of those reported more
// than once) of the pods that match, as Prometheus's answer would be.
func parseValues(values map[containerKey]float64, series map[containerKey]int, match func(promquery.Key) bool) promquery.Samples {
	var vec model.Vector
	labels := func(c containerKey) model.Metric {
		return model.Metric{"namespace": model.LabelValue(c.Namespace), "pod": model.LabelValue(c.Pod), "container": model.LabelValue(c.container)}
	}
	for c, v := range values {
		if match(c.Key) {
			vec = append(vec, &model.Sample{Metric: labels(c), Value: model.SampleValue(v)})
		}
	}
	for c, n := range series {
		if _, ok := values[c]; ok && n > 1 && match(c.Key) {
			m := labels(c)
			m[promquery.FigureLabel] = promquery.SeriesCount
			vec = append(vec, &model.Sample{Metric: m, Value: model.SampleValue(n)})
		}
	}
	return promquery.Parse(vec)
}
