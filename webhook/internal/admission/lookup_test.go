package admission

import (
	"errors"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	memhpafake "github.com/memhpa/memhpa/webhook/pkg/generated/clientset/versioned/fake"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

func TestClientLookup(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "web", Namespace: memhpagen.Namespace}
	tpl := *memhpagen.PodTemplate(memhpagen.Container("app", "1Gi", ""))
	kube := kubefake.NewClientset(
		&appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Template: tpl}},
		&appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Template: tpl}},
		&appsv1.ReplicaSet{ObjectMeta: meta, Spec: appsv1.ReplicaSetSpec{Template: tpl}},
		memhpagen.HPA("h", "apps/v1", "Deployment", "web"),
		memhpagen.MemoryLimitRange("mem", "1Gi"),
	)
	memhpa := memhpafake.NewSimpleClientset(memhpagen.MemHpa("web"), memhpagen.MemHpa("api"))
	var fieldSelector string
	memhpa.PrependReactor("list", "memhpas", func(a clienttesting.Action) (bool, runtime.Object, error) {
		fieldSelector = a.(clienttesting.ListAction).GetListRestrictions().Fields.String()
		return false, nil, nil
	})
	l := NewClientLookup(kube, memhpa)
	ctx := t.Context()

	t.Run("MemHpas asks the apiserver to filter by target name", func(t *testing.T) {
		if _, err := l.MemHpas(ctx, memhpagen.Namespace, "web"); err != nil {
			t.Fatal(err)
		}
		if fieldSelector != "spec.scaleTargetRef.name=web" {
			t.Errorf("field selector = %q", fieldSelector)
		}
	})
	t.Run("HorizontalPodAutoscalers", func(t *testing.T) {
		hpas, err := l.HorizontalPodAutoscalers(ctx, memhpagen.Namespace, "web")
		if err != nil || len(hpas) != 1 || hpas[0].Name != "h" {
			t.Fatalf("= %v, %v; want the one HPA", hpas, err)
		}
	})
	t.Run("LimitRanges", func(t *testing.T) {
		lrs, err := l.LimitRanges(ctx, memhpagen.Namespace)
		if err != nil || len(lrs) != 1 {
			t.Fatalf("= %v, %v; want the one LimitRange", lrs, err)
		}
	})

	tests := []struct {
		name     string
		gk       schema.GroupKind
		target   string
		wantErr  func(error) bool
		wantName string
	}{
		{name: "Deployment", gk: schema.GroupKind{Group: "apps", Kind: "Deployment"}, target: "web", wantName: "app"},
		{name: "StatefulSet", gk: schema.GroupKind{Group: "apps", Kind: "StatefulSet"}, target: "web", wantName: "app"},
		{name: "ReplicaSet", gk: schema.GroupKind{Group: "apps", Kind: "ReplicaSet"}, target: "web", wantName: "app"},
		{name: "missing Deployment", gk: schema.GroupKind{Group: "apps", Kind: "Deployment"}, target: "nope", wantErr: apierrors.IsNotFound},
		{name: "custom resource", gk: schema.GroupKind{Group: "argoproj.io", Kind: "Rollout"}, target: "web",
			wantErr: func(err error) bool { return errors.Is(err, ErrUnsupportedKind) }},
		{name: "unknown apps kind", gk: schema.GroupKind{Group: "apps", Kind: "DaemonSet"}, target: "web",
			wantErr: func(err error) bool { return errors.Is(err, ErrUnsupportedKind) }},
	}
	for _, tt := range tests {
		t.Run("PodTemplate of "+tt.name, func(t *testing.T) {
			got, err := l.PodTemplate(ctx, memhpagen.Namespace, tt.gk, tt.target)
			if tt.wantErr != nil {
				if !tt.wantErr(err) {
					t.Fatalf("error = %v", err)
				}
				return
			}
			if err != nil || len(got.Spec.Containers) != 1 || got.Spec.Containers[0].Name != tt.wantName {
				t.Fatalf("= %v, %v", got, err)
			}
		})
	}
}

func TestClientLookupErrorsAreWrapped(t *testing.T) {
	kube := kubefake.NewClientset()
	kube.PrependReactor("*", "*", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewServiceUnavailable("etcd is down")
	})
	memhpa := memhpafake.NewSimpleClientset()
	memhpa.PrependReactor("*", "*", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewServiceUnavailable("etcd is down")
	})
	l := NewClientLookup(kube, memhpa)
	ctx := t.Context()
	_, e1 := l.MemHpas(ctx, "ns", "web")
	_, e2 := l.HorizontalPodAutoscalers(ctx, "ns", "web")
	_, e3 := l.PodTemplate(ctx, "ns", schema.GroupKind{Group: "apps", Kind: "Deployment"}, "web")
	_, e4 := l.LimitRanges(ctx, "ns")
	for i, err := range []error{e1, e2, e3, e4} {
		if !apierrors.IsServiceUnavailable(err) {
			t.Errorf("call %d: error = %v, want the apiserver's, wrapped", i, err)
		}
	}
}

// The fake and the client-go Lookup agree on what they read.
func TestFakeLookupMatchesClientLookup(t *testing.T) {
	tpl := memhpagen.PodTemplate(memhpagen.Container("app", "1Gi", ""))
	fake := &FakeLookup{Templates: workload("web", tpl)}
	client := NewClientLookup(kubefake.NewClientset(&appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: memhpagen.Namespace}, Spec: appsv1.DeploymentSpec{Template: *tpl}}),
		memhpafake.NewSimpleClientset())
	for _, gk := range []schema.GroupKind{{Group: "apps", Kind: "Deployment"}, {Group: "apps", Kind: "StatefulSet"}, {Group: "x.io", Kind: "Deployment"}} {
		for _, name := range []string{"web", "nope"} {
			a, errA := fake.PodTemplate(t.Context(), memhpagen.Namespace, gk, name)
			b, errB := client.PodTemplate(t.Context(), memhpagen.Namespace, gk, name)
			if apierrors.IsNotFound(errA) != apierrors.IsNotFound(errB) || errors.Is(errA, ErrUnsupportedKind) != errors.Is(errB, ErrUnsupportedKind) ||
				(a == nil) != (b == nil) {
				t.Errorf("%s %s: fake = %v, %v; client = %v, %v", gk, name, a != nil, errA, b != nil, errB)
			}
		}
	}
}
