package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/memhpa/memhpa/test/harness"
)

// Timing of the scaler tests: a short cycle and a shortened scale-down window
// (the default is 5 minutes), so that both directions fit in a minute or two.
const (
	scalerSync   = 3 * time.Second
	scalerWindow = 20 * time.Second
	// scalerSlack covers a loaded two-core machine on top of the cycles.
	scalerSlack = 4 * time.Second
)

// startScaler starts a scaler named name with the scaler tests' timing (on
// top of the fault tests' defaults), then extra flags, and stops it when the
// test ends.
func startScaler(t *testing.T, name string, extra ...string) {
	t.Helper()
	startScalerFor(t, name, append([]string{
		"--sync-period=" + scalerSync.String(),
		"--downscale-stabilization=" + scalerWindow.String(),
		// The original design's single-dash flags are accepted (and
		// overridden here by the harness's --prometheus-url).
		"-prom-name", "prometheus", "-prom-namespace", "monitoring"}, extra...)...)
}

// waitPromSees waits until Prometheus reports at least n pods of ns at (at
// least, or at most) bytes, and returns when it did.
func waitPromSees(t *testing.T, ns string, bytes float64, above bool, n int) time.Time {
	t.Helper()
	q := fmt.Sprintf(`sum by (pod) (container_memory_working_set_bytes{namespace=%q, container!="", container!="POD"})`, ns)
	var last string
	err := harness.Poll(testCtx(t), 3*time.Minute, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		samples, err := env.PromQuery(ctx, q)
		if err != nil || len(samples) == 0 {
			return false, err
		}
		last = fmt.Sprint(samples)
		ok := 0
		for _, s := range samples {
			if (above && s.Value >= bytes) || (!above && s.Value <= bytes) {
				ok++
			}
		}
		return ok >= n, nil
	})
	if err != nil {
		t.Fatalf("Prometheus did not see %v bytes for the pods of %s: last %s: %v", bytes, ns, last, err)
	}
	return time.Now()
}

// waitReplicasExactly waits until the app's spec.replicas is n.
func waitReplicasExactly(t *testing.T, ns string, n int32, timeout time.Duration) {
	t.Helper()
	cs := clientset(t)
	var got int32
	err := harness.Poll(testCtx(t), timeout, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		r, _, err := replicas(ctx, cs, ns, appName)
		got = r
		return err == nil && r == n, err
	})
	if err != nil {
		t.Fatalf("replicas of %s/%s at %d, want %d: %v\n%s", ns, appName, got, n, err, memHpaState(ns))
	}
}

// waitRescaleEvent waits for a Normal SuccessfulRescale event about the app's
// MemHpa whose message matches pattern.
func waitRescaleEvent(t *testing.T, ns, pattern string) {
	t.Helper()
	re := regexp.MustCompile(pattern)
	cs := clientset(t)
	var seen []string
	err := harness.Poll(testCtx(t), 30*time.Second, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		evs, err := memHpaEvents(ctx, cs, ns, "SuccessfulRescale")
		seen = seen[:0]
		for _, e := range evs {
			seen = append(seen, e.Message)
			if e.Type == "Normal" && re.MatchString(e.Message) {
				return true, nil
			}
		}
		return false, err
	})
	if err != nil {
		t.Errorf("no SuccessfulRescale event matching %s; seen %q: %v", pattern, seen, err)
	}
}

// metricValue is the value of one series (name{labels} exactly as the text
// format writes it) in a /metrics text; false when it is not there.
func metricValue(metrics, series string) (float64, bool) {
	for _, line := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}

// scalerMetrics returns the scaler's /metrics text.
func scalerMetrics(t *testing.T, name string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), http.MethodGet, env.ScalerHealthURL(name)+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("get scaler metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestScalerScalesOnMemory is the scaler's life on the local control plane:
// raising the pods' memory scales the Deployment up within two cycles of
// Prometheus seeing it; lowering it scales down only after the stabilisation
// window; kubectl shows the HPA's columns, conditions and events; with
// Prometheus stopped nothing scales and the MemHpa says why, and once it is
// back the scale-up happens.
func TestScalerScalesOnMemory(t *testing.T) {
	ns := newNamespace(t, "e2e-scaler")
	mustApply(t, deploymentYAML(ns, appName, 2, "100Mi", "40Mi"))
	mustApply(t, memHpaYAML(ns, appName, `
scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: app}
minReplicas: 2
maxReplicas: 6
targetUtilizationPercentage: 50`))
	mustKubectl(t, "rollout", "status", "deployment/"+appName, "-n", ns, "--timeout=120s")
	const scaler = "scaler-e2e"
	startScaler(t, scaler)

	// 40 % of the limits for a 50 % target: measured, and 2 replicas hold.
	waitCondition(t, ns, "ScalingActive", "True", "ValidMetricFound", 90*time.Second)
	err := harness.Poll(testCtx(t), 60*time.Second, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		out, err := env.Kubectl(ctx, "get", "mhpa", appName, "-n", ns, "--no-headers")
		return strings.Contains(out, "Deployment/app") && strings.Contains(out, "40%/50%"), err
	})
	if err != nil {
		t.Fatalf("kubectl get mhpa does not show Deployment/app 40%%/50%%: %v\n%s", err, memHpaState(ns))
	}
	requireReplicasStay(t, ns, 2, 2*scalerSync)

	// Up: 90 % → ratio 1.8 → ceil(1.8 × 2) = 4, at the max(2×, 4) cap.
	raised := time.Now()
	if err := env.SetPodsMemory(testCtx(t), ns, "app="+appName, "90Mi"); err != nil {
		t.Fatal(err)
	}
	seen := waitPromSees(t, ns, 90<<20, true, 2)
	waitReplicasAtLeast(t, ns, 4, 2*scalerSync+scalerSlack)
	scaled := time.Now()
	t.Logf("scale-up: %v after the annotation, %v after Prometheus saw it (sync period %v)",
		scaled.Sub(raised).Round(100*time.Millisecond), scaled.Sub(seen).Round(100*time.Millisecond), scalerSync)
	// Prometheus may see one pod's rise a scrape before the other's, so the
	// first step can be 3 (65 %) as well as 4 (90 %).
	waitRescaleEvent(t, ns, `^New size: [34]; reason: memory utilization \(percentage of limit\) above target$`)
	m := getMemHpa(t, ns, appName)
	if m.Status.LastScaleTime == nil || m.Status.LastScaleTime.Time.Before(raised.Add(-time.Second)) {
		t.Errorf("lastScaleTime = %v, want after %v", m.Status.LastScaleTime, raised)
	}
	if m.Status.ObservedGeneration == nil || *m.Status.ObservedGeneration != m.Generation {
		t.Errorf("observedGeneration = %v, generation %d", m.Status.ObservedGeneration, m.Generation)
	}

	// The new pods start at the template's 40Mi: 2 × 90 + 2 × 40 of 400 is
	// 65 % → ceil(1.3 × 4) = 6, the max, where it stays (56 % → 7 > max).
	waitReplicasExactly(t, ns, 6, 60*time.Second)
	mustKubectl(t, "rollout", "status", "deployment/"+appName, "-n", ns, "--timeout=120s")

	// Down: all 6 pods at 10 %: memory asks for the minimum, which only
	// comes once the window has passed.
	waitCondition(t, ns, "ScalingActive", "True", "ValidMetricFound", 30*time.Second)
	lowered := time.Now()
	if err := env.SetPodsMemory(testCtx(t), ns, "app="+appName, "10Mi"); err != nil {
		t.Fatal(err)
	}
	waitPromSees(t, ns, 10<<20, false, 6)
	waitCondition(t, ns, "AbleToScale", "True", "ScaleDownStabilized", scalerWindow)
	waitReplicasExactly(t, ns, 2, scalerWindow+4*scalerSync+scalerSlack)
	down := time.Now()
	t.Logf("scale-down: %v after the annotation (window %v)", down.Sub(lowered).Round(100*time.Millisecond), scalerWindow)
	if down.Sub(lowered) < scalerWindow-scalerSync {
		t.Errorf("scaled down %v after memory fell, inside the %v window", down.Sub(lowered), scalerWindow)
	}
	waitRescaleEvent(t, ns, `^New size: [2-5]; reason: All metrics below target$`)

	// What a reviewer sees.
	out := mustKubectl(t, "describe", "mhpa", appName, "-n", ns)
	for _, want := range []string{"AbleToScale", "ScalingActive", "ValidMetricFound", "ScalingLimited", "SuccessfulRescale", "Deployment/app"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl describe mhpa lacks %q:\n%s", want, out)
		}
	}

	// Prometheus stopped: memory rises, nothing scales, the MemHpa says why.
	// Killed rather than stopped: a crash, the harsher outage.
	stopped := time.Now()
	if err := env.KillComponent(testCtx(t), harness.Prometheus); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			if err := env.StartComponent(context.Background(), harness.Prometheus); err != nil {
				t.Errorf("restart Prometheus: %v", err)
			}
		}
	})
	if err := env.SetPodsMemory(testCtx(t), ns, "app="+appName, "90Mi"); err != nil {
		t.Fatal(err)
	}
	cond := waitCondition(t, ns, "ScalingActive", "False", "FailedGetMemoryMetric", 30*time.Second)
	ev := waitEvent(t, ns, "Warning", "FailedGetMemoryMetric", stopped, 30*time.Second)
	t.Logf("outage: condition %q, event %q", cond, ev)
	requireReplicasStay(t, ns, 2, 3*scalerSync)
	if m := getMemHpa(t, ns, appName); m.Status.Targets != "<unknown>/50%" {
		t.Errorf("targets during the outage = %q, want <unknown>/50%%", m.Status.Targets)
	}
	// Every reason's series exists from the start at 0: the count must have grown.
	outage := scalerMetrics(t, scaler)
	if v, _ := metricValue(outage, `memhpa_scaler_prometheus_query_failures_total{reason="unreachable"}`); v < 1 {
		t.Errorf("no unreachable query failure counted:\n%s", outage)
	}

	// Back: the scale-up happens and the condition recovers.
	if err := env.StartComponent(testCtx(t), harness.Prometheus); err != nil {
		t.Fatal(err)
	}
	restarted = true
	back := time.Now()
	// The scaler's part starts when Prometheus has samples again.
	seen = waitPromSees(t, ns, 90<<20, true, 2)
	waitReplicasAtLeast(t, ns, 4, 2*scalerSync+scalerSlack)
	waitCondition(t, ns, "ScalingActive", "True", "ValidMetricFound", 30*time.Second)
	t.Logf("recovery: Prometheus had samples %v after its restart; scaled up %v later",
		seen.Sub(back).Round(100*time.Millisecond), time.Since(seen).Round(100*time.Millisecond))

	metrics := scalerMetrics(t, scaler)
	for _, want := range []string{
		`memhpa_scaler_reconciliations_total{action="scale_up",error="none"}`,
		`memhpa_scaler_reconciliations_total{action="scale_down",error="none"}`,
		`memhpa_scaler_desired_replicas{memhpa="app",mode="Scale",namespace="` + ns + `"}`,
		"memhpa_scaler_leader 1",
		"memhpa_scaler_prometheus_query_duration_seconds_count",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestScalerReleasesLeaseOnShutdown: with leader election, the scaler takes
// the Lease, and SIGTERM releases it at once (no wait for it to expire), so a
// successor takes over without delay.
func TestScalerReleasesLeaseOnShutdown(t *testing.T) {
	ns := newNamespace(t, "e2e-lease")
	const name, lease = "scaler-lease", "memhpa-scaler-e2e"
	if err := env.StartScalerNamed(testCtx(t), name, "--leader-elect=true",
		"--leader-election-namespace="+ns, "--leader-election-id="+lease,
		"--leader-election-lease-duration=60s", "--leader-election-renew-deadline=40s", "--leader-election-retry-period=2s",
		"--sync-period="+scalerSync.String()); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = env.StopComponent(context.Background(), harness.Component(name))
		}
	})
	cs := clientset(t)
	var holder string
	err := harness.Poll(testCtx(t), 60*time.Second, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		l, err := cs.CoordinationV1().Leases(ns).Get(ctx, lease, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if l.Spec.HolderIdentity != nil {
			holder = *l.Spec.HolderIdentity
		}
		return holder != "", nil
	})
	if err != nil {
		t.Fatalf("the scaler did not take the Lease: %v", err)
	}
	if m := scalerMetrics(t, name); !strings.Contains(m, "memhpa_scaler_leader 1") {
		t.Errorf("leader gauge not 1 while holding %s", holder)
	}
	start := time.Now()
	if err := env.StopComponent(testCtx(t), harness.Component(name)); err != nil {
		t.Fatal(err)
	}
	stopped = true
	l, err := cs.CoordinationV1().Leases(ns).Get(testCtx(t), lease, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A released Lease has no holder (client-go clears it on release).
	if l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "" {
		t.Errorf("after SIGTERM the Lease is still held by %q (was %q); a successor would wait %s", *l.Spec.HolderIdentity, holder,
			strconv.Itoa(int(*l.Spec.LeaseDurationSeconds))+"s")
	}
	t.Logf("Lease of %s released within %v of SIGTERM", holder, time.Since(start).Round(100*time.Millisecond))
}
