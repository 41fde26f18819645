package admission

import (
	"context"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/klog/v2/ktesting"
)

// fakeDiscovery serves the VPA API while served is true, and counts asks.
type fakeDiscovery struct {
	mu     sync.Mutex
	served bool
	asks   int
}

func (f *fakeDiscovery) set(served bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.served = served
}

func (f *fakeDiscovery) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.asks
}

func (f *fakeDiscovery) ServerResourcesForGroupVersion(gv string) (*metav1.APIResourceList, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asks++
	if !f.served || gv != VPAResource.GroupVersion().String() {
		return nil, apierrors.NewNotFound(VPAResource.GroupResource(), "")
	}
	return &metav1.APIResourceList{GroupVersion: gv, APIResources: []metav1.APIResource{{Name: VPAResource.Resource, Namespaced: true, Kind: "VerticalPodAutoscaler"}}}, nil
}

func unstructuredVPA(name, target, mode string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "autoscaling.k8s.io/v1", "kind": "VerticalPodAutoscaler",
		"metadata": map[string]any{"name": name, "namespace": "default"},
		"spec": map[string]any{
			"targetRef":    map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
			"updatePolicy": map[string]any{"updateMode": mode},
		},
		"status": map[string]any{"recommendation": map[string]any{"containerRecommendations": []any{}}},
	}}
}

// The VPA API is not served when the watcher starts: reviews see no VPAs and
// make it ask discovery again (not more than once per minGap, the periodic
// check being an hour away); once served, its VPAs are read from the index;
// when it goes away, none again.
func TestVPAWatcherFollowsDiscovery(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	disc := &fakeDiscovery{}
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{VPAResource: "VerticalPodAutoscalerList"},
		unstructuredVPA("web-vpa", "web", "Auto"), unstructuredVPA("api-vpa", "api", "Off"))
	w := NewVPAWatcher(disc, client, time.Hour, 50*time.Millisecond)
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()

	read := func() ([]VerticalPodAutoscaler, error) { return w.VerticalPodAutoscalers(ctx, "default", "web") }
	poll := func(what string, cond func() bool) {
		t.Helper()
		if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
			return cond(), nil
		}); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	poll("first discovery", func() bool { return disc.count() >= 1 })
	if got, err := read(); err != nil || len(got) != 0 {
		t.Fatalf("without the API: %v, %v; want none", got, err)
	}

	disc.set(true)
	var got []VerticalPodAutoscaler
	poll("the VPA after the API appeared", func() bool {
		var err error
		got, err = read()
		return err == nil && len(got) == 1
	})
	if got[0].Name != "web-vpa" || got[0].Spec.UpdatePolicy == nil || got[0].Spec.UpdatePolicy.UpdateMode != "Auto" {
		t.Errorf("read %+v, want web-vpa in Auto", got[0])
	}
	asks := disc.count()

	disc.set(false)
	// The API is there as far as the watcher knows: reviews make no asks,
	// the hourly check is far away.
	if _, err := read(); err != nil {
		t.Fatal(err)
	}
	if n := disc.count(); n != asks {
		t.Errorf("discovery asked %d times while the API was known, want %d", n, asks)
	}
	w.check(ctx) // the periodic check, brought forward
	if got, err := read(); err != nil || len(got) != 0 {
		t.Errorf("after the API went away: %v, %v; want none", got, err)
	}
	cancel()
	<-done
}

func TestTrimVPA(t *testing.T) {
	u := unstructuredVPA("v", "web", "Auto")
	u.SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: "kubectl"}})
	u.Object["spec"].(map[string]any)["recommenders"] = []any{"custom"}
	got, err := trimVPA(u)
	if err != nil {
		t.Fatal(err)
	}
	trimmed := got.(*unstructured.Unstructured)
	if _, ok := trimmed.Object["status"]; ok {
		t.Error("status kept")
	}
	if len(trimmed.GetManagedFields()) != 0 {
		t.Error("managed fields kept")
	}
	spec := trimmed.Object["spec"].(map[string]any)
	if _, ok := spec["recommenders"]; ok || spec["targetRef"] == nil || spec["updatePolicy"] == nil {
		t.Errorf("spec = %v, want targetRef and updatePolicy only", spec)
	}
	if trimmed.GetName() != "v" || trimmed.GetNamespace() != "default" {
		t.Errorf("identity lost: %s/%s", trimmed.GetNamespace(), trimmed.GetName())
	}
}
