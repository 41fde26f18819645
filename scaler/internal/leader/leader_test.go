package leader

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/klog/v2/ktesting"
)

// Short enough for a unit test, in client-go's required order
// (lease > renew > 1.2 × retry).
func testConfig(kube *kubefake.Clientset, id string) Config {
	return Config{
		Namespace: "kube-system", Name: "memhpa-scaler", Identity: id,
		LeaseDuration: 1500 * time.Millisecond, RenewDeadline: time.Second, RetryPeriod: 100 * time.Millisecond,
		Client: kube.CoordinationV1(),
	}
}

// waitFor polls cond every 10 ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func holder(t *testing.T, kube *kubefake.Clientset) string {
	t.Helper()
	l, err := kube.CoordinationV1().Leases("kube-system").Get(context.Background(), "memhpa-scaler", metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

type result struct {
	err error
	at  time.Time
}

func TestLostLeaseCancelsTheWorkAndReturnsErrLost(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	kube := kubefake.NewClientset()
	var failRenewals atomic.Bool
	kube.PrependReactor("update", "leases", func(core.Action) (bool, runtime.Object, error) {
		if failRenewals.Load() {
			return true, nil, errors.New("apiserver unavailable")
		}
		return false, nil, nil
	})
	var started, workCancelled atomic.Bool
	var leadingNow atomic.Int32
	cfg := testConfig(kube, "a")
	cfg.OnLeading = func(b bool) {
		if b {
			leadingNow.Store(1)
		} else {
			leadingNow.Store(0)
		}
	}
	done := make(chan result, 1)
	var workReturned atomic.Bool
	go func() {
		err := Run(ctx, cfg, func(leadCtx context.Context) error {
			started.Store(true)
			<-leadCtx.Done()
			workCancelled.Store(true)
			time.Sleep(50 * time.Millisecond) // work winding down
			workReturned.Store(true)
			return nil
		})
		done <- result{err, time.Now()}
	}()
	waitFor(t, 5*time.Second, "start leading", started.Load)
	failedAt := time.Now()
	failRenewals.Store(true)

	select {
	case r := <-done:
		if !errors.Is(r.err, ErrLost) {
			t.Fatalf("Run returned %v, want ErrLost", r.err)
		}
		if !workCancelled.Load() || !workReturned.Load() {
			t.Errorf("Run returned before the work had stopped (cancelled %v, returned %v)", workCancelled.Load(), workReturned.Load())
		}
		// The renew deadline, the release attempt (one more deadline) and slack.
		if took := r.at.Sub(failedAt); took > 4*cfg.RenewDeadline {
			t.Errorf("Run returned %v after renewals began to fail, want within about two renew deadlines", took)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the lease could no longer be renewed: a zombie leader")
	}
	if leadingNow.Load() != 0 {
		t.Error("OnLeading(false) was not called")
	}
}

func TestGracefulStopFinishesTheWorkThenReleases(t *testing.T) {
	_, base := ktesting.NewTestContext(t)
	ctx, stop := context.WithCancel(base)
	kube := kubefake.NewClientset()
	started := make(chan struct{})
	var cancelledEarly atomic.Bool
	var heldDuringWork atomic.Value
	done := make(chan result, 1)
	go func() {
		err := Run(ctx, testConfig(kube, "a"), func(leadCtx context.Context) error {
			close(started)
			<-ctx.Done() // the graceful stop
			// The work in flight still runs on a live context, and the
			// lease is still held while it does.
			time.Sleep(100 * time.Millisecond)
			cancelledEarly.Store(leadCtx.Err() != nil)
			heldDuringWork.Store(holder(t, kube))
			return nil
		})
		done <- result{err, time.Now()}
	}()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("did not start leading")
	}
	stop()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("Run returned %v after a graceful stop, want nil", r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after a graceful stop")
	}
	if cancelledEarly.Load() {
		t.Error("the work's context was cancelled before the work returned")
	}
	if got := heldDuringWork.Load(); got != "a" {
		t.Errorf("lease holder during the drain = %q, want a", got)
	}
	if got := holder(t, kube); got != "" {
		t.Errorf("lease holder after Run = %q, want released (empty)", got)
	}
}

func TestFollowerStopsAtOnceAndAnotherTakesOver(t *testing.T) {
	_, base := ktesting.NewTestContext(t)
	kube := kubefake.NewClientset()
	ctxA, stopA := context.WithCancel(base)
	aStarted := make(chan struct{})
	aDone := make(chan error, 1)
	go func() {
		aDone <- Run(ctxA, testConfig(kube, "a"), func(context.Context) error {
			close(aStarted)
			<-ctxA.Done()
			return nil
		})
	}()
	<-aStarted

	ctxB, stopB := context.WithCancel(base)
	defer stopB()
	var bLed atomic.Bool
	bDone := make(chan error, 1)
	go func() {
		bDone <- Run(ctxB, testConfig(kube, "b"), func(context.Context) error {
			bLed.Store(true)
			<-ctxB.Done() // the work watches the graceful stop itself
			return nil
		})
	}()
	time.Sleep(300 * time.Millisecond) // b campaigns while a holds the lease
	if bLed.Load() {
		t.Fatal("b leads while a holds the lease")
	}
	stopA()
	if err := <-aDone; err != nil {
		t.Fatalf("a: %v", err)
	}
	// a released the lease, so b takes over within a retry period or so.
	waitFor(t, 3*time.Second, "b takes over", bLed.Load)
	stopB()
	select {
	case err := <-bDone:
		if err != nil {
			t.Fatalf("b: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("b did not stop")
	}

	// A candidate that never leads stops at once.
	ctxC, stopC := context.WithCancel(base)
	cDone := make(chan error, 1)
	kube2 := kubefake.NewClientset()
	holderCtx, stopHolder := context.WithCancel(base)
	defer stopHolder()
	held := make(chan struct{})
	go func() {
		_ = Run(holderCtx, testConfig(kube2, "h"), func(context.Context) error { close(held); <-holderCtx.Done(); return nil })
	}()
	<-held
	go func() {
		cDone <- Run(ctxC, testConfig(kube2, "c"), func(context.Context) error { return errors.New("must not lead") })
	}()
	time.Sleep(200 * time.Millisecond)
	stopC()
	select {
	case err := <-cDone:
		if err != nil {
			t.Fatalf("follower: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a follower did not stop at once")
	}
}

func TestWorkErrorIsReturned(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	boom := errors.New("health server failed")
	err := Run(ctx, testConfig(kubefake.NewClientset(), "a"), func(context.Context) error { return boom })
	if !errors.Is(err, boom) || errors.Is(err, ErrLost) {
		t.Fatalf("Run = %v, want the work's error", err)
	}
}

func TestClientTimeout(t *testing.T) {
	for _, tc := range []struct{ renew, want time.Duration }{
		{10 * time.Second, 5 * time.Second},
		{time.Second, time.Second},
		{500 * time.Millisecond, time.Second},
	} {
		if got := ClientTimeout(tc.renew); got != tc.want {
			t.Errorf("ClientTimeout(%v) = %v, want %v", tc.renew, got, tc.want)
		}
	}
}

// Acquire gates the acquisition only: renewals and the release go straight
// to the Lease, however long the lease is held.
func TestAcquireGatesOnlyTheAcquisition(t *testing.T) {
	_, base := ktesting.NewTestContext(t)
	ctx, stop := context.WithCancel(base)
	kube := kubefake.NewClientset()
	var gated atomic.Int32
	cfg := testConfig(kube, "a")
	cfg.Acquire = func(_ context.Context, try func() error) error {
		gated.Add(1)
		return try()
	}
	renewals := func() int {
		n := 0
		for _, a := range kube.Actions() {
			if a.GetVerb() == "update" && a.GetResource().Resource == "leases" {
				n++
			}
		}
		return n
	}
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, func(context.Context) error { <-ctx.Done(); return nil })
	}()
	waitFor(t, 5*time.Second, "three renewals", func() bool { return renewals() >= 3 })
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := holder(t, kube); got != "" {
		t.Errorf("holder after the release = %q, want none", got)
	}
	if n := gated.Load(); n != 1 {
		t.Errorf("Acquire was called %d times, want once (the creation)", n)
	}
}
