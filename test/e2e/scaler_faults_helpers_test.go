package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/memhpa/memhpa/test/harness"
	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
)

// Timing of the fault tests: short cycles so that "no scaling for several
// cycles" and "recovered" both fit in seconds.
const (
	faultSyncPeriod = 3 * time.Second
	// faultPromTimeout is 1s, whose 9/10 that the scaler asks Prometheus for
	// is "900ms"; see TestScalerQueryTimeoutPrometheusAccepts for 2s.
	faultPromTimeout = 1 * time.Second
	// faultReaction bounds how long a change may take to show: a Prometheus
	// scrape (5 s), discovery of new pods, a few cycles, a loaded machine.
	faultReaction = 90 * time.Second
)

// The app of the fault tests: pods limited to 100Mi that start at 40Mi (40 %
// of the limit, within tolerance of the 50 % target: no scaling), and a
// MemHpa that scales up at once and never down (so only the test's faults
// and memory changes move the replicas).
const (
	appName     = "app"
	appLimit    = "100Mi"
	appQuiet    = "40Mi"
	appHot      = "90Mi" // 180 % of target: 2 replicas become 4
	appReplicas = 2
)

func clientset(t *testing.T) kubernetes.Interface {
	t.Helper()
	cs, err := env.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// autoscaledApp creates the app and its MemHpa in ns and waits until its pods
// run.
func autoscaledApp(t *testing.T, ns string) {
	t.Helper()
	mustApply(t, deploymentYAML(ns, appName, appReplicas, appLimit, appQuiet))
	mustApply(t, memHpaYAML(ns, appName, appMemHpaSpec(6, "selectPolicy: Disabled")))
	mustKubectl(t, "rollout", "status", "deployment/"+appName, "-n", ns, "--timeout=120s")
}

// appMemHpaSpec is the spec of the app's MemHpa: from the app's replicas up
// to maxReplicas at a 50 % target, scale-ups of 2 pods a second at once;
// scaleDown is the one line of behavior.scaleDown.
func appMemHpaSpec(maxReplicas int, scaleDown string) string {
	return fmt.Sprintf(`
scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: %s}
minReplicas: %d
maxReplicas: %d
targetUtilizationPercentage: 50
behavior:
  scaleUp:
    stabilizationWindowSeconds: 0
    policies: [{type: Pods, value: 2, periodSeconds: 1}]
  scaleDown:
    %s`, appName, appReplicas, maxReplicas, scaleDown)
}

// startScalerFor starts a scaler under name with the fault tests' timing and
// extra args, and stops it when the test ends.
func startScalerFor(t *testing.T, name string, args ...string) {
	t.Helper()
	full := append([]string{
		"--sync-period=" + faultSyncPeriod.String(),
		"--prometheus-timeout=" + faultPromTimeout.String(),
	}, args...)
	if err := env.StartScalerNamed(testCtx(t), name, full...); err != nil {
		t.Fatalf("start scaler %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := env.StopComponent(context.Background(), harness.Component(name)); err != nil {
			t.Errorf("stop scaler %s: %v", name, err)
		}
	})
}

// replicas is the Deployment's spec.replicas and generation.
func replicas(ctx context.Context, cs kubernetes.Interface, ns, name string) (int32, int64, error) {
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return 0, 0, err
	}
	if d.Spec.Replicas == nil {
		return 1, d.Generation, nil
	}
	return *d.Spec.Replicas, d.Generation, nil
}

// waitReplicasAtLeast waits until the app's spec.replicas reaches n.
func waitReplicasAtLeast(t *testing.T, ns string, n int32, timeout time.Duration) int32 {
	t.Helper()
	cs := clientset(t)
	var got int32
	err := harness.Poll(testCtx(t), timeout, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		r, _, err := replicas(ctx, cs, ns, appName)
		got = r
		return err == nil && r >= n, err
	})
	if err != nil {
		t.Fatalf("replicas of %s/%s stayed at %d, want at least %d: %v\n%s", ns, appName, got, n, err, memHpaState(ns))
	}
	return got
}

// requireReplicasStay polls the app's replicas for d and fails at the first
// change from want.
func requireReplicasStay(t *testing.T, ns string, want int32, d time.Duration) {
	t.Helper()
	cs := clientset(t)
	ctx := testCtx(t)
	end := time.Now().Add(d)
	err := harness.Poll(ctx, d+10*time.Second, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		r, _, err := replicas(ctx, cs, ns, appName)
		if err != nil {
			return false, err
		}
		if r != want {
			return false, harness.Permanent(fmt.Errorf("replicas changed to %d, want %d to hold", r, want))
		}
		return time.Now().After(end), nil
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, memHpaState(ns))
	}
}

// waitCondition waits until the app's MemHpa has condition typ with status
// and reason (any reason when empty), and returns its message.
func waitCondition(t *testing.T, ns, typ, status, reason string, timeout time.Duration) string {
	t.Helper()
	var msg, last string
	err := harness.Poll(testCtx(t), timeout, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		m := getMemHpa(t, ns, appName)
		for _, c := range m.Status.Conditions {
			if c.Type != typ {
				continue
			}
			last = fmt.Sprintf("%s=%s (%s): %s", c.Type, c.Status, c.Reason, c.Message)
			if string(c.Status) == status && (reason == "" || c.Reason == reason) {
				msg = c.Message
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("MemHpa %s/%s: no condition %s=%s (%s): last seen %q: %v", ns, appName, typ, status, reason, last, err)
	}
	return msg
}

// waitEvent waits for an event of type and reason about the app's MemHpa,
// last seen after since, and returns its message.
func waitEvent(t *testing.T, ns, eventType, reason string, since time.Time, timeout time.Duration) string {
	t.Helper()
	cs := clientset(t)
	var msg string
	err := harness.Poll(testCtx(t), timeout, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		evs, err := memHpaEvents(ctx, cs, ns, reason)
		if err != nil {
			return false, err
		}
		for _, e := range evs {
			if e.Type == eventType && eventTime(e).After(since.Add(-time.Second)) {
				msg = e.Message
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no %s event %s about MemHpa %s/%s since %s: %v\n%s", eventType, reason, ns, appName, since.Format(time.TimeOnly), err, memHpaState(ns))
	}
	return msg
}

// memHpaEvents lists the core events about the app's MemHpa with reason
// (any reason when empty).
func memHpaEvents(ctx context.Context, cs kubernetes.Interface, ns, reason string) ([]corev1.Event, error) {
	sel := "involvedObject.kind=MemHpa,involvedObject.name=" + appName
	if reason != "" {
		sel += ",reason=" + reason
	}
	list, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

func eventTime(e corev1.Event) time.Time {
	for _, t := range []time.Time{e.LastTimestamp.Time, e.EventTime.Time, e.FirstTimestamp.Time, e.CreationTimestamp.Time} {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// eventCount sums the counts of the events with reason about the app's
// MemHpa (the recorder folds repeats into one event with a count).
func eventCount(ctx context.Context, cs kubernetes.Interface, ns, reason string) (int, error) {
	evs, err := memHpaEvents(ctx, cs, ns, reason)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range evs {
		c := int(e.Count)
		if e.Series != nil && int(e.Series.Count) > c {
			c = int(e.Series.Count)
		}
		n += max(c, 1)
	}
	return n, nil
}

// memHpaState is the MemHpa's status and its events, for failure messages.
func memHpaState(ns string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var b strings.Builder
	out, err := env.Kubectl(ctx, "get", "memhpa", appName, "-n", ns, "-o", "jsonpath={.status}")
	fmt.Fprintf(&b, "MemHpa status: %s %v\n", out, err)
	out, err = env.Kubectl(ctx, "get", "events", "-n", ns, "--sort-by=.lastTimestamp")
	fmt.Fprintf(&b, "events:\n%s %v", out, err)
	return b.String()
}

// waitMemHpa waits until the app's MemHpa satisfies ok, which describes what
// it waits for; it returns the MemHpa.
func waitMemHpa(t *testing.T, ns, what string, timeout time.Duration, ok func(v1alpha1.MemHpa) bool) v1alpha1.MemHpa {
	t.Helper()
	var m v1alpha1.MemHpa
	err := harness.Poll(testCtx(t), timeout, 500*time.Millisecond, func(context.Context) (bool, error) {
		m = getMemHpa(t, ns, appName)
		return ok(m), nil
	})
	if err != nil {
		t.Fatalf("MemHpa %s/%s: %s never held: %v\n%s", ns, appName, what, err, memHpaState(ns))
	}
	return m
}

// requireUnchanged polls the recorded replica changes of each namespace for
// d and fails at the first one.
func requireUnchanged(t *testing.T, d time.Duration, changes map[string]*replicaChanges) {
	t.Helper()
	end := time.Now().Add(d)
	err := harness.Poll(testCtx(t), d+10*time.Second, 250*time.Millisecond, func(context.Context) (bool, error) {
		for ns, c := range changes {
			if got := c.get(); len(got) > 0 {
				return false, harness.Permanent(fmt.Errorf("replicas of %s/%s changed %v, want %d to hold\n%s", ns, appName, got, appReplicas, memHpaState(ns)))
			}
		}
		return time.Now().After(end), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
