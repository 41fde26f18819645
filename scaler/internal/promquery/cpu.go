package promquery

import (
	"fmt"
	"time"

	"github.com/prometheus/common/model"
)

// CPUQuery returns the PromQL for the CPU use, in millicores, of every
// container of the pods of the given namespaces: the rate over window of the
// cAdvisor counter metric (container_cpu_usage_seconds_total), only its
// series that match sel, the largest of the series that report one container
// (two scrape jobs of one kubelet must not count it twice, as for memory).
// Its answer has the memory query's labels, so Parse reads it: Samples.Bytes
// are then millicores per pod and Samples.Containers millicores per
// container. A container with fewer than two points in the window has no
// rate, so its pod is missing, never zero.
func CPUQuery(metric string, sel Selector, namespaces []string, window time.Duration) (string, error) {
	if len(namespaces) == 0 {
		return "", fmt.Errorf("no namespace to query")
	}
	if !model.LegacyValidation.IsValidMetricName(metric) {
		return "", fmt.Errorf("invalid metric name %q", metric)
	}
	if window < time.Second || window%time.Second != 0 {
		return "", fmt.Errorf("rate window must be a whole number of seconds, at least 1s, got %v", window)
	}
	matchers := `container!="", container!="POD", `
	if len(sel) > 0 {
		matchers += sel.String() + ", "
	}
	series := fmt.Sprintf("%s{%snamespace=~%q}", metric, matchers, alternation(namespaces))
	return fmt.Sprintf("1000 * max by (namespace, pod, container) (rate(%s[%s]))", series, model.Duration(window)), nil
}
