package harness

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// ScalerMetricsJob is the scrape job of the scalers' /metrics in a
// Prometheus of StartPrometheusWithScalers.
const ScalerMetricsJob = "memhpa-scaler"

// StartPrometheusWithScalers starts a Prometheus of a test's own, as
// StartPrometheus does with the node job, that also scrapes the /metrics of
// the named running scalers (their health ports on 127.0.0.1) under job
// ScalerMetricsJob, as a ServiceMonitor of the chart would in a cluster. It
// waits until every scaler target is up and returns the URL.
func (e *Env) StartPrometheusWithScalers(ctx context.Context, name string, scalers ...string) (string, error) {
	var targets []string
	for _, s := range scalers {
		u := e.ScalerHealthURL(s)
		if u == "" {
			return "", fmt.Errorf("start %s: no scaler %q is running", name, s)
		}
		targets = append(targets, fmt.Sprintf("%q", strings.TrimPrefix(u, "http://")))
	}
	job := fmt.Sprintf(`- job_name: %s
  static_configs:
  - targets: [%s]
`, ScalerMetricsJob, strings.Join(targets, ", "))
	url, err := e.startPrometheus(ctx, name, job, []string{NodeMetricsJob})
	if err != nil {
		return "", err
	}
	err = Poll(ctx, time.Minute, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		all, err := promTargets(ctx, url)
		if err != nil {
			return false, err
		}
		up := 0
		for _, t := range all {
			if t.ScrapePool == ScalerMetricsJob && t.Health == "up" {
				up++
			}
		}
		return up == len(scalers), nil
	})
	if err != nil {
		return "", fmt.Errorf("wait for Prometheus %s to scrape the scalers %v: %w", name, scalers, err)
	}
	return url, nil
}
