package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/memhpa/memhpa/test/harness"
)

// The memory cases of issue 13, each beside a control that differs only by
// the feature; the closing log line of each test is the replica trajectory
// of both.

// replicaTrajectory records the distinct successive spec.replicas of the
// app's Deployment in a namespace until stop.
type replicaTrajectory struct {
	mu   sync.Mutex
	seen []int32
	stop func()
	done chan struct{}
}

func recordReplicas(t *testing.T, ns string) *replicaTrajectory {
	t.Helper()
	cs := clientset(t)
	ctx, cancel := context.WithCancel(testCtx(t))
	tr := &replicaTrajectory{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(tr.done)
		// Until the test stops it: the deadline is the test's, not a wait.
		_ = harness.Poll(ctx, time.Hour, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
			r, _, err := replicas(ctx, cs, ns, appName)
			if err == nil {
				tr.mu.Lock()
				if n := len(tr.seen); n == 0 || tr.seen[n-1] != r {
					tr.seen = append(tr.seen, r)
				}
				tr.mu.Unlock()
			}
			return false, nil
		})
	}()
	t.Cleanup(tr.end)
	return tr
}

// end stops the recording and returns the trajectory as "2 → 3 → 4".
func (tr *replicaTrajectory) end() {
	tr.stop()
	<-tr.done
}

func (tr *replicaTrajectory) String() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	parts := make([]string, len(tr.seen))
	for i, r := range tr.seen {
		parts[i] = fmt.Sprint(r)
	}
	return strings.Join(parts, " → ")
}

// sidecarApp is a Deployment "app" of two pods whose container app reports
// 95Mi of its 100Mi limit beside a sidecar that reports 10Mi of 1Gi.
func sidecarApp(ns string) string {
	return harness.Workload{Namespace: ns, Name: appName, Replicas: 2,
		Containers: []harness.WorkloadContainer{
			{Name: "app", MemoryLimit: "100Mi", CPURequest: "10m"},
			{Name: "sidecar", MemoryLimit: "1Gi", CPURequest: "10m"},
		},
		ContainerMemory: map[string]string{"app": "95Mi", "sidecar": "10Mi"},
	}.YAML()
}

const casesMemHpa = `
scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: app}
minReplicas: 2
maxReplicas: 6
targetUtilizationPercentage: 80`

// TestContainerTarget is issue 13 case (a): a main container at 95 % of a
// 100Mi limit beside a sidecar with a 1Gi limit. Without spec.container the
// pods are at 9 % of their limits and the size holds at its minimum; with
// container: app they are at 95 % and the Deployment grows to its maximum.
func TestContainerTarget(t *testing.T) {
	without, with := newNamespace(t, "e2e-nocontainer"), newNamespace(t, "e2e-container")
	for _, ns := range []string{without, with} {
		mustApply(t, sidecarApp(ns))
	}
	mustApply(t, memHpaYAML(without, appName, casesMemHpa))
	mustApply(t, memHpaYAML(with, appName, casesMemHpa+"\ncontainer: app"))
	for _, ns := range []string{without, with} {
		mustKubectl(t, "rollout", "status", "deployment/"+appName, "-n", ns, "--timeout=120s")
	}
	// Both containers report their own figure: 95Mi and 10Mi, not one pod figure twice.
	waitPromSees(t, with, (95+10)<<20, true, 2)
	waitPromSees(t, with, (95+10)<<20, false, 2)
	trWithout, trWith := recordReplicas(t, without), recordReplicas(t, with)
	startScaler(t, "scaler-container")

	waitReplicasExactly(t, with, 6, 2*time.Minute)
	waitRescaleEvent(t, with, `^New size: 3; reason: memory utilization \(percentage of limit\) above target$`)
	if m := getMemHpa(t, with, appName); m.Status.Targets != "95%/80%" {
		t.Errorf("targets with container: app = %q, want 95%%/80%%", m.Status.Targets)
	}
	// The control was measured all along, and held.
	waitCondition(t, without, "ScalingActive", "True", "ValidMetricFound", 30*time.Second)
	requireReplicasStay(t, without, 2, 3*scalerSync)
	if m := getMemHpa(t, without, appName); m.Status.Targets != "9%/80%" {
		t.Errorf("targets without container = %q, want 9%%/80%% ((95+10)/(100+1024))", m.Status.Targets)
	}
	trWithout.end()
	trWith.end()
	t.Logf("trajectory without container: %s; with container: app: %s", trWithout, trWith)
}

// TestContainerFieldThroughKubectl: kubectl explain documents the field; a
// name that is not a DNS label is refused by the webhook, one too long by the
// CRD schema too, each naming spec.container; a name the pod template lacks
// is admitted with a warning.
func TestContainerFieldThroughKubectl(t *testing.T) {
	ns := newNamespace(t, "e2e-container-field")
	explain := flat(mustKubectl(t, "explain", "memhpa.spec.container"))
	for _, want := range []string{"FIELD: container <string>", "names the one container whose memory counts", "ContainerResource"} {
		if !strings.Contains(explain, want) {
			t.Errorf("kubectl explain memhpa.spec.container lacks %q:\n%s", want, explain)
		}
	}
	requireWebhook(t)
	mustApply(t, sidecarApp(ns))
	for _, tc := range []struct{ container, want string }{
		// The webhook's rule.
		{"App", `The MemHpa "app" is invalid: spec.container: Invalid value: "App": a lowercase RFC 1123 label must consist of`},
		{"app.v1", `The MemHpa "app" is invalid: spec.container: Invalid value: "app.v1": must not contain dots`},
		// The CRD schema's, which holds without the webhook.
		{strings.Repeat("a", 64), `spec.container: Too long: may not be more than 63 bytes`},
	} {
		out := applyRefused(t, memHpaYAML(ns, appName, casesMemHpa+"\ncontainer: "+tc.container))
		if !strings.Contains(flat(out), tc.want) {
			t.Errorf("refusal of container %q lacks %q:\n%s", tc.container, tc.want, out)
		}
	}
	out := mustApply(t, memHpaYAML(ns, appName, casesMemHpa+"\ncontainer: db"))
	if want := `container "db" is not in the pod template of Deployment.apps "app" (which has containers "app", "sidecar")`; !strings.Contains(flat(out), want) {
		t.Errorf("apply output lacks the warning %q:\n%s", want, out)
	}
}

// TestStatusLimitApplies is issue 13 case (c): pods at 60Mi of a 100Mi spec
// limit whose status reports a 64Mi limit (a resize down the kubelet has
// actuated) are at 93 %, and the Deployment scales up; the control, the same
// pods without a status limit, holds at 60 %.
func TestStatusLimitApplies(t *testing.T) {
	patched, control := newNamespace(t, "e2e-status-limit"), newNamespace(t, "e2e-spec-limit")
	for _, ns := range []string{patched, control} {
		mustApply(t, deploymentYAML(ns, appName, 2, "100Mi", "60Mi"))
		mustApply(t, memHpaYAML(ns, appName, casesMemHpa))
		mustKubectl(t, "rollout", "status", "deployment/"+appName, "-n", ns, "--timeout=120s")
	}
	pods := strings.Fields(mustKubectl(t, "get", "pods", "-n", patched, "-l", "app="+appName, "-o", "jsonpath={.items[*].metadata.name}"))
	if len(pods) != 2 {
		t.Fatalf("pods of %s = %q, want 2", patched, pods)
	}
	// containerStatuses is an atomic list: a JSON patch adds the one field.
	const resized = `[{"op": "add", "path": "/status/containerStatuses/0/resources", "value": {"limits": {"memory": "64Mi"}, "requests": {"memory": "64Mi"}}}]`
	for _, p := range pods {
		mustKubectl(t, "patch", "pod", p, "-n", patched, "--subresource=status", "--type=json", "-p", resized)
	}
	waitPromSees(t, patched, 60<<20, true, 2)
	waitPromSees(t, control, 60<<20, true, 2)
	trPatched, trControl := recordReplicas(t, patched), recordReplicas(t, control)
	startScaler(t, "scaler-status-limit")

	// 60/64 = 93 % → ceil(1.17 × 2) = 3; then (3 × 60) / (64 + 64 + 100) = 78 %
	// is within the tolerance, and 3 holds.
	waitReplicasExactly(t, patched, 3, 90*time.Second)
	waitRescaleEvent(t, patched, `^New size: 3; reason: memory utilization \(percentage of limit\) above target$`)
	waitCondition(t, control, "ScalingActive", "True", "ValidMetricFound", 30*time.Second)
	requireReplicasStay(t, control, 2, 3*scalerSync)
	requireReplicasStay(t, patched, 3, 2*scalerSync)
	if m := getMemHpa(t, control, appName); m.Status.Targets != "60%/80%" {
		t.Errorf("targets of the control = %q, want 60%%/80%%", m.Status.Targets)
	}
	// kwok left the status limits in place all along.
	cs := clientset(t)
	for _, p := range pods {
		pod, err := cs.CoreV1().Pods(patched).Get(testCtx(t), p, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		st := pod.Status.ContainerStatuses
		if len(st) != 1 || st[0].Resources == nil || st[0].Resources.Limits.Memory().String() != "64Mi" {
			t.Errorf("pod %s status.containerStatuses = %+v, want app with a 64Mi limit", p, st)
		}
	}
	trPatched.end()
	trControl.end()
	t.Logf("trajectory with a 64Mi status limit: %s; with the 100Mi spec limit alone: %s", trPatched, trControl)
}
