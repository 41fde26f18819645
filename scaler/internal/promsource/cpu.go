package promsource

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/memhpa/memhpa/scaler/internal/promquery"
)

// CPUSource returns the CPU use of every pod of a set of namespaces, for the
// MemHpas with a CPU target: Samples.Bytes are millicores per pod (the sum
// of its containers' rates) and Samples.Containers millicores per container.
type CPUSource interface {
	// CPUUsage runs one query for all the given namespaces.
	CPUUsage(ctx context.Context, namespaces []string) (promquery.Samples, error)
}

// cpuQuery is what CPUUsage asks Prometheus.
type cpuQuery struct {
	metric string
	window time.Duration
}

// CPUUsage implements CPUSource, with the deadline, the response cap and the
// selector of WorkingSet.
func (p *Prometheus) CPUUsage(ctx context.Context, namespaces []string) (promquery.Samples, error) {
	q, err := promquery.CPUQuery(p.cpu.metric, p.selector, namespaces, p.cpu.window)
	if err != nil {
		return promquery.Samples{}, fmt.Errorf("build prometheus cpu query: %w", err)
	}
	return p.run(ctx, q)
}

// SetCPU makes a pod report the given CPU use, in millicores, all in
// container FakeContainer.
func (f *Fake) SetCPU(namespace, pod string, milliCores float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cpu == nil {
		f.cpu = map[containerKey]float64{}
	}
	f.cpu[containerKey{promquery.Key{Namespace: namespace, Pod: pod}, FakeContainer}] = milliCores
}

// CPUQueries returns the namespaces of every CPU query so far.
func (f *Fake) CPUQueries() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.cpuQueries)
}

// CPUUsage implements CPUSource; SetError fails it too.
func (f *Fake) CPUUsage(_ context.Context, namespaces []string) (promquery.Samples, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cpuQueries = append(f.cpuQueries, slices.Clone(namespaces))
	if f.err != nil {
		return promquery.Samples{}, f.err
	}
	return parseValues(f.cpu, nil, func(k promquery.Key) bool { return slices.Contains(namespaces, k.Namespace) }), nil
}
