package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/memhpa/memhpa/test/harness"
	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
)

// faultKubeTimeout is the scaler's --kube-api-timeout in the apiserver fault
// test: a stalled request is given up after it, within one sync period.
const faultKubeTimeout = 3 * time.Second

// The apiserver misbehaves for the scaler only (its kubeconfig points at a
// proxy), each way on the requests of one MemHpa of its own, all at once
// while the memory of every app rises to 180 % of target: 429 with
// Retry-After on reads of the scale, 503 on writes of it, a stall longer than
// --kube-api-timeout on reads and on writes, 500 on writes of the MemHpa's
// status; a sixth app has no fault. What must hold:
//
//   - while its scale cannot be read or written, an app is not rescaled at
//     all: spec.replicas never changes and no write reaches the apiserver;
//     the MemHpa says why (AbleToScale=False and a Warning event); the scaler
//     stays healthy;
//   - the stalls do not hang the scaler: they are given up (the MemHpa
//     reports them, which needs the request timeout) and the app without a
//     fault scales up while they go on;
//   - once the fault ends, the scale-up happens, and the first write to reach
//     the apiserver is the size memory asks for (4) and succeeds first time;
//     every change of spec.replicas has one SuccessfulRescale event, none
//     undoes another (no write is repeated from a stale read);
//   - a failing status write neither stops nor repeats scale writes (the
//     same checks hold for it during the fault), and the status catches up.
//
// The scaler reads a Deployment's scale from its informer of Deployments;
// here that informer is refused its list and watch throughout (as RBAC
// without them would), so the scaler must still start and read every scale
// by GET, which is what the faults of scale reads hit. The cached reads are
// TestSteadyCycleReadsNoScale's.
func TestAPIServerFaultsForTheScaler(t *testing.T) {
	type app struct {
		name string
		rule *apiRule // nil: no fault
		// reason of AbleToScale=False during the fault; empty when the
		// status cannot be written.
		reason string
		event  string // reason of the Warning event during the fault
		// blocked: no scaling at all during the fault.
		blocked bool
		ns      string
		changes *replicaChanges
	}
	get, put := []string{http.MethodGet}, []string{http.MethodPut}
	apps := []*app{
		{name: "429 on scale reads", rule: &apiRule{Methods: get, Suffix: "/scale",
			Fault: apiFault{Status: http.StatusTooManyRequests, RetryAfter: 1}},
			reason: "FailedGetScale", event: "FailedGetScale", blocked: true},
		{name: "503 on scale writes", rule: &apiRule{Methods: put, Suffix: "/scale",
			Fault: apiFault{Status: http.StatusServiceUnavailable}},
			reason: "FailedUpdateScale", event: "FailedRescale", blocked: true},
		{name: "stalled scale reads", rule: &apiRule{Methods: get, Suffix: "/scale", Fault: apiFault{Stall: true}},
			reason: "FailedGetScale", event: "FailedGetScale", blocked: true},
		{name: "stalled scale writes", rule: &apiRule{Methods: put, Suffix: "/scale", Fault: apiFault{Stall: true}},
			reason: "FailedUpdateScale", event: "FailedRescale", blocked: true},
		{name: "500 on status writes", rule: &apiRule{Methods: put, Suffix: "/status",
			Fault: apiFault{Status: http.StatusInternalServerError}},
			event: "FailedUpdateStatus"},
		{name: "no fault"},
	}
	for _, a := range apps {
		a.ns = newNamespace(t, "e2e-apifault")
		autoscaledApp(t, a.ns)
		t.Logf("%s: namespace %s", a.name, a.ns)
	}
	proxy := startAPIProxy(t)
	noCache := proxy.inject(&apiRule{Methods: get, Path: "/apis/apps/v1/deployments", Fault: apiFault{Status: http.StatusForbidden}})
	const scaler = "scaler-apifault"
	startScalerFor(t, scaler, "--kubeconfig="+proxy.Kubeconfig, "--kube-api-timeout="+faultKubeTimeout.String())
	for _, a := range apps {
		waitCondition(t, a.ns, "ScalingActive", "True", "ValidMetricFound", faultReaction)
	}

	ctx := testCtx(t)
	for _, a := range apps {
		a.changes = watchReplicaChanges(t, a.ns, appReplicas)
		if a.rule != nil {
			a.rule.Namespace = a.ns
			proxy.inject(a.rule)
		}
	}
	faultAt := time.Now()
	for _, a := range apps {
		if err := env.SetPodsMemory(ctx, a.ns, "app="+appName, appHot); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range apps {
		if a.reason != "" {
			msg := waitCondition(t, a.ns, "AbleToScale", "False", a.reason, faultReaction)
			t.Logf("%s: condition %s", a.name, msg)
		}
		if a.event != "" {
			ev := waitEvent(t, a.ns, "Warning", a.event, faultAt, faultReaction)
			t.Logf("%s: event %s", a.name, ev)
		}
	}
	// The apps whose scale can be read and written scale while the others'
	// requests fail or hang.
	for _, a := range apps {
		if !a.blocked {
			got := waitReplicasAtLeast(t, a.ns, 4, faultReaction)
			t.Logf("%s: scaled to %d during the faults", a.name, got)
		}
	}
	// Memory asks for 4 at every blocked app, and several cycles pass.
	blocked := map[string]*replicaChanges{}
	for _, a := range apps {
		if a.blocked {
			waitPrometheusSees(t, a.ns, appHot)
			blocked[a.ns] = a.changes
		}
	}
	requireUnchanged(t, 3*faultSyncPeriod, blocked)
	for _, a := range apps {
		if a.rule != nil && a.rule.faulted() < 2 {
			t.Fatalf("%s: only %d requests met the fault: the scaler does not go through the proxy", a.name, a.rule.faulted())
		}
	}
	requireScalerHealthy(t, scaler)
	if noCache.faulted() == 0 {
		t.Fatal("the scaler never listed Deployments through the proxy")
	}

	liftedAt := time.Now()
	for _, a := range apps {
		if a.rule != nil {
			proxy.lift(a.rule)
		}
	}
	for _, a := range apps {
		waitReplicasAtLeast(t, a.ns, 4, faultReaction)
		writes := requireEachRescaleOnce(t, a.ns, a.changes, 0)
		// After the rescale events: every write they report has been recorded.
		first, ok := firstScalePut(proxy.scalePuts(), a.ns)
		if a.blocked {
			switch {
			case !ok:
				t.Errorf("%s: spec.replicas went %v, but no scale write went through the proxy", a.name, writes)
			case first.At.Before(liftedAt):
				t.Errorf("%s: a scale write reached the apiserver during the fault: %+v", a.name, first)
			case first.Status != http.StatusOK || first.Replicas != 4 || writes[0] != 4:
				t.Errorf("%s: first write after the fault %+v, replicas went %v; want one successful write of 4", a.name, first, writes)
			}
		}
		waitCondition(t, a.ns, "AbleToScale", "True", "", faultReaction)
		if a.rule != nil {
			t.Logf("%s: %d requests met the fault; replicas went %v; first write %+v", a.name, a.rule.faulted(), writes, first)
		}
	}
	// The status catches up with what was written while it could not be.
	cs := clientset(t)
	for _, a := range apps {
		waitMemHpa(t, a.ns, "status.desiredReplicas equal to the target's", faultReaction, func(m v1alpha1.MemHpa) bool {
			r, _, err := replicas(ctx, cs, a.ns, appName)
			return err == nil && m.Status.DesiredReplicas == r
		})
	}
}

// firstScalePut is the first scale write of ns that went through the proxy.
func firstScalePut(puts []scalePut, ns string) (scalePut, bool) {
	for _, p := range puts {
		if strings.Contains(p.Path, "/namespaces/"+ns+"/") {
			return p, true
		}
	}
	return scalePut{}, false
}

// The MemHpa's target Deployment is deleted with its pods left behind
// (--cascade=orphan: how a Deployment's immutable selector is changed) and
// created again under the same name with another selector and pods at 20 %
// of their limits, where the orphans are at 40 %. The MemHpa follows the new
// pods: its status reports their utilization, and a memory rise on them
// scales the new Deployment; the orphans are left alone.
func TestTargetRecreatedWithAnotherSelector(t *testing.T) {
	ns := newNamespace(t, "e2e-retarget")
	autoscaledApp(t, ns)
	startScalerFor(t, "scaler-retarget")
	waitMemHpa(t, ns, "utilization 40 % (the first pods)", faultReaction, utilizationIs(40))

	mustKubectl(t, "delete", "deployment", appName, "-n", ns, "--cascade=orphan")
	const label = appName + "-v2"
	retargeted := appWorkload(ns, appName, appReplicas, appLimit, "20Mi")
	retargeted.Label = label
	mustApply(t, retargeted.YAML())
	mustKubectl(t, "rollout", "status", "deployment/"+appName, "-n", ns, "--timeout=120s")
	m := waitMemHpa(t, ns, "utilization 20 % (the new pods)", faultReaction, utilizationIs(20))
	t.Logf("after the target was recreated: %s, %d replicas", m.Status.Targets, m.Status.CurrentReplicas)

	if err := env.SetPodsMemory(testCtx(t), ns, "app="+label, appHot); err != nil {
		t.Fatal(err)
	}
	got := waitReplicasAtLeast(t, ns, 4, faultReaction)
	orphans, err := clientset(t).CoreV1().Pods(ns).List(testCtx(t), metav1.ListOptions{LabelSelector: "app=" + appName})
	if err != nil {
		t.Fatal(err)
	}
	if len(orphans.Items) != appReplicas {
		t.Errorf("%d pods of the first Deployment left, want its %d orphans untouched", len(orphans.Items), appReplicas)
	}
	t.Logf("the new Deployment scaled to %d on its own pods' memory; %d orphans left", got, len(orphans.Items))
}

func utilizationIs(percent int32) func(v1alpha1.MemHpa) bool {
	return func(m v1alpha1.MemHpa) bool {
		u := m.Status.CurrentUtilizationPercentage
		return u != nil && *u == percent
	}
}

// The MemHpa's namespace is deleted: afterwards the scaler's /metrics has no
// series of that namespace, and stays so. The namespace is created again with
// a same-named target and MemHpa, which start with a fresh history.
func TestNamespaceDeletedLeavesNothingBehind(t *testing.T) {
	ns := newNamespace(t, "e2e-nsgone")
	const scaler = "scaler-nsgone"
	startScalerFor(t, scaler)
	appRecommendingSix(t, ns)
	series := `memhpa_scaler_desired_replicas{memhpa="` + appName + `",mode="Scale",namespace="` + ns + `"} 6`
	err := harness.Poll(testCtx(t), 2*faultSyncPeriod+10*time.Second, 500*time.Millisecond, func(context.Context) (bool, error) {
		return strings.Contains(scalerMetrics(t, scaler), series), nil
	})
	if err != nil {
		t.Fatalf("/metrics lacks %s: %v", series, err)
	}

	mustKubectl(t, "delete", "namespace", ns, "--timeout=120s")
	gone := time.Now()
	// Gone within a resync (its garbage collection), then never back.
	err = harness.Poll(testCtx(t), 2*faultSyncPeriod+10*time.Second, 500*time.Millisecond, func(context.Context) (bool, error) {
		left := seriesOf(scalerMetrics(t, scaler), ns)
		return len(left) == 0, fmt.Errorf("series left: %q", left)
	})
	if err != nil {
		t.Fatalf("/metrics still has series of the deleted namespace %s: %v", ns, err)
	}
	t.Logf("no series of %s %v after the namespace was gone", ns, time.Since(gone).Round(100*time.Millisecond))
	end := time.Now().Add(2 * faultSyncPeriod)
	err = harness.Poll(testCtx(t), 2*faultSyncPeriod+10*time.Second, 500*time.Millisecond, func(context.Context) (bool, error) {
		if left := seriesOf(scalerMetrics(t, scaler), ns); len(left) > 0 {
			return false, harness.Permanent(fmt.Errorf("series of the deleted namespace %s came back: %q", ns, left))
		}
		return time.Now().After(end), nil
	})
	if err != nil {
		t.Fatal(err)
	}

	mustKubectl(t, "create", "namespace", ns)
	mustApply(t, deploymentYAML(ns, appName, appReplicas, appLimit, appLow))
	mustApply(t, legacyMemHpaYAML(ns))
	mustKubectl(t, "rollout", "status", "deployment/"+appName, "-n", ns, "--timeout=120s")
	requireFreshHistory(t, ns, "")
}

// seriesOf lists the samples of /metrics text labelled with namespace ns.
func seriesOf(metrics, ns string) []string {
	var out []string
	for _, line := range strings.Split(metrics, "\n") {
		if !strings.HasPrefix(line, "#") && strings.Contains(line, `namespace="`+ns+`"`) {
			out = append(out, line)
		}
	}
	return out
}

// A MemHpa recommends 6 (memory exactly at target on 6 replicas), then memory
// falls and the window holds 6. It is deleted, a user scales the target to 2
// by hand, and it is created again at once. With a fresh history its first
// decision is seeded with the current 2 and stays there; with the deleted
// one's history, the window's 6 would scale the target back up.
func TestMemHpaRecreatedStartsAFreshHistory(t *testing.T) {
	ns := newNamespace(t, "e2e-recreate")
	startScalerFor(t, "scaler-recreate")
	old := appRecommendingSix(t, ns)
	if err := env.SetPodsMemory(testCtx(t), ns, "app="+appName, appLow); err != nil {
		t.Fatal(err)
	}
	waitPromSees(t, ns, appLowBytes, false, 6)
	waitCondition(t, ns, "AbleToScale", "True", "ScaleDownStabilized", faultReaction)
	if r, _, err := replicas(testCtx(t), clientset(t), ns, appName); err != nil || r != 6 {
		t.Fatalf("replicas %d (%v) while the window holds 6", r, err)
	}

	mustKubectl(t, "delete", "memhpa", appName, "-n", ns)
	mustKubectl(t, "scale", "deployment/"+appName, "-n", ns, "--replicas=2")
	mustApply(t, legacyMemHpaYAML(ns))
	requireFreshHistory(t, ns, old.UID)
}

// appLow is 10 % of appLimit: memory asks for fewer replicas than any
// minimum.
const (
	appLow      = "10Mi"
	appLowBytes = 10 << 20
)

// legacyMemHpaYAML is the app's MemHpa without behavior: the HPA's legacy
// rules, where the highest recommendation of the scale-down window
// (--downscale-stabilization, 5 minutes) wins, even over the current size.
func legacyMemHpaYAML(ns string) string {
	return memHpaYAML(ns, appName, fmt.Sprintf(`
scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: %s}
minReplicas: 2
maxReplicas: 6
targetUtilizationPercentage: 50`, appName))
}

// appRecommendingSix creates the app at 6 replicas using 50 % of their
// limits, exactly the target, with its legacy MemHpa, and waits until the
// MemHpa has recommended 6, which is then in its scale-down window.
func appRecommendingSix(t *testing.T, ns string) v1alpha1.MemHpa {
	t.Helper()
	mustApply(t, deploymentYAML(ns, appName, 6, appLimit, "50Mi"))
	mustApply(t, legacyMemHpaYAML(ns))
	mustKubectl(t, "rollout", "status", "deployment/"+appName, "-n", ns, "--timeout=120s")
	return waitMemHpa(t, ns, "recommended 6 from memory", faultReaction, func(m v1alpha1.MemHpa) bool {
		return m.Status.DesiredReplicas == 6 && utilizationIs(50)(m)
	})
}

// requireFreshHistory waits until the app's MemHpa, created again (another
// UID than old, when given), has decided on valid metrics to keep the target
// at its 2 replicas, and requires them to hold for several cycles. A change
// of the replicas fails it at once.
func requireFreshHistory(t *testing.T, ns string, old types.UID) {
	t.Helper()
	cs := clientset(t)
	var m v1alpha1.MemHpa
	err := harness.Poll(testCtx(t), faultReaction, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		if r, _, err := replicas(ctx, cs, ns, appName); err != nil || r != 2 {
			return false, harness.Permanent(fmt.Errorf("replicas %d (%v), want the 2 they were when the MemHpa was created", r, err))
		}
		m = getMemHpa(t, ns, appName)
		valid := false
		for _, c := range m.Status.Conditions {
			valid = valid || c.Type == "ScalingActive" && c.Reason == "ValidMetricFound"
		}
		return valid && m.UID != old && m.Status.DesiredReplicas == 2, nil
	})
	if err != nil {
		t.Fatalf("MemHpa %s/%s created again: no decision of 2 replicas on valid metrics: %v\n%s", ns, appName, err, memHpaState(ns))
	}
	requireReplicasStay(t, ns, 2, 4*faultSyncPeriod)
	t.Logf("MemHpa %s (%s) holds the target at 2: %s", m.Name, m.UID, m.Status.Targets)
}
