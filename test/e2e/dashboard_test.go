package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/memhpa/memhpa/test/harness"
)

// Every query of the chart's Grafana dashboard (each panel's targets, and the
// template variables' label_values) answers with at least one series from a
// Prometheus that scrapes a running scaler, once that scaler has rescaled a
// MemHpa: a query that Prometheus refuses fails at once, one that stays
// empty fails at the deadline. The Rescales panel shows the scale-up.
func TestDashboardQueriesAnswer(t *testing.T) {
	ctx := testCtx(t)
	queries, err := harness.ReadDashboard(env.Root)
	if err != nil {
		t.Fatal(err)
	}
	ns := newNamespace(t, "e2e-dashboard")
	// The app of the fault tests, with a CPU target far above its use (1m of
	// a 10m request against 1000 %), so that the CPU panel has its series
	// while memory alone decides.
	w := appWorkload(ns, appName, appReplicas, appLimit, appQuiet)
	w.CPU = "1m"
	mustApply(t, w.YAML())
	mustApply(t, memHpaYAML(ns, appName, appMemHpaSpec(6, "selectPolicy: Disabled")+"\ncpuTargetUtilizationPercentage: 1000"))
	mustKubectl(t, "rollout", "status", "deployment/"+appName, "-n", ns, "--timeout=120s")
	const scaler = "scaler-dashboard"
	startScalerFor(t, scaler)
	const prom = "prometheus-dashboard"
	promURL, err := env.StartPrometheusWithScalers(ctx, prom, scaler)
	t.Cleanup(func() {
		if err := env.StopComponent(context.Background(), prom); err != nil {
			t.Errorf("stop %s: %v", prom, err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}

	// One rescale: 90 % of the limits at a 50 % target.
	if err := env.SetPodsMemory(ctx, ns, "app="+appName, appHot); err != nil {
		t.Fatal(err)
	}
	got := waitReplicasAtLeast(t, ns, appReplicas+1, faultReaction)
	t.Logf("rescaled: %d → %d replicas", appReplicas, got)

	vars := map[string]string{"namespace": ns, "memhpa": appName, "__rate_interval": "1m", "datasource": "prometheus"}
	for _, q := range queries {
		expr, err := harness.Expand(q.Expr, vars)
		if err != nil {
			t.Errorf("%s: %v", q.Where, err)
			continue
		}
		var samples []harness.Sample
		err = harness.Poll(ctx, time.Minute, time.Second, func(ctx context.Context) (bool, error) {
			samples, err = harness.PromQueryAt(ctx, promURL, expr)
			if err != nil {
				return false, harness.Permanent(err)
			}
			return len(samples) > 0, nil
		})
		if err != nil {
			t.Errorf("%s: %s: %v", q.Where, expr, err)
			continue
		}
		t.Logf("%s: %s", q.Where, describeSamples(samples))
	}

	// The Rescales panel shows the scale-up, not only a series.
	rescales, err := harness.Expand(`sum by (direction) (increase(memhpa_scaler_rescales_total{namespace="$namespace", memhpa="$memhpa"}[$__rate_interval]))`, vars)
	if err != nil {
		t.Fatal(err)
	}
	var last []harness.Sample
	err = harness.Poll(ctx, time.Minute, time.Second, func(ctx context.Context) (bool, error) {
		last, err = harness.PromQueryAt(ctx, promURL, rescales)
		for _, s := range last {
			if s.Metric["direction"] == "up" && s.Value > 0 {
				return true, nil
			}
		}
		return false, err
	})
	if err != nil {
		t.Errorf("no scale-up in %s: last %s: %v", rescales, describeSamples(last), err)
	}
}

// describeSamples is a short form of a query's answer for the log.
func describeSamples(samples []harness.Sample) string {
	out := ""
	for i, s := range samples {
		if i == 4 {
			return out + fmt.Sprintf(" … (%d series)", len(samples))
		}
		labels := ""
		for _, k := range []string{"direction", "reason", "mode", "instance", "le", "namespace"} {
			if v, ok := s.Metric[k]; ok {
				labels += k + "=" + v + " "
			}
		}
		out += fmt.Sprintf("[%s%.4g] ", labels, s.Value)
	}
	return out
}
