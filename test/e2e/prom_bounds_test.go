package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/memhpa/memhpa/test/harness"
)

// Prometheus scrapes the kwok nodes twice, under two job names, as
// kube-prometheus set-ups do with the kubelet's cAdvisor and resource
// endpoints: every container has two series. At 40 % of the limits for a 50 %
// target, a scaler that added both would see 80 % and scale up; memhpa counts
// each container once, holds the replicas and reports the duplicates (a
// DuplicateMemorySeries event naming pod/container, and
// memhpa_scaler_duplicate_series_containers); with --memory-metric-selector
// on one job nothing is duplicated any more.
func TestDuplicateSeriesCountOnce(t *testing.T) {
	const again = "kwok-nodes-again"
	ctx := testCtx(t)
	promURL, err := env.StartPrometheus(ctx, "prometheus-twice", harness.NodeMetricsJob, again)
	t.Cleanup(func() {
		if err := env.StopComponent(context.Background(), "prometheus-twice"); err != nil {
			t.Errorf("stop the second Prometheus: %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	ns := newNamespace(t, "e2e-dupseries")
	autoscaledApp(t, ns)

	// The set-up really doubles: two series of each container of the app.
	q := fmt.Sprintf(`count by (pod, container) (container_memory_working_set_bytes{namespace=%q, container!="", container!="POD"})`, ns)
	var last []harness.Sample
	err = harness.Poll(ctx, faultReaction, time.Second, func(ctx context.Context) (bool, error) {
		last, err = harness.PromQueryAt(ctx, promURL, q)
		if err != nil || len(last) < appReplicas {
			return false, err
		}
		for _, s := range last {
			if s.Value != 2 {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("the second Prometheus does not hold two series of each container: last %v: %v", last, err)
	}

	start := time.Now()
	const twice = "scaler-dupseries"
	startScalerFor(t, twice, "--prometheus-url="+promURL)
	waitCondition(t, ns, "ScalingActive", "True", "ValidMetricFound", faultReaction)
	// Counted twice, 80 % of the limits would ask for 4 replicas.
	requireReplicasStay(t, ns, appReplicas, 4*faultSyncPeriod)
	if m := getMemHpa(t, ns, appName); m.Status.Targets != "40%/50%" {
		t.Errorf("targets = %q, want 40%%/50%% (each container once)", m.Status.Targets)
	}
	ev := waitEvent(t, ns, "Warning", "DuplicateMemorySeries", start, faultReaction)
	if !strings.Contains(ev, "2 container(s)") || strings.Count(ev, "/app") != 2 {
		t.Errorf("the DuplicateMemorySeries event does not name both pods' app container: %q", ev)
	}
	gauge := `memhpa_scaler_duplicate_series_containers{memhpa="` + appName + `",namespace="` + ns + `"}`
	if m := scalerMetrics(t, twice); !strings.Contains(m, gauge+" 2") {
		t.Errorf("/metrics lacks %s 2", gauge)
	}
	if err := env.StopComponent(ctx, twice); err != nil {
		t.Fatal(err)
	}

	// One job picked: nothing duplicated, the same figure.
	cs := clientset(t)
	before, err := eventCount(ctx, cs, ns, "DuplicateMemorySeries")
	if err != nil {
		t.Fatal(err)
	}
	const once = "scaler-onejob"
	startScalerFor(t, once, "--prometheus-url="+promURL, `--memory-metric-selector=job="`+again+`"`)
	err = harness.Poll(ctx, faultReaction, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		body, _, err := httpGet(ctx, env.ScalerHealthURL(once)+"/metrics")
		return strings.Contains(body, gauge+" 0"), err
	})
	if err != nil {
		t.Fatalf("with one job the scaler does not report 0 duplicated containers: %v", err)
	}
	requireReplicasStay(t, ns, appReplicas, 3*faultSyncPeriod)
	if after, err := eventCount(ctx, cs, ns, "DuplicateMemorySeries"); err != nil || after != before {
		t.Errorf("DuplicateMemorySeries events went from %d to %d (%v) with one job selected", before, after, err)
	}
	if m := getMemHpa(t, ns, appName); m.Status.Targets != "40%/50%" {
		t.Errorf("targets with one job = %q, want 40%%/50%%", m.Status.Targets)
	}
}

// A Prometheus that answers some 10⁶ series (a big cluster, a faulty
// Prometheus) is cut off at --prometheus-max-response-bytes (its default):
// the scaler says so (ScalingActive=False/FailedGetMemoryMetric, a Warning
// event, the bad_response failures), does not scale, keeps running, and its
// peak resident memory stays under the chart's memory limit of the scaler.
// Once the answers are sane again, it scales.
func TestHugePrometheusAnswerIsCutOff(t *testing.T) {
	limit := chartScalerMemoryLimit(t)
	ctx := testCtx(t)
	ns := newNamespace(t, "e2e-promhuge")
	autoscaledApp(t, ns)
	proxy := startPromProxy(t)
	const series = 1_000_000
	proxy.setHuge(ns, series)
	const name = "scaler-promhuge"
	start := time.Now()
	// A deadline long enough that the cap, not the clock, ends the read on a
	// busy machine (still under the 3 s period).
	startScalerFor(t, name, "--prometheus-url="+proxy.URL, "--prometheus-timeout=2500ms")
	if err := env.SetPodsMemory(ctx, ns, "app="+appName, appHot); err != nil {
		t.Fatal(err)
	}

	const says = "Prometheus response larger than 16 MiB"
	msg := waitCondition(t, ns, "ScalingActive", "False", "FailedGetMemoryMetric", faultReaction)
	if !strings.Contains(msg, says) {
		t.Errorf("condition %q does not say %q", msg, says)
	}
	if ev := waitEvent(t, ns, "Warning", "FailedGetMemoryMetric", start, faultReaction); !strings.Contains(ev, says) {
		t.Errorf("event %q does not say %q", ev, says)
	}
	requireReplicasStay(t, ns, appReplicas, 4*faultSyncPeriod)
	if _, faulted := proxy.counts(); faulted < 3 {
		t.Fatalf("only %d huge answers served: the scaler is not querying through the proxy", faulted)
	}
	pid := env.OwnPID(name)
	if pid == 0 {
		t.Fatalf("the scaler is not running after %d-series answers", series)
	}
	peak := residentPeak(t, pid)
	t.Logf("%d huge answers of %d series; at most %d bytes of one reached the scaler's socket; scaler peak RSS %d MiB, chart limit %d MiB",
		func() int { _, f := proxy.counts(); return f }(), series, proxy.hugeBytes(), peak>>20, limit>>20)
	if peak >= limit {
		t.Errorf("scaler peak RSS %d MiB, over the chart's memory limit of %d MiB", peak>>20, limit>>20)
	}
	if v, _ := metricValue(scalerMetrics(t, name), `memhpa_scaler_prometheus_query_failures_total{reason="bad_response"}`); v < 1 {
		t.Errorf("no bad_response query failure counted")
	}
	requireScalerHealthy(t, name)

	proxy.set(promPass, 0)
	got := waitReplicasAtLeast(t, ns, 4, faultReaction)
	waitCondition(t, ns, "ScalingActive", "True", "ValidMetricFound", faultReaction)
	t.Logf("recovered: %d replicas", got)
}

// chartScalerMemoryLimit is scaler.resources.limits.memory of the chart's
// values.yaml, in bytes.
func chartScalerMemoryLimit(t *testing.T) int64 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(env.Root, "charts", "memhpa", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values struct {
		Scaler struct {
			Resources struct {
				Limits struct {
					Memory string `json:"memory"`
				} `json:"limits"`
			} `json:"resources"`
		} `json:"scaler"`
	}
	if err := yaml.Unmarshal(raw, &values); err != nil {
		t.Fatalf("read the chart's values: %v", err)
	}
	q, err := resource.ParseQuantity(values.Scaler.Resources.Limits.Memory)
	if err != nil || q.Value() <= 0 {
		t.Fatalf("the chart's scaler.resources.limits.memory %q: %v", values.Scaler.Resources.Limits.Memory, err)
	}
	return q.Value()
}

// residentPeak is the peak resident memory of a process (VmHWM), in bytes.
func residentPeak(t *testing.T, pid int) int64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" && f[2] == "kB" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}
