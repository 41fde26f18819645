//go:build memhpabench

package promquery

import "fmt"

// PodsQuery returns the PromQL for the working set of the named pods of one
// namespace, in the same form as Query. It exists only for the benchmark's
// per-MemHpa comparison (one query per MemHpa, as a naive scaler would send);
// the scaler itself sends Query once per cycle.
func PodsQuery(metric string, sel Selector, namespace string, pods []string) (string, error) {
	if namespace == "" || len(pods) == 0 {
		return "", fmt.Errorf("no pod to query")
	}
	return query(metric, sel, fmt.Sprintf("namespace=%q, pod=~%q", namespace, alternation(pods)))
}
