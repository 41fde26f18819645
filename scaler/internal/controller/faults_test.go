package controller

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	scalefake "k8s.io/client-go/scale/fake"
	core "k8s.io/client-go/testing"

	"github.com/memhpa/memhpa/scaler/internal/calc"
	"github.com/memhpa/memhpa/scaler/internal/promquery"
	"github.com/memhpa/memhpa/scaler/internal/promsource"
	v1alpha1 "github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

// loseLeadershipOnQuery is a Prometheus that answers, but while it does the
// lease is lost (the context of the work is cancelled).
type loseLeadershipOnQuery struct {
	promsource.Source
	lose context.CancelFunc
}

func (l loseLeadershipOnQuery) WorkingSet(ctx context.Context, ns []string) (promquery.Samples, error) {
	l.lose()
	return l.Source.WorkingSet(context.WithoutCancel(ctx), ns)
}

// TestNoWriteAfterLeadershipLost: the lease is lost in the middle of a
// reconcile; the decision would scale up, but nothing is written: no scale,
// no status, no event.
func TestNoWriteAfterLeadershipLost(t *testing.T) {
	f := newFixture(t, 3, []*v1alpha1.MemHpa{memhpa("web")}, pods(3)...)
	f.use(1000, 1000, 1000) // 100 % of the limits against 80 %: 4 replicas
	leadCtx, lose := context.WithCancel(f.ctx)
	f.c.sampler.source = loseLeadershipOnQuery{Source: f.source, lose: lose}
	f.c.sampler.invalidate()
	err := f.c.sync(leadCtx, memhpagen.Namespace+"/web")
	if !errors.Is(err, errNotLeading) {
		t.Errorf("sync after the lease was lost = %v, want errNotLeading", err)
	}
	if len(f.target.updates) != 0 {
		t.Errorf("%d scale writes after the lease was lost", len(f.target.updates))
	}
	if n := f.statusWrites(); n != 0 {
		t.Errorf("%d status writes after the lease was lost", n)
	}
	if ev := f.events(); len(ev) != 0 {
		t.Errorf("events after the lease was lost: %v", ev)
	}
}

// TestDesiredReplicasKeptOnFailure: the HPA keeps the last recommendation in
// status.desiredReplicas when a later reconcile cannot decide (metrics) or
// cannot write (the scale); it is never overwritten with the current size.
func TestDesiredReplicasKeptOnFailure(t *testing.T) {
	f := newFixture(t, 3, []*v1alpha1.MemHpa{memhpa("web")}, pods(3)...)
	f.use(1000, 1000, 1000)
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	f.informStatus()
	if st := f.status(); st.DesiredReplicas != 4 {
		t.Fatalf("desired = %d, want 4", st.DesiredReplicas)
	}
	// Someone scales the target to 2, then Prometheus fails.
	f.target.mu.Lock()
	f.target.replicas = 2
	f.target.mu.Unlock()
	f.source.SetError(errors.New("prometheus down"))
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	f.informStatus()
	if st := f.status(); st.DesiredReplicas != 4 || st.CurrentReplicas != 2 {
		t.Errorf("after a metric failure: desired %d current %d, want the last desired 4 and current 2", st.DesiredReplicas, st.CurrentReplicas)
	}
	// Prometheus is back, but the write fails.
	f.source.SetError(nil)
	f.use(1000, 1000) // two pods at 100 %: 3 replicas
	f.target.mu.Lock()
	f.target.updateErr = errors.New("admission webhook denied the request")
	f.target.mu.Unlock()
	if err := f.sync(); err == nil {
		t.Fatal("no error after a failed write")
	}
	if st := f.status(); st.DesiredReplicas != 4 {
		t.Errorf("after a failed write: desired %d, want the last desired 4 kept", st.DesiredReplicas)
	}
}

func hpa(name, kind, target string) *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: memhpagen.Namespace},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: kind, Name: target},
			MaxReplicas:    10,
		},
	}
}

// TestTwoAutoscalersOnOnePodSetStopScaling: the webhook's checks can miss a
// second autoscaler (a failed read under failurePolicy Ignore, an object
// created within the watch delay); the scaler catches it: no scale write,
// ScalingActive=False/AmbiguousSelector and a Warning event, until resolved.
func TestTwoAutoscalersOnOnePodSetStopScaling(t *testing.T) {
	for _, tc := range []struct {
		name    string
		others  []*v1alpha1.MemHpa
		hpas    []*autoscalingv2.HorizontalPodAutoscaler
		want    string // "" when no conflict
		syncAll bool   // reconcile the others first, so their selectors are known
	}{
		{name: "alone", want: ""},
		{name: "another MemHpa on the same target", others: []*v1alpha1.MemHpa{memhpa("web-too")}, want: "MemHpa/web-too"},
		{
			name:   "another MemHpa on the same target written without apiVersion",
			others: []*v1alpha1.MemHpa{memhpa("web-too", memhpagen.WithRef("", "Deployment", "web"))}, want: "MemHpa/web-too",
		},
		{
			name:   "another MemHpa whose target selects the same pods",
			others: []*v1alpha1.MemHpa{memhpa("rs", memhpagen.WithRef("apps/v1", "ReplicaSet", "web-abc"))}, want: "MemHpa/rs", syncAll: true,
		},
		{name: "a DryRun MemHpa on the same target does not count", others: []*v1alpha1.MemHpa{memhpa("web-shadow", memhpagen.DryRun())}, want: ""},
		{
			name:   "a DryRun MemHpa whose target selects the same pods does not count",
			others: []*v1alpha1.MemHpa{memhpa("rs", memhpagen.WithRef("apps/v1", "ReplicaSet", "web-abc"), memhpagen.DryRun())}, want: "", syncAll: true,
		},
		{name: "an HPA on the same target", hpas: []*autoscalingv2.HorizontalPodAutoscaler{hpa("web-cpu", "Deployment", "web")}, want: "HorizontalPodAutoscaler/web-cpu"},
		{name: "an HPA on another target", hpas: []*autoscalingv2.HorizontalPodAutoscaler{hpa("api", "Deployment", "api")}, want: ""},
		{name: "an HPA on a StatefulSet of the same name", hpas: []*autoscalingv2.HorizontalPodAutoscaler{hpa("web", "StatefulSet", "web")}, want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 3, append([]*v1alpha1.MemHpa{memhpa("web")}, tc.others...), pods(3)...)
			f.use(1000, 1000, 1000)
			for _, a := range tc.hpas {
				if err := f.hpas.Add(a); err != nil {
					t.Fatal(err)
				}
			}
			if tc.syncAll {
				f.serveReplicaSets()
				for _, o := range tc.others {
					_ = f.c.sync(f.ctx, memhpagen.Namespace+"/"+o.Name)
				}
				f.events()
				f.target.updates = nil
			}
			if err := f.sync(); err != nil {
				t.Fatal(err)
			}
			active := reasons(f.status().Conditions)[calc.ConditionScalingActive]
			events := strings.Join(f.events(), "\n")
			if tc.want == "" {
				if active != "True/"+calc.ReasonValidMetricFound || len(f.target.updates) != 1 {
					t.Errorf("alone on its pods: ScalingActive %s, %d scale writes; want ValidMetricFound and one write", active, len(f.target.updates))
				}
				return
			}
			if len(f.target.updates) != 0 {
				t.Errorf("%d scale writes while another autoscaler claims the pods", len(f.target.updates))
			}
			if active != "False/"+ReasonAmbiguousSelector {
				t.Errorf("ScalingActive = %s, want False/AmbiguousSelector", active)
			}
			if !strings.Contains(events, "Warning "+EventAmbiguousSelector) || !strings.Contains(events, tc.want) {
				t.Errorf("events %q: want a Warning AmbiguousSelector naming %s", events, tc.want)
			}
		})
	}
}

// TestRecreatedMemHpaStartsAfresh: a reconcile in flight while its MemHpa
// was deleted writes its history back after the delete; the MemHpa created
// again under the same name (a new UID) must not inherit it, and the next
// resync drops what a deleted MemHpa (or its deleted namespace) left: state
// and metric series.
func TestRecreatedMemHpaStartsAfresh(t *testing.T) {
	old := memhpa("web")
	old.UID = "uid-old"
	f := newFixture(t, 4, []*v1alpha1.MemHpa{old}, pods(4)...)
	f.use(900, 900, 900, 900)
	key := memhpagen.Namespace + "/web"
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	// Deleted; the reconcile in flight writes back a recommendation of 8
	// after the delete handler ran.
	if err := f.memhpas.Delete(old); err != nil {
		t.Fatal(err)
	}
	f.c.forget(old)
	f.c.setHistory(key, old.UID, calc.History{Recommendations: []calc.Sample{{Replicas: 8, At: start}}})
	f.c.monitor.setDesired(memhpagen.Namespace, "web", v1alpha1.ScalingModeScale, 8)

	fresh := memhpa("web")
	fresh.UID = "uid-new"
	if err := f.memhpas.Add(fresh); err != nil {
		t.Fatal(err)
	}
	if st := f.c.stateOf(key, fresh.UID); len(st.history.Recommendations) != 0 {
		t.Errorf("the recreated MemHpa inherited the deleted one's history: %+v", st.history)
	}
	// A fresh history is seeded with the current size, not the 8 written
	// back.
	f.use(100, 100, 100, 100)
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	current := f.target.replicas
	if st := f.c.stateOf(key, fresh.UID); len(st.history.Recommendations) == 0 || st.history.Recommendations[0].Replicas != current {
		t.Errorf("history of the recreated MemHpa = %+v, want seeded with the current size %d", st.history.Recommendations, current)
	}

	// The namespace goes: nothing may remain.
	if err := f.memhpas.Delete(fresh); err != nil {
		t.Fatal(err)
	}
	f.c.setHistory(key, fresh.UID, calc.History{}) // a late write-back again
	f.c.resync(f.ctx)
	f.c.mu.Lock()
	left := len(f.c.state)
	f.c.mu.Unlock()
	if left != 0 {
		t.Errorf("%d state entries left after the MemHpa and its namespace were deleted", left)
	}
	if n := testutil.CollectAndCount(f.c.monitor.desired); n != 0 {
		t.Errorf("%d desired-replicas series left after the MemHpa was deleted", n)
	}
}

// informStatus copies the stored MemHpa into the informer's cache, as the
// watch would after a status write.
func (f *fixture) informStatus() {
	f.t.Helper()
	h, err := f.client.AutoscalingV1alpha1().MemHpas(memhpagen.Namespace).Get(f.ctx, "web", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.memhpas.Update(h); err != nil {
		f.t.Fatal(err)
	}
}

// serveReplicaSets makes the fake apiserver serve the scale of any
// ReplicaSet, with the same selector as the Deployment's.
func (f *fixture) serveReplicaSets() {
	f.c.mapper.(*meta.DefaultRESTMapper).Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "ReplicaSet"}, meta.RESTScopeNamespace)
	f.c.scales.(*scalefake.FakeScaleClient).AddReactor("get", "replicasets", func(a core.Action) (bool, runtime.Object, error) {
		f.target.mu.Lock()
		defer f.target.mu.Unlock()
		return true, f.target.scale(a.(core.GetAction).GetName()), nil
	})
}
