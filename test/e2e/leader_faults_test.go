package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/memhpa/memhpa/test/harness"
)

// Lease timings of the leader-election fault tests: short, in client-go's
// order (lease > renew > 1.2 × retry).
const (
	leLease = 6 * time.Second
	leRenew = 4 * time.Second
	leRetry = 1 * time.Second
)

// startElectedScalers starts scalers under names with leader election on one
// Lease of ns, each supervised as the kubelet would (restarted when it
// exits), and returns their supervisors.
func startElectedScalers(t *testing.T, ns string, names ...string) map[string]*harness.Supervisor {
	t.Helper()
	sup := map[string]*harness.Supervisor{}
	for _, n := range names {
		startScalerFor(t, n, "--leader-elect=true", "--leader-election-namespace="+ns, "--leader-election-id=memhpa-e2e-"+ns,
			"--leader-election-lease-duration="+leLease.String(), "--leader-election-renew-deadline="+leRenew.String(),
			"--leader-election-retry-period="+leRetry.String())
		s := env.SuperviseScaler(testCtx(t), n, time.Second)
		t.Cleanup(s.Stop) // before the scaler is stopped (cleanups run last first)
		sup[n] = s
	}
	return sup
}

// leaders lists the scalers of names that report leading.
func leaders(ctx context.Context, names []string) []string {
	var out []string
	for _, n := range names {
		if isLeader(ctx, n) {
			out = append(out, n)
		}
	}
	return out
}

// waitOneLeader waits until exactly one of names leads and stays the only
// one for a retry period or two; it fails at once if two lead together.
func waitOneLeader(t *testing.T, names []string, timeout time.Duration) string {
	t.Helper()
	var (
		leader string
		since  time.Time
	)
	err := harness.Poll(testCtx(t), timeout, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		l := leaders(ctx, names)
		switch {
		case len(l) > 1:
			return false, harness.Permanent(fmt.Errorf("scalers %v all report leading", l))
		case len(l) == 0:
			leader = ""
			return false, nil
		case l[0] != leader:
			leader, since = l[0], time.Now()
		}
		return time.Since(since) >= 2*leRetry, nil
	})
	if err != nil {
		t.Fatalf("no single leader among %v: %v", names, err)
	}
	return leader
}

// replicaChanges records every change of the app's spec.replicas from now on.
type replicaChanges struct {
	mu      sync.Mutex
	changes []int32
}

func (r *replicaChanges) get() []int32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.changes)
}

func watchReplicaChanges(t *testing.T, ns string, from int32) *replicaChanges {
	t.Helper()
	ctx := testCtx(t)
	w, err := clientset(t).AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + appName})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	r := &replicaChanges{}
	go func() {
		last := from
		for ev := range w.ResultChan() {
			d, ok := ev.Object.(*appsv1.Deployment)
			if !ok || ev.Type != watch.Modified || d.Spec.Replicas == nil {
				continue
			}
			r.mu.Lock()
			if *d.Spec.Replicas != last {
				last = *d.Spec.Replicas
				r.changes = append(r.changes, last)
			}
			r.mu.Unlock()
		}
	}()
	return r
}

// requireEachRescaleOnce waits for the events of the writes seen, then checks
// that every change of spec.replicas has exactly one SuccessfulRescale event
// and that no write undid another.
func requireEachRescaleOnce(t *testing.T, ns string, w *replicaChanges, eventsBefore int) []int32 {
	t.Helper()
	var (
		writes   []int32
		rescales int
	)
	err := harness.Poll(testCtx(t), 30*time.Second, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		writes = w.get()
		n, err := eventCount(ctx, clientset(t), ns, "SuccessfulRescale")
		rescales = n - eventsBefore
		return err == nil && rescales >= len(writes) && len(writes) > 0, err
	})
	if err != nil {
		t.Fatalf("scale writes %v and %d SuccessfulRescale events never matched: %v", writes, rescales, err)
	}
	if rescales != len(writes) {
		t.Fatalf("%d SuccessfulRescale events for %d changes of spec.replicas %v: a rescale was done twice", rescales, len(writes), writes)
	}
	for i := 1; i < len(writes); i++ {
		if writes[i] <= writes[i-1] {
			t.Fatalf("replicas went %v: a stale write undid a rescale", writes)
		}
	}
	return writes
}

// The apiserver hangs (SIGSTOP) for longer than the lease, as it may during a
// control-plane upgrade, then comes back. The leader fails to renew within
// its deadline and loses the lease: it must not stay a zombie (informers
// stopped, never campaigning again, /healthz green). Either it exits and is
// restarted, or it leads again. Afterwards exactly one of the two scalers
// leads, a memory rise is acted on within two sync periods, each rescale
// once; and when that leader then dies for good, the other takes over: no
// replica was left a zombie (with the old scaler, the one that lost the lease
// never campaigned again, so nothing took over).
func TestAPIServerPausedPastRenewDeadline(t *testing.T) {
	// A paused kube-apiserver leaves its control plane unfit for the tests
	// that follow (new pods stay unscheduled or unseen by kwok), so this test
	// pauses one of its own.
	useOwnEnvironment(t)
	names := []string{"scaler-pause-a", "scaler-pause-b"}
	ns := newNamespace(t, "e2e-lepause")
	autoscaledApp(t, ns)
	sup := startElectedScalers(t, ns, names...)
	before := waitOneLeader(t, names, 60*time.Second)
	waitCondition(t, ns, "ScalingActive", "True", "ValidMetricFound", faultReaction)
	ctx := testCtx(t)

	if err := env.PauseComponent(harness.APIServer); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := env.ResumeComponent(harness.APIServer); err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(resume)
	// Past the renew deadline and the lease: the lease is lost.
	pause := leLease + leRenew
	pauseEnd := time.Now().Add(pause)
	err := harness.Poll(ctx, pause+5*time.Second, 500*time.Millisecond, func(context.Context) (bool, error) {
		return time.Now().After(pauseEnd), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	resume()
	if err := env.WaitAPIServerReady(ctx, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	// After such a pause this kube-apiserver's watch cache stays behind etcd
	// (its clients' consistency checks say "read version … is not as new as
	// written version"), and kwok (the fake kubelet) misses pod changes: start
	// both again, as after TestAPIServerRestartScalerResumes's outage. The
	// lease was lost during the pause; the scalers are left alone.
	for _, c := range []harness.Component{harness.APIServer, harness.KwokController} {
		if err := env.StopComponent(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := env.StartComponent(ctx, c); err != nil {
			t.Fatal(err)
		}
	}

	// Every write from here on is counted (none can happen while the
	// apiserver is down).
	eventsBefore, err := eventCount(ctx, clientset(t), ns, "SuccessfulRescale")
	if err != nil {
		t.Fatal(err)
	}
	writes := watchReplicaChanges(t, ns, appReplicas)

	// A leader again, alone.
	after := waitOneLeader(t, names, 2*leLease+30*time.Second)
	var exits []string
	for _, n := range names {
		for _, e := range sup[n].Exits() {
			exits = append(exits, n+" "+e)
		}
	}
	t.Logf("leader before the pause %s, after %s; exits while the apiserver hung: %v", before, after, exits)

	// The leader acts, within two sync periods of Prometheus seeing the rise
	// (plus a little for process scheduling).
	if err := env.SetPodsMemory(ctx, ns, "app="+appName, appHot); err != nil {
		t.Fatal(err)
	}
	seen := waitPrometheusSees(t, ns, appHot)
	limit := 2*faultSyncPeriod + 3*time.Second
	got := waitReplicasAtLeast(t, ns, 4, limit)
	t.Logf("scaled to %d, %v after Prometheus saw the rise (limit %v)", got, time.Since(seen).Round(100*time.Millisecond), limit)
	w := requireEachRescaleOnce(t, ns, writes, eventsBefore)
	t.Logf("writes after the pause: %v", w)

	// The leader dies for good (no restart): the other must take over and
	// act, so it was campaigning all along.
	sup[after].Stop()
	if err := env.KillComponent(ctx, harness.Component(after)); err != nil {
		t.Fatal(err)
	}
	other := names[0]
	if other == after {
		other = names[1]
	}
	err = harness.Poll(ctx, leLease+leRetry+10*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		return isLeader(ctx, other), nil
	})
	if err != nil {
		t.Fatalf("%s did not take over after %s died: it stopped campaigning after the outage: %v", other, after, err)
	}
	// It acts: a spec edit is reconciled at once (observedGeneration).
	mustKubectl(t, "patch", "memhpa", appName, "-n", ns, "--type=merge", "-p", `{"spec":{"maxReplicas":7}}`)
	err = harness.Poll(ctx, faultReaction, 250*time.Millisecond, func(context.Context) (bool, error) {
		m := getMemHpa(t, ns, appName)
		return m.Status.ObservedGeneration != nil && *m.Status.ObservedGeneration == m.Generation, nil
	})
	if err != nil {
		t.Fatalf("%s leads but did not reconcile the edited MemHpa: %v\n%s", other, err, memHpaState(ns))
	}
	t.Logf("%s died; %s took over and reconciled", after, other)
}

// waitPrometheusSees waits until Prometheus reports every app pod of ns at
// the given memory, and returns when it did.
func waitPrometheusSees(t *testing.T, ns, quantity string) time.Time {
	t.Helper()
	q0 := resource.MustParse(quantity)
	want := q0.Value()
	q := fmt.Sprintf(`min(container_memory_working_set_bytes{namespace=%q, pod=~%q, container!=""})`, ns, appName+"-.*")
	var last string
	err := harness.Poll(testCtx(t), faultReaction, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		s, err := env.PromQuery(ctx, q)
		if err != nil || len(s) == 0 {
			last = fmt.Sprintf("%v %v", s, err)
			return false, nil
		}
		last = fmt.Sprint(s[0].Value)
		return s[0].Value >= float64(want), nil
	})
	if err != nil {
		t.Fatalf("Prometheus never saw %s for the pods of %s/%s (last %s): %v", quantity, ns, appName, last, err)
	}
	return time.Now()
}

// useOwnEnvironment starts a control plane for this test alone and makes the
// package's helpers use it until the test ends; the shared one is restored
// afterwards. For tests that damage their control plane.
func useOwnEnvironment(t *testing.T) {
	t.Helper()
	useOwnEnvironmentWith(t, harness.Options{Nodes: 2})
}

// useOwnEnvironmentWith is useOwnEnvironment with options of the test's own
// (Dir is set here).
func useOwnEnvironmentWith(t *testing.T, opts harness.Options) {
	t.Helper()
	dir, err := os.MkdirTemp("", "memhpa-e2e-own-")
	if err != nil {
		t.Fatal(err)
	}
	opts.Dir = dir
	own, err := harness.Start(testCtx(t), opts)
	if err != nil {
		t.Fatalf("start a control plane of the test's own: %v", err)
	}
	t.Cleanup(func() {
		if err := own.Stop(context.Background()); err != nil {
			t.Errorf("stop the test's own control plane: %v", err)
		}
		if !t.Failed() {
			os.RemoveAll(dir)
		} else {
			t.Logf("logs of the test's own control plane kept in %s/logs", dir)
		}
	})
	shared := env
	env = own
	// Registered after Stop, so run before it: the test's other cleanups
	// (scalers, namespaces) run first, on the own environment.
	t.Cleanup(func() { env = shared })
}
