package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/memhpa/memhpa/test/harness"
	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
)

// adoptionSpec is the MemHpa of the adoption tests: the fault tests' app,
// with scale-downs at once (no window: what holds one back is the pause,
// nothing else), in mode.
func adoptionSpec(mode string, maxReplicas int) string {
	return "mode: " + mode + "\n" + appMemHpaSpec(maxReplicas, "stabilizationWindowSeconds: 0")
}

// withAnnotation adds one annotation to a manifest of memHpaYAML.
func withAnnotation(manifest, key, value string) string {
	return strings.Replace(manifest, "metadata:\n", fmt.Sprintf("metadata:\n  annotations:\n    %s: %q\n", key, value), 1)
}

// hpaYAML is an autoscaling/v2 HorizontalPodAutoscaler on the app, on CPU,
// between the app's 2 replicas and 6. The harness has no metrics server, so
// kube-controller-manager's HPA controller fails to read CPU and keeps the
// replicas (it would only move them out of [min, max]).
func hpaYAML(ns string) string {
	return fmt.Sprintf(`apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: %[1]s-cpu
  namespace: %[2]s
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: %[1]s}
  minReplicas: %[3]d
  maxReplicas: 6
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
`, appName, ns, appReplicas)
}

// TestAdoption is how a user adopts memhpa beside what runs today, through
// kubectl on the local control plane:
//
//   - a DryRun MemHpa on a Deployment that a real autoscaling/v2 HPA scales
//     is admitted (with a warning), reports a desired size above the current
//     one while the Deployment's replicas do not move, and says so in its
//     own DryRunRescale event and in /metrics (mode="DryRun"); switching it to
//     Scale is refused while the HPA exists, and once the HPA is deleted the
//     switch is admitted and the MemHpa scales;
//   - a paused MemHpa does not scale while its memory is high (its status
//     says ScalingPaused and what it would set), and scales once the
//     annotation is removed;
//   - paused-scale-in lets a scale-up through and holds a scale-down.
func TestAdoption(t *testing.T) {
	requireWebhook(t)
	const scaler = "scaler-adoption"
	startScalerFor(t, scaler)
	cs := clientset(t)

	t.Run("DryRun shadows an HPA", func(t *testing.T) {
		ns := newNamespace(t, "e2e-dryrun")
		mustApply(t, deploymentYAML(ns, appName, appReplicas, appLimit, appHot))
		mustApply(t, hpaYAML(ns))
		mustKubectl(t, "rollout", "status", "deployment/"+appName, "-n", ns, "--timeout=120s")
		out := mustApply(t, memHpaYAML(ns, appName, adoptionSpec("DryRun", 6)))
		if !strings.Contains(flat(out), `HorizontalPodAutoscaler "app-cpu" already scales Deployment.apps "app": mode DryRun only reports what it would set`) {
			t.Errorf("kubectl apply of the DryRun MemHpa printed no warning about the HPA:\n%s", out)
		}
		created := time.Now()
		m := waitMemHpa(t, ns, "a desired size above the current one", faultReaction, func(m v1alpha1.MemHpa) bool {
			return m.Status.DesiredReplicas > m.Status.CurrentReplicas
		})
		t.Logf("DryRun: desired %d, current %d, %v after the create", m.Status.DesiredReplicas, m.Status.CurrentReplicas, time.Since(created).Round(100*time.Millisecond))
		if m.Status.CurrentReplicas != appReplicas || m.Status.DesiredReplicas != 4 || m.Status.LastScaleTime != nil {
			t.Errorf("status current %d, desired %d, lastScaleTime %v; want 2, 4 (180 %% of target), none",
				m.Status.CurrentReplicas, m.Status.DesiredReplicas, m.Status.LastScaleTime)
		}
		msg := waitEvent(t, ns, "Normal", "DryRunRescale", created, 30*time.Second)
		if want := "Would set size 4; reason: memory utilization (percentage of limit) above target"; msg != want {
			t.Errorf("DryRunRescale event %q, want %q", msg, want)
		}
		// Several cycles: the replicas stay where the HPA keeps them.
		requireReplicasStay(t, ns, appReplicas, 4*faultSyncPeriod)
		if n, err := eventCount(testCtx(t), cs, ns, "SuccessfulRescale"); err != nil || n != 0 {
			t.Errorf("%d SuccessfulRescale events (%v) in DryRun", n, err)
		}
		series := `memhpa_scaler_desired_replicas{memhpa="app",mode="DryRun",namespace="` + ns + `"} 4`
		if metrics := scalerMetrics(t, scaler); !strings.Contains(metrics, series) {
			t.Errorf("/metrics lacks %s", series)
		}
		t.Logf("kubectl get mhpa,deploy,hpa -o wide:\n%s", mustKubectl(t, "get", "mhpa,deploy,hpa", "-o", "wide", "-n", ns))

		// Scale beside the HPA: refused, on the field that names the target.
		out = applyRefused(t, memHpaYAML(ns, appName, adoptionSpec("Scale", 6)))
		if !hasCauseLine(out, `spec\.scaleTargetRef: Forbidden: must not point at Deployment\.apps "app", which HorizontalPodAutoscaler "app-cpu" already scales .*`) {
			t.Errorf("switch to Scale beside the HPA: refusal lacks the cause:\n%s", out)
		}
		// The order that works: delete the HPA, then switch.
		mustKubectl(t, "delete", "hpa", appName+"-cpu", "-n", ns)
		err := harness.Poll(testCtx(t), 30*time.Second, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
			_, err := env.ApplyYAML(ctx, memHpaYAML(ns, appName, adoptionSpec("Scale", 6)))
			return err == nil, err
		})
		if err != nil {
			t.Fatalf("switch to Scale after the HPA was deleted: %v", err)
		}
		switched := time.Now()
		got := waitReplicasAtLeast(t, ns, 4, faultReaction)
		t.Logf("Scale: %d replicas %v after the switch", got, time.Since(switched).Round(100*time.Millisecond))
		t.Logf("kubectl get mhpa,deploy after the switch:\n%s", mustKubectl(t, "get", "mhpa,deploy", "-n", ns))
	})

	t.Run("paused holds, unpaused scales", func(t *testing.T) {
		ns := newNamespace(t, "e2e-paused")
		mustApply(t, deploymentYAML(ns, appName, appReplicas, appLimit, appHot))
		mustKubectl(t, "rollout", "status", "deployment/"+appName, "-n", ns, "--timeout=120s")
		mustApply(t, withAnnotation(memHpaYAML(ns, appName, adoptionSpec("Scale", 4)), v1alpha1.AnnotationPaused, "true"))
		// Before Prometheus has the pods' samples the pause holds no change
		// yet: wait for the one memory asks for.
		const held = "scaling is paused (annotation autoscaling.memhpa.io/paused): the replicas stay at 2, the MemHpa would set 4"
		waitMemHpa(t, ns, "AbleToScale=False/ScalingPaused: "+held, faultReaction, conditionIs("AbleToScale", "False", "ScalingPaused", held))
		requireReplicasStay(t, ns, appReplicas, 4*faultSyncPeriod)
		if m := getMemHpa(t, ns, appName); m.Status.DesiredReplicas != 4 || m.Status.LastScaleTime != nil {
			t.Errorf("paused: desired %d, lastScaleTime %v; want the would-be 4 and none", m.Status.DesiredReplicas, m.Status.LastScaleTime)
		}
		mustKubectl(t, "annotate", "memhpa", appName, "-n", ns, v1alpha1.AnnotationPaused+"-")
		unpaused := time.Now()
		waitReplicasAtLeast(t, ns, 4, faultReaction)
		// Queued by the annotation change, not by the next cycle: well
		// within a period plus a loaded machine's slack.
		t.Logf("unpaused: scaled to 4 %v after the annotation was removed (sync period %v)",
			time.Since(unpaused).Round(100*time.Millisecond), faultSyncPeriod)
	})

	t.Run("paused-scale-in lets scale-ups through and holds scale-downs", func(t *testing.T) {
		ns := newNamespace(t, "e2e-pausein")
		mustApply(t, deploymentYAML(ns, appName, appReplicas, appLimit, appQuiet))
		mustKubectl(t, "rollout", "status", "deployment/"+appName, "-n", ns, "--timeout=120s")
		mustApply(t, withAnnotation(memHpaYAML(ns, appName, adoptionSpec("Scale", 4)), v1alpha1.AnnotationPausedScaleIn, "true"))
		waitCondition(t, ns, "ScalingActive", "True", "ValidMetricFound", faultReaction)
		if err := env.SetPodsMemory(testCtx(t), ns, "app="+appName, appHot); err != nil {
			t.Fatal(err)
		}
		waitReplicasAtLeast(t, ns, 4, faultReaction)
		waitRescaleEvent(t, ns, `^New size: 4; reason: memory utilization \(percentage of limit\) above target$`)
		// 10 % of the limits, 20 % of target: memory asks for 2.
		if err := env.SetPodsMemory(testCtx(t), ns, "app="+appName, "10Mi"); err != nil {
			t.Fatal(err)
		}
		const held = "scale-downs are paused (annotation autoscaling.memhpa.io/paused-scale-in): the replicas stay at 4, the MemHpa would set 2"
		waitMemHpa(t, ns, "AbleToScale=False/ScalingPaused: "+held, faultReaction, conditionIs("AbleToScale", "False", "ScalingPaused", held))
		requireReplicasStay(t, ns, 4, 4*faultSyncPeriod)
		t.Logf("kubectl get mhpa,deploy -o wide while a scale-down is held:\n%s", mustKubectl(t, "get", "mhpa,deploy", "-o", "wide", "-n", ns))
	})
}

// conditionIs tells whether a MemHpa has condition typ with status, reason
// and message.
func conditionIs(typ, status, reason, message string) func(v1alpha1.MemHpa) bool {
	return func(m v1alpha1.MemHpa) bool {
		for _, c := range m.Status.Conditions {
			if c.Type == typ {
				return string(c.Status) == status && c.Reason == reason && c.Message == message
			}
		}
		return false
	}
}
