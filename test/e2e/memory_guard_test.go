package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/memhpa/memhpa/test/harness"
	v1alpha1 "github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
)

// unevenApp is a Deployment "app" of three pods at 10Mi of a 100Mi limit
// whose first pod (by name) is then made to report 97Mi in its container
// app; it returns that pod's name once Prometheus sees it.
func unevenApp(t *testing.T, ns string) string {
	t.Helper()
	mustApply(t, deploymentYAML(ns, appName, 3, "100Mi", "10Mi"))
	mustKubectl(t, "rollout", "status", "deployment/"+appName, "-n", ns, "--timeout=120s")
	pods := strings.Fields(mustKubectl(t, "get", "pods", "-n", ns, "-l", "app="+appName, "-o", "jsonpath={.items[*].metadata.name}"))
	if len(pods) != 3 {
		t.Fatalf("pods of %s = %q, want 3", ns, pods)
	}
	slices.Sort(pods)
	// The per-container annotation wins over the pod's (harness doc).
	mustKubectl(t, "annotate", "pod", pods[0], "-n", ns, "--overwrite", harness.KwokUsageMemoryAnnotation+"-app=97Mi")
	waitPromSees(t, ns, 97<<20, true, 1)
	waitPromSees(t, ns, 10<<20, false, 2)
	return pods[0]
}

// TestHotContainerGuard is issue 13 case (d): one pod at 97 % of its limit
// and two at 10 %, on average 39 %, which asks for 2 of 3 replicas. With
// maxContainerUtilizationPercentage 90 the MemHpa adds one replica per sync
// period up to its maximum, and status.lastDecision names the hot pod; the
// control, the same workload without the guard, scales down.
func TestHotContainerGuard(t *testing.T) {
	guarded, control := newNamespace(t, "e2e-guard"), newNamespace(t, "e2e-noguard")
	const spec = `
scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: app}
minReplicas: 2
maxReplicas: 6
targetUtilizationPercentage: 80`
	hot := unevenApp(t, guarded)
	unevenApp(t, control)
	mustApply(t, memHpaYAML(guarded, appName, spec+"\nmaxContainerUtilizationPercentage: 90"))
	mustApply(t, memHpaYAML(control, appName, spec))
	trGuarded, trControl := recordReplicas(t, guarded), recordReplicas(t, control)
	startScaler(t, "scaler-guard")

	// While it climbs, the decision says why (kubectl get -o json).
	m := waitMemHpa(t, guarded, "lastDecision.limitedBy HotContainerGuard", time.Minute, func(m v1alpha1.MemHpa) bool {
		d := m.Status.LastDecision
		return d != nil && d.LimitedBy == v1alpha1.LimitedByHotContainerGuard
	})
	d := m.Status.LastDecision
	if want := (v1alpha1.HottestContainer{Pod: hot, Container: "app", UtilizationPercentage: 97}); d.Hottest == nil || *d.Hottest != want {
		t.Errorf("lastDecision.hottest = %+v, want %+v", d.Hottest, want)
	}
	// 39 % of 80 × 3 pods = 1.46: memory alone asks for 2 (more pods,
	// not yet measured, may count at 100 %: at most 3).
	if d.RawReplicas == nil || *d.RawReplicas > 3 || d.PodsCounted < 3 {
		t.Errorf("lastDecision rawReplicas %v, podsCounted %d; want at most 3 and at least 3", d.RawReplicas, d.PodsCounted)
	}
	waitReplicasExactly(t, guarded, 6, 2*time.Minute)
	if msg, want := waitEvent(t, guarded, "Warning", "HotContainer", time.Time{}, 30*time.Second),
		`container "app" of pod "`+hot+`" is at 97% of its memory limit, above maxContainerUtilizationPercentage (90%)`; !strings.Contains(msg, want) {
		t.Errorf("HotContainer event %q lacks %q", msg, want)
	}
	// At the maximum, maxReplicas is what holds it, and kubectl says so.
	waitMemHpa(t, guarded, "lastDecision.limitedBy MaxReplicas", 30*time.Second, func(m v1alpha1.MemHpa) bool {
		d := m.Status.LastDecision
		return d != nil && d.LimitedBy == v1alpha1.LimitedByMaxReplicas && d.Hottest != nil && d.Hottest.Pod == hot
	})
	wide := mustKubectl(t, "get", "mhpa", appName, "-n", guarded, "-o", "wide")
	if lines := strings.Split(strings.TrimSpace(wide), "\n"); len(lines) != 2 || !slices.Contains(strings.Fields(lines[0]), "LIMITEDBY") ||
		!slices.Contains(strings.Fields(lines[1]), "MaxReplicas") {
		t.Errorf("kubectl get mhpa -o wide lacks LIMITEDBY MaxReplicas:\n%s", wide)
	}
	describe := flat(mustKubectl(t, "describe", "mhpa", appName, "-n", guarded))
	for _, want := range []string{"Last Decision:", "Hottest:", "Container: app", "Pod: " + hot, "Utilization Percentage: 97", "Limited By: MaxReplicas", "Raw Replicas:"} {
		if !strings.Contains(describe, want) {
			t.Errorf("kubectl describe mhpa lacks %q:\n%s", want, describe)
		}
	}

	// The control scales down after its 20 s window, and its decision shows
	// the hot pod all the same.
	waitReplicasExactly(t, control, 2, time.Minute)
	requireReplicasStay(t, control, 2, 2*scalerSync)
	trGuarded.end()
	trControl.end()
	if got := trGuarded.String(); got != "3 → 4 → 5 → 6" {
		t.Errorf("trajectory with the guard = %s, want one replica a sync period: 3 → 4 → 5 → 6", got)
	}
	t.Logf("trajectory with maxContainerUtilizationPercentage 90: %s; without: %s", trGuarded, trControl)
}

// TestGuardAndDecisionThroughKubectl: kubectl explain documents the guard
// and status.lastDecision; a guard out of range or below the target is
// refused, naming spec.maxContainerUtilizationPercentage.
func TestGuardAndDecisionThroughKubectl(t *testing.T) {
	for field, wants := range map[string][]string{
		"memhpa.spec.maxContainerUtilizationPercentage": {"FIELD: maxContainerUtilizationPercentage <integer>",
			"guards against the one hot container", "not below targetUtilizationPercentage"},
		"memhpa.status.lastDecision": {"FIELD: lastDecision <Object>", "explains the scaler's last decision",
			"hottest", "limitedBy", "podsIgnored", "rawReplicas", "oomKilledRecently"},
		"memhpa.status.lastDecision.limitedBy": {"names the last step that changed the replica count", "HotContainerGuard", "Stabilization"},
	} {
		out := flat(mustKubectl(t, "explain", field))
		for _, want := range wants {
			if !strings.Contains(out, want) {
				t.Errorf("kubectl explain %s lacks %q:\n%s", field, want, out)
			}
		}
	}
	requireWebhook(t)
	ns := newNamespace(t, "e2e-guard-field")
	for _, tc := range []struct{ spec, want string }{
		// The CRD's bounds and rule, which hold without the webhook too.
		{"targetUtilizationPercentage: 80\nmaxContainerUtilizationPercentage: 101",
			`spec.maxContainerUtilizationPercentage: Invalid value: 101: spec.maxContainerUtilizationPercentage in body should be less than or equal to 100`},
		{"targetUtilizationPercentage: 80\nmaxContainerUtilizationPercentage: 75",
			`The MemHpa "app" is invalid: spec.maxContainerUtilizationPercentage: Invalid value: maxContainerUtilizationPercentage must be greater than or equal to targetUtilizationPercentage (80 when unset)`},
	} {
		out := applyRefused(t, memHpaYAML(ns, appName, "scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: app}\nmaxReplicas: 3\n"+tc.spec))
		if !strings.Contains(flat(out), tc.want) {
			t.Errorf("refusal of\n%s\nlacks %q:\n%s", tc.spec, tc.want, out)
		}
	}
}
