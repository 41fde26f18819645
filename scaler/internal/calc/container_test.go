package calc

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/memhpa/memhpa/scaler/internal/gen"
	v1alpha1 "github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

// The builders of this file are local while the shared ones move (issue 13).

func memory(q string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(q)}
}

// statusLimit makes the pod's status report limit as the memory limit of
// container (a container status, or an init container status for a sidecar),
// as the kubelet does once a resize is actuated.
func statusLimit(container, limit string) gen.PodOption {
	return func(p *corev1.Pod) {
		st := corev1.ContainerStatus{Name: container, Resources: &corev1.ResourceRequirements{Limits: memory(limit)}}
		for _, c := range p.Spec.InitContainers {
			if c.Name == container {
				p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, st)
				return
			}
		}
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, st)
	}
}

// podStatusLimit makes the pod's status report a pod-level memory limit.
func podStatusLimit(limit string) gen.PodOption {
	return func(p *corev1.Pod) { p.Status.Resources = &corev1.ResourceRequirements{Limits: memory(limit)} }
}

// appAndProxy is a pod whose main container "app" has a 1000-byte limit
// beside a sidecar container "proxy" with a 10000-byte one.
func appAndProxy(name string, opts ...gen.PodOption) *corev1.Pod {
	opts = append([]gen.PodOption{gen.Containers(memhpagen.Container("app", "1000", ""), memhpagen.Container("proxy", "10000", ""))}, opts...)
	return gen.Pod(name, opts...)
}

// perContainer is the usage of two pods web-0 and web-1 with the same
// figures per container.
func perContainer(figures map[string]int64, pods ...string) (map[string]int64, map[string]map[string]int64) {
	usage, containers := map[string]int64{}, map[string]map[string]int64{}
	for _, p := range pods {
		containers[p] = map[string]int64{}
		for c, v := range figures {
			usage[p] += v
			containers[p][c] = v
		}
	}
	return usage, containers
}

func TestDecideContainerAndAppliedLimits(t *testing.T) {
	// app at 95 % of its limit, the proxy nearly idle.
	busyApp, busyAppByContainer := perContainer(map[string]int64{"app": 950, "proxy": 100}, "web-0", "web-1")
	tests := []struct {
		name       string
		spec       v1alpha1.MemHpaSpec
		pods       []*corev1.Pod
		usage      map[string]int64
		containers map[string]map[string]int64
		dups       map[string][]string
		// Two replicas now, and a history that holds no scale-down back.
		wantDesired, wantMetric, wantUtil int32
		wantReason                        string // of ScalingActive
		wantCounts                        *PodCount
	}{
		// 1. A container target.
		{name: "without a container, a sidecar's large limit hides the app at 95 %", spec: spec(),
			pods: []*corev1.Pod{appAndProxy("web-0"), appAndProxy("web-1")}, usage: busyApp, containers: busyAppByContainer,
			// (950+100)×2 / 11000×2 = 9 %
			wantDesired: 1, wantMetric: 1, wantUtil: 9, wantReason: ReasonValidMetricFound},
		{name: "with container app, only its usage and limit count", spec: spec(memhpagen.WithContainer("app")),
			pods: []*corev1.Pod{appAndProxy("web-0"), appAndProxy("web-1")}, usage: busyApp, containers: busyAppByContainer,
			wantDesired: 3, wantMetric: 3, wantUtil: 95, wantReason: ReasonValidMetricFound,
			wantCounts: &PodCount{Selected: 2, Counted: 2}},
		{name: "a pod without the container is missing, as the HPA's (0 % on a scale-up)", spec: spec(memhpagen.WithContainer("app")),
			pods:  []*corev1.Pod{appAndProxy("web-0"), appAndProxy("web-1"), gen.Pod("web-2", gen.Containers(memhpagen.Container("other", "1000", "")))},
			usage: map[string]int64{"web-0": 1050, "web-1": 1050, "web-2": 900}, containers: map[string]map[string]int64{
				"web-0": {"app": 950, "proxy": 100}, "web-1": {"app": 950, "proxy": 100}, "web-2": {"other": 900}},
			// Its limit is 0 like the HPA's request of an absent container:
			// 1900 / 2000 = 95 % over 3 pods.
			wantDesired: 4, wantMetric: 4, wantUtil: 95, wantReason: ReasonValidMetricFound,
			wantCounts: &PodCount{Selected: 3, Counted: 2, Missing: 1}},
		{name: "a pod whose container has no figure is missing, even with a pod figure", spec: spec(memhpagen.WithContainer("app")),
			pods:  []*corev1.Pod{appAndProxy("web-0"), appAndProxy("web-1")},
			usage: map[string]int64{"web-0": 1050, "web-1": 100}, containers: map[string]map[string]int64{
				"web-0": {"app": 950, "proxy": 100}, "web-1": {"proxy": 100}},
			// Scale-up: the missing pod at 0 % gives 950/2000 = 47 %, the
			// direction turns, so the size is kept.
			wantDesired: 2, wantMetric: 2, wantUtil: 95, wantReason: ReasonValidMetricFound,
			wantCounts: &PodCount{Selected: 2, Counted: 1, Missing: 1}},
		{name: "no pod has the container: nothing to measure", spec: spec(memhpagen.WithContainer("db")),
			pods: []*corev1.Pod{appAndProxy("web-0"), appAndProxy("web-1")}, usage: busyApp, containers: busyAppByContainer,
			wantDesired: 2, wantUtil: -1, wantReason: ReasonFailedGetMemoryMetric,
			wantCounts: &PodCount{Selected: 2, Missing: 2}},
		{name: "another container without any limit does not stop a container target", spec: spec(memhpagen.WithContainer("app")),
			pods: []*corev1.Pod{
				gen.Pod("web-0", gen.Containers(memhpagen.Container("app", "1000", ""), memhpagen.Container("log", "", ""))),
				gen.Pod("web-1", gen.Containers(memhpagen.Container("app", "1000", ""), memhpagen.Container("log", "", ""))),
			},
			usage: busyApp, containers: map[string]map[string]int64{"web-0": {"app": 950, "log": 100}, "web-1": {"app": 950, "log": 100}},
			wantDesired: 3, wantMetric: 3, wantUtil: 95, wantReason: ReasonValidMetricFound},
		{name: "the target container without a limit counts with its request, listed alone", spec: spec(memhpagen.WithContainer("app")),
			pods: []*corev1.Pod{
				gen.Pod("web-0", gen.Containers(memhpagen.Container("app", "", "1000"), memhpagen.Container("log", "", "50"))),
				gen.Pod("web-1", gen.Containers(memhpagen.Container("app", "", "1000"), memhpagen.Container("log", "", "50"))),
			},
			usage: busyApp, containers: map[string]map[string]int64{"web-0": {"app": 950, "log": 100}, "web-1": {"app": 950, "log": 100}},
			wantDesired: 3, wantMetric: 3, wantUtil: 95, wantReason: ReasonValidMetricFound,
			wantCounts: &PodCount{Selected: 2, Counted: 2, RequestAsLimit: []string{"web-0/app", "web-1/app"}}},
		{name: "the target container with neither limit nor request stops scaling", spec: spec(memhpagen.WithContainer("app")),
			pods: []*corev1.Pod{
				gen.Pod("web-0", gen.Containers(memhpagen.Container("app", "", ""), memhpagen.Container("log", "1000", ""))),
				gen.Pod("web-1", gen.Containers(memhpagen.Container("app", "", ""), memhpagen.Container("log", "1000", ""))),
			},
			usage: busyApp, containers: busyAppByContainer,
			wantDesired: 2, wantUtil: -1, wantReason: ReasonMissingMemoryLimit},
		{name: "a pod-level limit below the container's bounds it", spec: spec(memhpagen.WithContainer("app")),
			pods:  []*corev1.Pod{appAndProxy("web-0", gen.PodLimit("900")), appAndProxy("web-1", gen.PodLimit("900"))},
			usage: busyApp, containers: busyAppByContainer,
			wantDesired: 3, wantMetric: 3, wantUtil: 105, wantReason: ReasonValidMetricFound},
		{name: "a target container without a limit under a pod-level limit counts with the pod's", spec: spec(memhpagen.WithContainer("app")),
			pods: []*corev1.Pod{
				gen.Pod("web-0", gen.PodLimit("1000"), gen.Containers(memhpagen.Container("app", "", "500"), memhpagen.Container("log", "", ""))),
				gen.Pod("web-1", gen.PodLimit("1000"), gen.Containers(memhpagen.Container("app", "", "500"), memhpagen.Container("log", "", ""))),
			},
			usage: busyApp, containers: busyAppByContainer,
			wantDesired: 3, wantMetric: 3, wantUtil: 95, wantReason: ReasonValidMetricFound,
			wantCounts: &PodCount{Selected: 2, Counted: 2}},
		{name: "a native sidecar can be the target", spec: spec(memhpagen.WithContainer("proxy")),
			pods: []*corev1.Pod{
				gen.Pod("web-0", gen.InitContainers(memhpagen.Sidecar("proxy", "1000"))),
				gen.Pod("web-1", gen.InitContainers(memhpagen.Sidecar("proxy", "1000"))),
			},
			// The whole pods would be at 1000/2000 = 50 %.
			usage: map[string]int64{"web-0": 1000, "web-1": 1000}, containers: map[string]map[string]int64{
				"web-0": {"app": 50, "proxy": 950}, "web-1": {"app": 50, "proxy": 950}},
			wantDesired: 3, wantMetric: 3, wantUtil: 95, wantReason: ReasonValidMetricFound},
		{name: "an ordinary init container is not a target: the pods are missing", spec: spec(memhpagen.WithContainer("setup")),
			pods: []*corev1.Pod{
				gen.Pod("web-0", gen.InitContainers(memhpagen.Container("setup", "1000", ""))),
				gen.Pod("web-1", gen.InitContainers(memhpagen.Container("setup", "1000", ""))),
			},
			usage: busyApp, containers: map[string]map[string]int64{"web-0": {"app": 950, "setup": 1}, "web-1": {"app": 950, "setup": 1}},
			wantDesired: 2, wantUtil: -1, wantReason: ReasonFailedGetMemoryMetric,
			wantCounts: &PodCount{Selected: 2, Missing: 2}},
		{name: "duplicate series of other containers are not the target's", spec: spec(memhpagen.WithContainer("app")),
			pods: []*corev1.Pod{appAndProxy("web-0"), appAndProxy("web-1")}, usage: busyApp, containers: busyAppByContainer,
			dups:        map[string][]string{"web-0": {"app", "proxy"}, "web-1": {"proxy"}},
			wantDesired: 3, wantMetric: 3, wantUtil: 95, wantReason: ReasonValidMetricFound,
			wantCounts: &PodCount{Selected: 2, Counted: 2, DuplicateSeries: []string{"web-0/app"}}},

		// 4. The limit that really applies.
		{name: "a status limit below the spec's applies (a decrease actuated)", spec: spec(),
			pods: web(2, statusLimit("app", "500")), usage: use(450, 450),
			wantDesired: 3, wantMetric: 3, wantUtil: 90, wantReason: ReasonValidMetricFound},
		{name: "control: the same usage without a status limit", spec: spec(),
			pods: web(2), usage: use(450, 450),
			wantDesired: 2, wantMetric: 2, wantUtil: 45, wantReason: ReasonValidMetricFound},
		{name: "a status limit above the spec's does not (an increase not yet admitted)", spec: spec(),
			pods: web(2, statusLimit("app", "5000")), usage: use(950, 950),
			wantDesired: 3, wantMetric: 3, wantUtil: 95, wantReason: ReasonValidMetricFound},
		{name: "a status without a memory limit leaves the spec's", spec: spec(),
			pods: web(2, func(p *corev1.Pod) {
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Resources: &corev1.ResourceRequirements{}}}
			}),
			usage:       use(950, 950),
			wantDesired: 3, wantMetric: 3, wantUtil: 95, wantReason: ReasonValidMetricFound},
		{name: "a status limit of another container is not this one's", spec: spec(),
			pods: web(2, statusLimit("gone", "100")), usage: use(450, 450),
			wantDesired: 2, wantMetric: 2, wantUtil: 45, wantReason: ReasonValidMetricFound},
		{name: "a sidecar's status limit applies to it", spec: spec(memhpagen.WithContainer("proxy")),
			pods: []*corev1.Pod{
				gen.Pod("web-0", gen.InitContainers(memhpagen.Sidecar("proxy", "2000")), statusLimit("proxy", "1000")),
				gen.Pod("web-1", gen.InitContainers(memhpagen.Sidecar("proxy", "2000")), statusLimit("proxy", "1000")),
			},
			usage: map[string]int64{"web-0": 1900, "web-1": 1900}, containers: map[string]map[string]int64{
				"web-0": {"app": 950, "proxy": 950}, "web-1": {"app": 950, "proxy": 950}},
			wantDesired: 3, wantMetric: 3, wantUtil: 95, wantReason: ReasonValidMetricFound},
		{name: "a pod-level status limit below the spec's applies", spec: spec(),
			pods: web(2, gen.PodLimit("2000"), podStatusLimit("1000")), usage: use(950, 950),
			wantDesired: 3, wantMetric: 3, wantUtil: 95, wantReason: ReasonValidMetricFound},
		{name: "control: the pod-level spec limit alone", spec: spec(),
			pods: web(2, gen.PodLimit("2000")), usage: use(950, 950),
			wantDesired: 2, wantMetric: 2, wantUtil: 47, wantReason: ReasonValidMetricFound},
		{name: "a pod-level status limit above the spec's does not apply", spec: spec(),
			pods: web(2, gen.PodLimit("1000"), podStatusLimit("4000")), usage: use(950, 950),
			wantDesired: 3, wantMetric: 3, wantUtil: 95, wantReason: ReasonValidMetricFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Input{Spec: tt.spec, CurrentReplicas: 2, Pods: tt.pods, Usage: tt.usage, ContainerUsage: tt.containers,
				Duplicated: tt.dups, History: old(2), Config: DefaultConfig()}
			got := Decide(in, clocktesting.NewFakePassiveClock(now))
			util := int32(-1)
			if got.Utilization != nil {
				util = *got.Utilization
			}
			if got.DesiredReplicas != tt.wantDesired || got.MetricReplicas != tt.wantMetric || util != tt.wantUtil {
				t.Errorf("desired, metric, utilization = %d, %d, %d %%; want %d, %d, %d %% (conditions %+v)",
					got.DesiredReplicas, got.MetricReplicas, util, tt.wantDesired, tt.wantMetric, tt.wantUtil, got.Conditions)
			}
			var reason string
			for _, c := range got.Conditions {
				if c.Type == ConditionScalingActive {
					reason = c.Reason
				}
			}
			if reason != tt.wantReason {
				t.Errorf("ScalingActive reason = %q, want %q", reason, tt.wantReason)
			}
			if tt.wantCounts != nil {
				if diff := cmp.Diff(*tt.wantCounts, got.Pods); diff != "" {
					t.Errorf("pod counts (-want +got):\n%s", diff)
				}
			}
		})
	}
}
