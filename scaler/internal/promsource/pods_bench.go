//go:build memhpabench

package promsource

import (
	"context"
	"fmt"
	"slices"

	"github.com/memhpa/memhpa/scaler/internal/promquery"
)

// The per-MemHpa query of make bench's comparison mode
// (--prometheus-query-mode=per-memhpa in a build with the memhpabench tag).

// WorkingSetOfPods runs one query for the named pods of one namespace: the
// benchmark's per-MemHpa comparison mode (--prometheus-query-mode=per-memhpa).
func (p *Prometheus) WorkingSetOfPods(ctx context.Context, namespace string, pods []string) (promquery.Samples, error) {
	q, err := promquery.PodsQuery(p.metric, p.selector, namespace, pods)
	if err != nil {
		return promquery.Samples{}, fmt.Errorf("build prometheus query: %w", err)
	}
	return p.run(ctx, q)
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
