package shard

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/memhpa/memhpa/scaler/internal/leader"
)

// TestOfIsStable pins the assignment: replicas of two versions must agree
// on it. The first rows are FNV-1a 32's published test vectors
// (draft-eastlake-fnv: "" → 0x811c9dc5, "a" → 0xe40c292c, "foobar" →
// 0xbf9cf968) taken modulo n, the others namespaces as they are today.
func TestOfIsStable(t *testing.T) {
	for _, tc := range []struct {
		ns   string
		n    int
		want int
	}{
		{"", 4, 0x811c9dc5 % 4},
		{"a", 6, 0xe40c292c % 6},
		{"foobar", 7, 0xbf9cf968 % 7},
		{"default", 4, 2},
		{"default", 6, 0},
		{"kube-system", 4, 2},
		{"team-a", 6, 4},
		{"anything", 1, 0},
		{"anything", 0, 0},
	} {
		if got := Of(tc.ns, tc.n); got != tc.want {
			t.Errorf("Of(%q, %d) = %d, want %d", tc.ns, tc.n, got, tc.want)
		}
	}
}

func TestLeaseName(t *testing.T) {
	for _, tc := range []struct {
		i, n int
		want string
	}{
		{0, 1, "memhpa-scaler"}, // one shard: the Lease of the scaler without shards
		{0, 4, "memhpa-scaler-0"},
		{3, 4, "memhpa-scaler-3"},
	} {
		if got := LeaseName("memhpa-scaler", tc.i, tc.n); got != tc.want {
			t.Errorf("LeaseName(memhpa-scaler, %d, %d) = %q, want %q", tc.i, tc.n, got, tc.want)
		}
	}
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 5*time.Millisecond, d, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatalf("%s: not within %v", what, d)
	}
}

// The gate of a shard: a namespace of a shard not led is refused; once led,
// a reconcile gets the lease's context; when the lease is lost, no new
// reconcile is admitted and Lead returns only when the one in flight is
// over.
func TestSetAdmitsOnlyLedShardsAndWaitsForTheirWork(t *testing.T) {
	_, base := ktesting.NewTestContext(t)
	s := NewSet(4, time.Second, clock.RealClock{})
	ns := "default" // shard 2 of 4 (TestOfIsStable)
	if _, _, ok := s.Enter(ns); ok || s.Leads(ns) {
		t.Fatal("a shard not led admitted a reconcile")
	}
	leaseCtx, lose := context.WithCancel(base)
	var started atomic.Bool
	returned := make(chan struct{})
	go func() {
		s.Lead(leaseCtx, base, 2, func() { started.Store(true) })
		close(returned)
	}()
	waitFor(t, 5*time.Second, "shard 2 led", func() bool { return started.Load() && s.Leads(ns) })
	if _, _, ok := s.Enter("a"); ok { // shard 0 of 4
		t.Error("shard 0 admitted a reconcile while only shard 2 is led")
	}
	ctx, done, ok := s.Enter(ns)
	if !ok || ctx != leaseCtx {
		t.Fatalf("Enter(%s) = %v, %v; want the lease's context", ns, ctx, ok)
	}
	if got := s.Led(); fmt.Sprint(got) != "[2]" {
		t.Errorf("Led() = %v, want [2]", got)
	}

	lose()
	if ctx.Err() == nil {
		t.Fatal("the reconcile's context is live after the lease was lost")
	}
	waitFor(t, 5*time.Second, "shard 2 no longer admits", func() bool { return !s.Leads(ns) })
	if _, _, ok := s.Enter(ns); ok {
		t.Error("a reconcile was admitted after the lease was lost")
	}
	select {
	case <-returned:
		t.Fatal("Lead returned while a reconcile of the shard was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	done()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("Lead did not return after the reconcile in flight was over")
	}
}

// A graceful stop ends the shard's leadership too, and the reconcile in
// flight keeps a live context until it is over.
func TestSetGracefulStopKeepsTheContextLive(t *testing.T) {
	_, base := ktesting.NewTestContext(t)
	s := NewSet(2, time.Second, clock.RealClock{})
	stop, stopNow := context.WithCancel(base)
	returned := make(chan struct{})
	go func() { s.Lead(base, stop, 0, nil); close(returned) }()
	waitFor(t, 5*time.Second, "shard 0 led", func() bool { return len(s.Led()) == 1 })
	ns := "a" // shard 0 of 2
	ctx, done, ok := s.Enter(ns)
	if !ok {
		t.Fatal("shard 0 not admitted")
	}
	stopNow()
	waitFor(t, 5*time.Second, "no new reconcile after the stop", func() bool { return !s.Leads(ns) })
	if ctx.Err() != nil {
		t.Error("the reconcile in flight lost its context on a graceful stop")
	}
	done()
	<-returned
}

// Acquire waits a retry period for every lease already held, and holds none
// back while the process holds none.
func TestAcquireWaitsARetryPeriodPerLeaseHeld(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	s := NewSet(3, 2*time.Second, clk)
	if err := s.Acquire(0)(ctx, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	tried := make(chan struct{})
	go func() {
		_ = s.Acquire(1)(ctx, func() error { close(tried); return nil })
	}()
	waitFor(t, 5*time.Second, "the second attempt waits on the clock", clk.HasWaiters)
	clk.Step(2*time.Second - time.Millisecond)
	select {
	case <-tried:
		t.Fatal("the second lease was tried before a retry period had passed")
	case <-time.After(20 * time.Millisecond):
	}
	clk.Step(time.Millisecond)
	select {
	case <-tried:
	case <-time.After(5 * time.Second):
		t.Fatal("the second lease was not tried after a retry period")
	}
	// Two held: the third waits two periods; a failed attempt holds nothing.
	failed := errors.New("conflict")
	errc := make(chan error, 1)
	go func() { errc <- s.Acquire(2)(ctx, func() error { return failed }) }()
	waitFor(t, 5*time.Second, "the third attempt waits", clk.HasWaiters)
	clk.Step(4 * time.Second)
	if err := <-errc; !errors.Is(err, failed) {
		t.Fatalf("Acquire = %v, want the write's error", err)
	}
	if got := s.holding(); got != 2 {
		t.Errorf("holding %d leases after a failed attempt, want 2", got)
	}
	s.Released(0)
	if got := s.holding(); got != 1 {
		t.Errorf("holding %d leases after a release, want 1", got)
	}
}

// Two replicas, four shards, the first started a little before the second
// (as pods of one Deployment start): without Acquire's delay the first
// creates all four Leases before the second campaigns; with it, each ends
// up leading some, and every shard has one holder.
func TestTwoReplicasSplitTheShards(t *testing.T) {
	_, base := ktesting.NewTestContext(t)
	ctx, stop := context.WithCancel(base)
	const n = 4
	kube := kubefake.NewClientset()
	retry := 300 * time.Millisecond
	var wg sync.WaitGroup
	defer wg.Wait() // after stop (deferred last, run first)
	defer stop()
	campaign := func(id string) *Set {
		s := NewSet(n, retry, clock.RealClock{})
		for i := range n {
			cfg := leader.Config{
				Namespace: "kube-system", Name: LeaseName("memhpa-scaler", i, n), Identity: id,
				LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: retry,
				Client: kube.CoordinationV1(), Acquire: s.Acquire(i),
			}
			wg.Go(func() {
				_ = leader.Run(ctx, cfg, func(leadCtx context.Context) error {
					s.Lead(leadCtx, ctx, i, nil)
					return nil
				})
			})
		}
		return s
	}
	a := campaign("a")
	waitFor(t, 5*time.Second, "a leads a shard", func() bool { return len(a.Led()) > 0 })
	b := campaign("b")
	// Long enough for a to take all four with the delay (1+2+3 retry
	// periods) had b not campaigned.
	deadline := time.Now().Add(8 * retry)
	for time.Now().Before(deadline) && len(a.Led())+len(b.Led()) < n {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(2 * retry) // let a late second holder show, if any
	la, lb := a.Led(), b.Led()
	if len(la)+len(lb) != n {
		t.Fatalf("a leads %v and b %v: want every one of %d shards led once", la, lb, n)
	}
	if len(la) == 0 || len(lb) == 0 {
		t.Fatalf("a leads %v and b %v: one replica took every shard", la, lb)
	}
	for i := range n {
		l, err := kube.CoordinationV1().Leases("kube-system").Get(ctx, LeaseName("memhpa-scaler", i, n), metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			t.Fatalf("lease of shard %d: %v", i, err)
		}
	}
	t.Logf("a leads %v, b leads %v", la, lb)
}
