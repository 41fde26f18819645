package controller

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

// webDeployment is the fixture's target as the apiserver stores it: the
// replicas and resourceVersion of f.target, selector app=web, and a pod
// template the cache must not keep.
func (f *fixture) webDeployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web", Namespace: memhpagen.Namespace, UID: "uid-web", ResourceVersion: strconv.Itoa(f.target.rv),
			Generation: 7, Labels: map[string]string{"team": "a"}, Annotations: map[string]string{"big": "annotation"},
		},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(f.target.replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web:1"}}},
			},
		},
		Status: appsv1.DeploymentStatus{Replicas: f.target.replicas, ReadyReplicas: f.target.replicas},
	}
}

// cacheWorkloads gives f's controller the workload informers over f.kube, as
// app.Run wires them, and starts them when start is set (else they never sync).
func (f *fixture) cacheWorkloads(start bool, objs ...*appsv1.Deployment) {
	f.t.Helper()
	for _, d := range objs {
		if _, err := f.kube.AppsV1().Deployments(d.Namespace).Create(f.ctx, d, metav1.CreateOptions{}); err != nil {
			f.t.Fatal(err)
		}
	}
	factory := kubeinformers.NewSharedInformerFactoryWithOptions(f.kube, 0, kubeinformers.WithTransform(TransformWorkload))
	w := &WorkloadInformers{
		Deployments:  factory.Apps().V1().Deployments(),
		StatefulSets: factory.Apps().V1().StatefulSets(),
		ReplicaSets:  factory.Apps().V1().ReplicaSets(),
	}
	f.c.scaleCaches = scaleCaches(w)
	if !start {
		return
	}
	ctx, cancel := context.WithCancel(f.ctx)
	f.t.Cleanup(func() { cancel(); factory.Shutdown() })
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			f.t.Fatalf("informer of %v did not sync", typ)
		}
	}
}

// scaleGets is how many GETs of /scale the controller made.
func (f *fixture) scaleGets() int {
	n := 0
	for _, a := range f.scales.Actions() {
		if a.GetVerb() == "get" {
			n++
		}
	}
	return n
}

// TestScaleReadFromCache: the scale of a Deployment in a synced cache is read
// there, with no GET of /scale; a GET remains for a target the cache does not
// hold (created a moment ago) and while the cache has not synced.
func TestScaleReadFromCache(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cached   bool // the Deployment is in the cache
		start    bool // the informers run (and sync)
		wantGets int
	}{
		{name: "cached and synced: no GET", cached: true, start: true, wantGets: 0},
		{name: "not in the cache: GET", cached: false, start: true, wantGets: 1},
		{name: "cache not synced: GET", cached: true, start: false, wantGets: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 3, []*v1alpha1.MemHpa{memhpa("web")}, pods(3)...)
			f.use(800, 800, 800) // at the target: nothing to write
			var objs []*appsv1.Deployment
			if tc.cached {
				objs = append(objs, f.webDeployment())
			}
			f.cacheWorkloads(tc.start, objs...)
			if err := f.sync(); err != nil {
				t.Fatal(err)
			}
			if got := f.scaleGets(); got != tc.wantGets {
				t.Errorf("%d GETs of /scale, want %d (actions: %v)", got, tc.wantGets, f.scales.Actions())
			}
			st := f.status()
			if st.CurrentReplicas != 3 || st.CurrentUtilizationPercentage == nil || *st.CurrentUtilizationPercentage != 80 {
				t.Errorf("status replicas %d, utilization %v; want 3 at 80 %%", st.CurrentReplicas, st.CurrentUtilizationPercentage)
			}
		})
	}
}

// TestCachedScaleWriteCarriesItsResourceVersion: a rescale from the cache
// writes /scale with the cached resourceVersion; when the object changed
// since (the watch not delivered yet) the write conflicts and the next round
// recomputes from the cache once it has caught up.
func TestCachedScaleWriteCarriesItsResourceVersion(t *testing.T) {
	f := newFixture(t, 3, []*v1alpha1.MemHpa{memhpa("web")}, pods(3)...)
	f.use(1000, 1000, 1000) // 125 % of the target: 3 → 4
	f.cacheWorkloads(true, f.webDeployment())
	f.target.rv++ // another writer, not yet seen by the informer

	var conflict errScaleConflict
	if err := f.sync(); !errors.As(err, &conflict) {
		t.Fatalf("sync with a stale cache = %v, want a conflict", err)
	}
	if len(f.target.updates) != 1 || f.target.updates[0].ResourceVersion != "1" {
		t.Fatalf("scale writes %v, want one carrying the cached resourceVersion 1", f.target.updates)
	}
	// The watch delivers the change.
	if _, err := f.kube.AppsV1().Deployments(memhpagen.Namespace).Update(f.ctx, f.webDeployment(), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	lister := f.c.scaleCaches[schema.GroupResource{Group: "apps", Resource: "deployments"}]
	err := wait.PollUntilContextTimeout(f.ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		sc, err := lister.get(memhpagen.Namespace, "web")
		return err == nil && sc.ResourceVersion == "2", nil
	})
	if err != nil {
		t.Fatalf("the informer never saw resourceVersion 2: %v", err)
	}
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if f.target.replicas != 4 || f.target.updates[1].ResourceVersion != "2" {
		t.Errorf("replicas %d after writes %v; want 4 written with resourceVersion 2", f.target.replicas, f.target.updates)
	}
	if n := f.scaleGets(); n != 0 {
		t.Errorf("%d GETs of /scale, want none", n)
	}
}

// TestScaleOfIsTheAPIServersView: the scale built from a cached object is
// what the apiserver's /scale of it shows (kubernetes
// pkg/registry/apps/deployment/storage scaleFromDeployment): checked against
// the real apiserver by test/e2e TestScaleIsAViewOfItsObject.
func TestScaleOfIsTheAPIServersView(t *testing.T) {
	created := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	m := metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "u", ResourceVersion: "42", CreationTimestamp: created, Generation: 3}
	sel := &metav1.LabelSelector{
		MatchLabels:      map[string]string{"b": "2", "a": "1"},
		MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"web", "api"}}},
	}
	for _, tc := range []struct {
		name     string
		replicas *int32
		want     int32
	}{
		{"spec.replicas", ptr.To[int32](5), 5},
		{"spec.replicas unset: the apiserver's default 1", nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := scaleOf(m, tc.replicas, 4, sel)
			if err != nil {
				t.Fatal(err)
			}
			want := &autoscalingv1.Scale{
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "u", ResourceVersion: "42", CreationTimestamp: created},
				Spec:       autoscalingv1.ScaleSpec{Replicas: tc.want},
				Status:     autoscalingv1.ScaleStatus{Replicas: 4, Selector: "a=1,b=2,tier in (api,web)"},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("scale (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := scaleOf(m, nil, 0, &metav1.LabelSelector{MatchLabels: map[string]string{"bad key!": "x"}}); err == nil {
		t.Error("an invalid selector gave a scale")
	}
}

// TestTransformWorkloadKeepsTheScale: each kind keeps exactly what scaleOf
// reads, the input is left as it was, and a tombstone passes through.
func TestTransformWorkloadKeepsTheScale(t *testing.T) {
	meta := metav1.ObjectMeta{
		Name: "w", Namespace: "ns", UID: "u", ResourceVersion: "9", CreationTimestamp: metav1.NewTime(start),
		Generation: 4, Labels: map[string]string{"x": "y"}, Annotations: map[string]string{"a": "b"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
	}
	slim := metav1.ObjectMeta{Name: "w", Namespace: "ns", UID: "u", ResourceVersion: "9", CreationTimestamp: metav1.NewTime(start)}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "w"}}
	tmpl := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "w:1"}}}}
	for _, tc := range []struct {
		name string
		in   runtime.Object
		want runtime.Object
	}{
		{"Deployment",
			&appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: sel, Template: tmpl, Paused: true},
				Status: appsv1.DeploymentStatus{Replicas: 3, ReadyReplicas: 1, Conditions: []appsv1.DeploymentCondition{{Type: "Available"}}}},
			&appsv1.Deployment{ObjectMeta: slim, Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: sel}, Status: appsv1.DeploymentStatus{Replicas: 3}}},
		{"StatefulSet",
			&appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](2), Selector: sel, Template: tmpl, ServiceName: "s"},
				Status: appsv1.StatefulSetStatus{Replicas: 3, CurrentRevision: "r"}},
			&appsv1.StatefulSet{ObjectMeta: slim, Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](2), Selector: sel}, Status: appsv1.StatefulSetStatus{Replicas: 3}}},
		{"ReplicaSet",
			&appsv1.ReplicaSet{ObjectMeta: meta, Spec: appsv1.ReplicaSetSpec{Replicas: nil, Selector: sel, Template: tmpl},
				Status: appsv1.ReplicaSetStatus{Replicas: 3, FullyLabeledReplicas: 3}},
			&appsv1.ReplicaSet{ObjectMeta: slim, Spec: appsv1.ReplicaSetSpec{Selector: sel}, Status: appsv1.ReplicaSetStatus{Replicas: 3}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.in.DeepCopyObject()
			got, err := TransformWorkload(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("transformed (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, tc.in); diff != "" {
				t.Errorf("the input was modified:\n%s", diff)
			}
		})
	}
	tomb := cache.DeletedFinalStateUnknown{Key: "ns/w", Obj: &appsv1.Deployment{ObjectMeta: meta}}
	if got, err := TransformWorkload(tomb); err != nil || !cmp.Equal(got, tomb) {
		t.Errorf("a tombstone was changed: %v, %v", got, err)
	}
}
