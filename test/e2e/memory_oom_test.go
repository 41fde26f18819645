package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/memhpa/memhpa/test/harness"
)

// TestRecentOOMKillHoldsScaleDown is issue 13 case (b): two identical
// Deployments of three pods at 10Mi of a 100Mi limit, which memory alone
// scales down to its minimum of two. On one, a pod's status says its container was
// OOM-killed a minute ago (restart count 1), as the kubelet reports a
// container restarted after a kill: that container counts at 100 % of its
// limit, (100 + 10 + 10) / 300 = 40 % asks for 2, and the scale-down is held
// at 3 (ScalingLimited=True/RecentOOMKill) with one OOMKilled event; the
// control goes to 2.
func TestRecentOOMKillHoldsScaleDown(t *testing.T) {
	killed, control := newNamespace(t, "e2e-oom"), newNamespace(t, "e2e-no-oom")
	for _, ns := range []string{killed, control} {
		mustApply(t, deploymentYAML(ns, appName, 3, "100Mi", "10Mi"))
		mustApply(t, memHpaYAML(ns, appName, casesMemHpa))
		mustKubectl(t, "rollout", "status", "deployment/"+appName, "-n", ns, "--timeout=120s")
	}
	pods := strings.Fields(mustKubectl(t, "get", "pods", "-n", killed, "-l", "app="+appName, "-o", "jsonpath={.items[*].metadata.name}"))
	if len(pods) != 3 {
		t.Fatalf("pods of %s = %q, want 3", killed, pods)
	}
	victim := pods[0]
	finished := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	// containerStatuses is an atomic list: a JSON patch changes the fields
	// of its one entry, as the kubelet would after the restart.
	oomKilled := fmt.Sprintf(`[{"op": "replace", "path": "/status/containerStatuses/0/restartCount", "value": 1},
{"op": "add", "path": "/status/containerStatuses/0/lastState", "value": {"terminated":
  {"reason": "OOMKilled", "exitCode": 137, "startedAt": %q, "finishedAt": %q}}}]`,
		finished.Add(-time.Hour).Format(time.RFC3339), finished.Format(time.RFC3339))
	mustKubectl(t, "patch", "pod", victim, "-n", killed, "--subresource=status", "--type=json", "-p", oomKilled)
	// First: kwok must leave that status in place, or the case tests nothing.
	requireOOMKillStays(t, killed, victim, finished, 3*scalerSync)

	waitPromSees(t, killed, 10<<20, true, 3)
	waitPromSees(t, control, 10<<20, true, 3)
	trKilled, trControl := recordReplicas(t, killed), recordReplicas(t, control)
	// Logged at the end, pass or fail (before the recordings stop).
	t.Cleanup(func() {
		t.Logf("trajectory with a container OOM-killed a minute before: %s; without: %s", trKilled, trControl)
	})
	since := time.Now()
	startScaler(t, "scaler-oom")

	// The control scales down once the 20 s window has passed.
	waitReplicasExactly(t, control, 2, 2*time.Minute)
	msg := waitCondition(t, killed, "ScalingLimited", "True", "RecentOOMKill", 30*time.Second)
	if want := "a scale-down to 2 was held back: 1 counted container(s) were OOM-killed within the last 10m0s: [" +
		victim + "/app at " + finished.Format(time.RFC3339) + "]"; msg != want {
		t.Errorf("ScalingLimited message = %q, want %q", msg, want)
	}
	requireReplicasStay(t, killed, 3, 3*scalerSync)
	ev := waitEvent(t, killed, corev1.EventTypeWarning, "OOMKilled", since, 30*time.Second)
	if want := fmt.Sprintf("container app of pod %s was OOM-killed at %s (restart count 1)", victim, finished.Format(time.RFC3339)); !strings.HasPrefix(ev, want) {
		t.Errorf("OOMKilled event = %q, want it to start with %q", ev, want)
	}
	// Every cycle since has seen the kill: still one event, counted once.
	if n, err := eventCount(testCtx(t), clientset(t), killed, "OOMKilled"); err != nil || n != 1 {
		t.Errorf("OOMKilled events = %d (%v), want exactly 1\n%s", n, err, memHpaState(killed))
	}
	if n, err := eventCount(testCtx(t), clientset(t), control, "OOMKilled"); err != nil || n != 0 {
		t.Errorf("OOMKilled events of the control = %d (%v), want 0", n, err)
	}
	if m := getMemHpa(t, killed, appName); m.Status.Targets != "40%/80%" {
		t.Errorf("targets with the kill = %q, want 40%%/80%% (the killed container at 100 %%)", m.Status.Targets)
	}
	requireOOMKillStays(t, killed, victim, finished, 0)
}

// requireOOMKillStays fails unless the pod's container status shows the OOM
// kill at finished with restart count 1 at every poll for d (once when d is
// 0): kwok's stages must not overwrite a patched status.
func requireOOMKillStays(t *testing.T, ns, pod string, finished time.Time, d time.Duration) {
	t.Helper()
	cs := clientset(t)
	end := time.Now().Add(d)
	err := harness.Poll(testCtx(t), d+10*time.Second, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		st := p.Status.ContainerStatuses
		if len(st) != 1 || st[0].RestartCount != 1 || st[0].LastTerminationState.Terminated == nil ||
			st[0].LastTerminationState.Terminated.Reason != "OOMKilled" || !st[0].LastTerminationState.Terminated.FinishedAt.Time.Equal(finished) {
			return false, harness.Permanent(fmt.Errorf("pod %s/%s status.containerStatuses = %+v, want app OOM-killed at %s with restart count 1", ns, pod, st, finished))
		}
		return !time.Now().Before(end), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
