package controller

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"k8s.io/utils/clock"

	"github.com/memhpa/memhpa/scaler/internal/shard"
	v1alpha1 "github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

// processOne queues key and runs one worker step on it.
func (f *fixture) processOne(key string) {
	f.t.Helper()
	f.c.queue.Add(key)
	f.c.processNextItem(f.ctx, f.ctx)
}

// leadShard makes this process lead shard i of s until the returned
// function loses the lease (and waits for Lead to return).
func leadShard(t *testing.T, s *shard.Set, ctx context.Context, i int) (leaseCtx context.Context, lose func()) {
	t.Helper()
	leaseCtx, cancel := context.WithCancel(ctx)
	returned := make(chan struct{})
	go func() { s.Lead(leaseCtx, ctx, i, nil); close(returned) }()
	waitFor(t, fmt.Sprintf("lead of shard %d", i), func() bool { return slices.Contains(s.Led(), i) })
	return leaseCtx, func() { cancel(); <-returned }
}

// With shards, a MemHpa is reconciled only while its namespace's shard is
// led: queued while another replica leads it, nothing is read or written;
// once led it scales; once the shard's lease is lost in the middle of a
// reconcile, nothing is written.
func TestShardsReconcileOnlyTheLedNamespaces(t *testing.T) {
	f := newFixture(t, 3, []*v1alpha1.MemHpa{memhpa("web")}, pods(3)...)
	f.use(1000, 1000, 1000) // 100 % of the limits against 80 %: 4 replicas
	set := shard.NewSet(4, time.Second, clock.RealClock{})
	f.c.shards = set
	key := memhpagen.Namespace + "/web"
	mine := shard.Of(memhpagen.Namespace, 4)

	_, loseOther := leadShard(t, set, f.ctx, (mine+1)%4)
	defer loseOther()
	f.processOne(key)
	if n := len(f.target.updates) + f.statusWrites(); n != 0 {
		t.Fatalf("%d writes for a MemHpa of a shard not led", n)
	}
	if f.c.leads(memhpagen.Namespace) {
		t.Fatal("the controller says it leads a shard it does not")
	}

	_, lose := leadShard(t, set, f.ctx, mine)
	f.processOne(key)
	if len(f.target.updates) != 1 || f.target.replicas != 4 {
		t.Fatalf("led shard: %d scale writes, replicas %d; want one write to 4", len(f.target.updates), f.target.replicas)
	}

	// The lease is lost while the reconcile waits for Prometheus.
	f.use(2000, 2000, 2000)
	lost := make(chan struct{})
	f.c.sampler.source = loseLeadershipOnQuery{Source: f.source, lose: func() {
		go func() { lose(); close(lost) }() // Lead returns once this reconcile is over
		waitLost(t, set, mine)
	}}
	f.c.sampler.invalidate()
	writes := f.statusWrites()
	f.processOne(key)
	<-lost
	if len(f.target.updates) != 1 {
		t.Errorf("%d scale writes after the shard's lease was lost, want none", len(f.target.updates)-1)
	}
	if n := f.statusWrites() - writes; n != 0 {
		t.Errorf("%d status writes after the shard's lease was lost", n)
	}
}

// waitLost waits, at most 10 s, until shard i admits no new reconcile (its
// lease is gone). It may run off the test's goroutine, so it reports with
// Errorf, not Fatalf.
func waitLost(t *testing.T, s *shard.Set, i int) {
	deadline := time.Now().Add(10 * time.Second)
	for slices.Contains(s.Led(), i) {
		if time.Now().After(deadline) {
			t.Errorf("shard %d still led 10s after its lease was lost", i)
			return
		}
		time.Sleep(time.Millisecond)
	}
}
