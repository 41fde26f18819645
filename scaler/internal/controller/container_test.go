package controller

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/memhpa/memhpa/scaler/internal/calc"
	"github.com/memhpa/memhpa/scaler/internal/gen"
	v1alpha1 "github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

// The builders of this file are local while the shared ones move (issue 13).

func memoryRequirements(limit string) *corev1.ResourceRequirements {
	return &corev1.ResourceRequirements{
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(limit), corev1.ResourceCPU: resource.MustParse("1")},
		Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(limit), corev1.ResourceCPU: resource.MustParse("100m")},
	}
}

// withStatusLimit makes the kubelet's status report limit for a container
// (an init container status when init is true) among its other fields.
func withStatusLimit(container, limit string, init bool) gen.PodOption {
	return func(p *corev1.Pod) {
		st := corev1.ContainerStatus{Name: container, Ready: true, Image: "registry.example/" + container,
			Resources:          memoryRequirements(limit),
			AllocatedResources: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(limit)}}
		if init {
			p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, st)
			return
		}
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, st)
	}
}

func withPodStatusLimit(limit string) gen.PodOption {
	return func(p *corev1.Pod) { p.Status.Resources = memoryRequirements(limit) }
}

// TestTransformPodKeepsAppliedLimits is TestTransformPodKeepsTheDecision for
// the limits that status reports and for a container target (issue 13).
func TestTransformPodKeepsAppliedLimits(t *testing.T) {
	twoContainers := gen.Containers(memhpagen.Container("app", "1000", ""), memhpagen.Container("proxy", "10000", ""))
	for _, tc := range []struct {
		name       string
		container  string
		pods       []*corev1.Pod
		usage      map[string]int64
		containers map[string]map[string]int64
		util       int32
	}{
		{
			name:  "a container's status limit below its spec's",
			pods:  []*corev1.Pod{gen.Pod("a", withStatusLimit("app", "500", false)), gen.Pod("b", withStatusLimit("app", "500", false))},
			usage: map[string]int64{"a": 450, "b": 450},
			util:  90,
		},
		{
			name: "a sidecar's status limit below its spec's",
			pods: []*corev1.Pod{
				gen.Pod("a", gen.InitContainers(memhpagen.Sidecar("proxy", "1000")), withStatusLimit("proxy", "100", true)),
				gen.Pod("b", gen.InitContainers(memhpagen.Sidecar("proxy", "1000")), withStatusLimit("proxy", "100", true)),
			},
			usage: map[string]int64{"a": 990, "b": 990},
			util:  90,
		},
		{
			name:  "a pod-level status limit below the spec's",
			pods:  []*corev1.Pod{gen.Pod("a", gen.PodLimit("2000"), withPodStatusLimit("1000")), gen.Pod("b", gen.PodLimit("2000"), withPodStatusLimit("1000"))},
			usage: map[string]int64{"a": 900, "b": 900},
			util:  90,
		},
		{
			name:      "a container target",
			container: "app",
			pods:      []*corev1.Pod{gen.Pod("a", twoContainers), gen.Pod("b", twoContainers, withStatusLimit("app", "950", false))},
			usage:     map[string]int64{"a": 1000, "b": 1000},
			containers: map[string]map[string]int64{
				"a": {"app": 900, "proxy": 100}, "b": {"app": 900, "proxy": 100}},
			// 1800 / (1000 + 950)
			util: 92,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktesting.NewFakePassiveClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
			in := calc.Input{Spec: memhpa("web").Spec, CurrentReplicas: int32(len(tc.pods)), Usage: tc.usage,
				ContainerUsage: tc.containers, Config: calc.DefaultConfig()}
			in.Spec.Container = tc.container
			// The same input but the pods, as given and as the cache holds them.
			var recs [2]calc.Recommendation
			for i, ps := range [][]*corev1.Pod{tc.pods, transformed(t, tc.pods)} {
				in.Pods = ps
				recs[i] = calc.Decide(in, clk)
			}
			full := recs[0]
			if diff := cmp.Diff(full, recs[1]); diff != "" {
				t.Errorf("decision on transformed pods differs (-full +transformed):\n%s", diff)
			}
			if full.Utilization == nil || *full.Utilization != tc.util {
				t.Errorf("utilization = %v, want %d %%", full.Utilization, tc.util)
			}
		})
	}
}

// TestTransformPodKeepsOnlyStatusMemoryLimits: of a status, only each
// container's name and memory limit, and the pod-level memory limit, stay
// (beside what the CPU rules read: the start time and the Ready condition).
func TestTransformPodKeepsOnlyStatusMemoryLimits(t *testing.T) {
	p := gen.RealisticPod(3)
	withStatusLimit("proxy", "128Mi", true)(p)
	withPodStatusLimit("2Gi")(p)
	p.Status.ContainerStatuses[0].Resources = memoryRequirements("256Mi")
	// The second container's status reports no resources.

	got, err := TransformPod(p)
	if err != nil {
		t.Fatal(err)
	}
	limit := func(q string) *corev1.ResourceRequirements {
		return &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(q)}}
	}
	want := corev1.PodStatus{
		Phase:                 corev1.PodRunning,
		StartTime:             p.Status.StartTime,
		Conditions:            []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: *p.Status.StartTime}},
		ContainerStatuses:     []corev1.ContainerStatus{{Name: "app", Resources: limit("256Mi")}},
		InitContainerStatuses: []corev1.ContainerStatus{{Name: "proxy", Resources: limit("128Mi")}},
		Resources:             limit("2Gi"),
	}
	if diff := cmp.Diff(want, got.(*corev1.Pod).Status); diff != "" {
		t.Errorf("transformed status (-want +got):\n%s", diff)
	}
}

// TestContainerTargetScalesOnItsContainer: through the controller, a MemHpa
// with spec.container reads that container's figure from the same one query
// (issue 13 item 1); the whole pods would scale down.
func TestContainerTargetScalesOnItsContainer(t *testing.T) {
	h := memhpa("web", memhpagen.WithContainer("app"))
	two := gen.Containers(memhpagen.Container("app", "1000", ""), memhpagen.Container("proxy", "10000", ""))
	f := newFixture(t, 2, []*v1alpha1.MemHpa{h}, pods(2, two)...)
	for i := range 2 {
		f.source.SetContainer(memhpagen.Namespace, fmt.Sprintf("web-%d", i), "app", 950)
		f.source.SetContainer(memhpagen.Namespace, fmt.Sprintf("web-%d", i), "proxy", 100)
	}
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if f.target.replicas != 3 {
		t.Errorf("replicas = %d, want 3 (app at 95 %% of its limit)", f.target.replicas)
	}
	if st := f.status(); st.Targets != "95%/80%" {
		t.Errorf("targets = %q, want 95%%/80%%", st.Targets)
	}
	if n := len(f.source.Queries()); n != 1 {
		t.Errorf("queries = %d, want 1", n)
	}
}
