package controller

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/memhpa/memhpa/scaler/internal/calc"
	"github.com/memhpa/memhpa/scaler/internal/gen"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

func transformed(t *testing.T, pods []*corev1.Pod) []*corev1.Pod {
	t.Helper()
	out := make([]*corev1.Pod, len(pods))
	for i, p := range pods {
		got, err := TransformPod(p)
		if err != nil {
			t.Fatalf("transform %s: %v", p.Name, err)
		}
		out[i] = got.(*corev1.Pod)
	}
	return out
}

func withRequest(name, limit, request string) gen.PodOption {
	return gen.Containers(memhpagen.Container(name, limit, request))
}

func realistic(n int) []*corev1.Pod {
	out := make([]*corev1.Pod, n)
	for i := range out {
		out[i] = gen.RealisticPod(i)
	}
	return out
}

// decided is when the decisions of the transform's tests are made.
var decided = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// TestTransformPodKeepsTheDecision feeds calc the full pods and the
// transformed ones and wants the same recommendation, to the last message:
// same limits, same counted, missing, pending and ignored pods. Counts pins
// what the row exercises, so that a row cannot pass by deciding nothing.
func TestTransformPodKeepsTheDecision(t *testing.T) {
	regularInit := memhpagen.Container("migrate", "4Gi", "")
	for _, tc := range []struct {
		name   string
		pods   []*corev1.Pod
		usage  map[string]int64
		counts calc.PodCount
	}{
		{
			name:   "limits on every container",
			pods:   []*corev1.Pod{gen.Pod("a", gen.Containers(memhpagen.Container("app", "1000", "500"), memhpagen.Container("log", "500", "100"))), gen.Pod("b")},
			usage:  map[string]int64{"a": 1400, "b": 900},
			counts: calc.PodCount{Selected: 2, Counted: 2},
		},
		{
			name: "sidecar init container counts, a regular one does not",
			pods: []*corev1.Pod{
				gen.Pod("a", gen.InitContainers(regularInit, memhpagen.Sidecar("proxy", "1000"))),
				gen.Pod("b", gen.InitContainers(memhpagen.Sidecar("proxy", "1000"), regularInit)),
			},
			usage:  map[string]int64{"a": 1900, "b": 1000},
			counts: calc.PodCount{Selected: 2, Counted: 2},
		},
		{
			name:   "sidecar without a limit makes the pod uncountable",
			pods:   []*corev1.Pod{gen.Pod("a", gen.InitContainers(memhpagen.Sidecar("proxy", ""))), gen.Pod("b")},
			usage:  map[string]int64{"a": 900, "b": 900},
			counts: calc.PodCount{Selected: 2, Counted: 1},
		},
		{
			name:   "request stands in for a missing limit",
			pods:   []*corev1.Pod{gen.Pod("a", withRequest("app", "", "800")), gen.Pod("b")},
			usage:  map[string]int64{"a": 700, "b": 900},
			counts: calc.PodCount{Selected: 2, Counted: 2, RequestAsLimit: []string{"a/app"}},
		},
		{
			name:   "request stands in for a zero limit",
			pods:   []*corev1.Pod{gen.Pod("a", withRequest("app", "0", "800")), gen.Pod("b")},
			usage:  map[string]int64{"a": 700, "b": 900},
			counts: calc.PodCount{Selected: 2, Counted: 2, RequestAsLimit: []string{"a/app"}},
		},
		{
			name:   "no limit and no request",
			pods:   []*corev1.Pod{gen.Pod("a", withRequest("app", "", "")), gen.Pod("b")},
			usage:  map[string]int64{"a": 700, "b": 900},
			counts: calc.PodCount{Selected: 2, Counted: 1},
		},
		{
			name:   "pod-level limit wins over the containers'",
			pods:   []*corev1.Pod{gen.Pod("a", gen.PodLimit("3000"), withRequest("app", "", "")), gen.Pod("b")},
			usage:  map[string]int64{"a": 2000, "b": 900},
			counts: calc.PodCount{Selected: 2, Counted: 2},
		},
		{
			name: "deleted, failed and succeeded pods are ignored",
			pods: []*corev1.Pod{
				gen.Pod("a"), gen.Pod("b", gen.Deleting()),
				gen.Pod("c", gen.WithPhase(corev1.PodFailed)), gen.Pod("d", gen.WithPhase(corev1.PodSucceeded)),
			},
			usage:  map[string]int64{"a": 950, "b": 1000, "c": 1000, "d": 1000},
			counts: calc.PodCount{Selected: 4, Counted: 1, Ignored: 3},
		},
		{
			name:   "pending and missing pods",
			pods:   []*corev1.Pod{gen.Pod("a"), gen.Pod("b", gen.WithPhase(corev1.PodPending)), gen.Pod("c")},
			usage:  map[string]int64{"a": 1000},
			counts: calc.PodCount{Selected: 3, Counted: 1, Missing: 1, Pending: 1},
		},
		{
			name: "an OOM kill in the window, beside a status limit and a restart for another reason",
			pods: []*corev1.Pod{
				gen.Pod("a", gen.OOMKilled("app", decided.Add(-time.Minute), 2), func(p *corev1.Pod) {
					p.Status.ContainerStatuses[0].Resources = &corev1.ResourceRequirements{Limits: memList("800")}
				}),
				gen.Pod("b", gen.OOMKilled("app", decided.Add(-time.Minute), 1), func(p *corev1.Pod) {
					p.Status.ContainerStatuses[0].LastTerminationState.Terminated.Reason = "Error"
				}),
				gen.Pod("c"),
			},
			// Held at 3: (800 + 100 + 100) / 2800 = 35 % → 2.
			usage:  map[string]int64{"a": 100, "b": 100, "c": 100},
			counts: calc.PodCount{Selected: 3, Counted: 3},
		},
		{
			name: "a sidecar's OOM kill without a sample",
			pods: []*corev1.Pod{
				gen.Pod("a", gen.InitContainers(memhpagen.Sidecar("proxy", "1000")), gen.OOMKilled("proxy", decided.Add(-2*time.Minute), 5)),
				gen.Pod("b", gen.InitContainers(memhpagen.Sidecar("proxy", "1000"))),
			},
			usage:  map[string]int64{"b": 1900},
			counts: calc.PodCount{Selected: 2, Counted: 2},
		},
		{
			name:   "realistic pods",
			pods:   realistic(3),
			usage:  map[string]int64{gen.RealisticPod(0).Name: 900 << 20, gen.RealisticPod(1).Name: 700 << 20},
			counts: calc.PodCount{Selected: 3, Counted: 2, Missing: 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktesting.NewFakePassiveClock(decided)
			in := calc.Input{Spec: memhpa("web").Spec, CurrentReplicas: int32(len(tc.pods)), Usage: tc.usage, Config: calc.DefaultConfig()}
			in.Pods = tc.pods
			full := calc.Decide(in, clk)
			in.Pods = transformed(t, tc.pods)
			slim := calc.Decide(in, clk)
			if diff := cmp.Diff(full, slim); diff != "" {
				t.Errorf("decision on transformed pods differs (-full +transformed):\n%s", diff)
			}
			if diff := cmp.Diff(tc.counts, slim.Pods); diff != "" {
				t.Errorf("pod counts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTransformPodNeverMutatesItsInput(t *testing.T) {
	for _, p := range append(realistic(2),
		gen.Pod("a", gen.PodLimit("1Gi"), gen.InitContainers(memhpagen.Sidecar("proxy", "128Mi"))),
		gen.Pod("b", withRequest("app", "0", "1e3"), gen.Deleting()),
		gen.Pod("c", withRequest("app", "123456789123456789123456789", "")),
	) {
		before := p.DeepCopy()
		if _, err := TransformPod(p); err != nil {
			t.Fatal(err)
		}
		// reflect.DeepEqual, not cmp: it also sees a Quantity's cached string.
		if !reflect.DeepEqual(before, p) {
			t.Errorf("TransformPod changed its input %s:\n%s", p.Name, cmp.Diff(before, p))
		}
	}
}

func TestTransformPodDropsWhatNoDecisionReads(t *testing.T) {
	p := gen.RealisticPod(7)
	deleted := metav1.Now()
	p.DeletionTimestamp = &deleted
	p.Spec.InitContainers = []corev1.Container{memhpagen.Sidecar("proxy", "128Mi")}
	finished := metav1.NewTime(decided.Add(-time.Minute))
	gen.OOMKilled("app", finished.Time, 3)(p)
	// A restart for another reason is not kept.
	p.Status.ContainerStatuses[1].RestartCount = 1
	p.Status.ContainerStatuses[1].LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1, FinishedAt: finished}}

	got, err := TransformPod(p)
	if err != nil {
		t.Fatal(err)
	}
	always := corev1.ContainerRestartPolicyAlways
	mem := func(q string) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(q)}}
	}
	// The CPU request stays (calc's CPU rules), the CPU limit goes.
	memCPU := func(q, cpu string) corev1.ResourceRequirements {
		r := mem(q)
		r.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
		return r
	}
	want := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion, Labels: p.Labels,
			CreationTimestamp: p.CreationTimestamp, DeletionTimestamp: &deleted,
		},
		Spec: corev1.PodSpec{
			Containers:     []corev1.Container{{Name: "app", Resources: memCPU("512Mi", "250m")}, {Name: "sidecar", Resources: memCPU("512Mi", "250m")}},
			InitContainers: []corev1.Container{{Name: "proxy", RestartPolicy: &always, Resources: mem("128Mi")}},
		},
		// Of the four conditions only Ready, and only what the CPU rules read.
		Status: corev1.PodStatus{Phase: corev1.PodRunning, StartTime: p.Status.StartTime,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: *p.Status.StartTime}},
			ContainerStatuses: []corev1.ContainerStatus{{
				Name: "app", RestartCount: 3,
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: calc.OOMKilledReason, FinishedAt: finished}},
			}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("transformed pod (-want +got):\n%s", diff)
	}
}

func TestTransformPodKeepsRequestsOnlyWithoutALimit(t *testing.T) {
	for _, tc := range []struct {
		name, limit, request string
		want                 corev1.ResourceRequirements
	}{
		{"limit and request", "1Gi", "512Mi", corev1.ResourceRequirements{Limits: memList("1Gi")}},
		{"request only", "", "512Mi", corev1.ResourceRequirements{Requests: memList("512Mi")}},
		{"zero limit", "0", "512Mi", corev1.ResourceRequirements{Limits: memList("0"), Requests: memList("512Mi")}},
		{"neither", "", "", corev1.ResourceRequirements{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := memhpagen.Container("app", tc.limit, tc.request)
			if c.Resources.Limits == nil {
				c.Resources.Limits = corev1.ResourceList{}
			}
			c.Resources.Limits[corev1.ResourceCPU] = resource.MustParse("1")
			got, err := TransformPod(gen.Pod("a", gen.Containers(c)))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got.(*corev1.Pod).Spec.Containers[0].Resources); diff != "" {
				t.Errorf("resources (-want +got):\n%s", diff)
			}
		})
	}
}

func memList(q string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(q)}
}

func TestTransformPodSharesEqualLimits(t *testing.T) {
	slim := transformed(t, []*corev1.Pod{
		gen.Pod("a", withRequest("app", "512Mi", "")),
		gen.Pod("b", withRequest("app", "512Mi", "")),
		gen.Pod("c", withRequest("app", "0.5Gi", "")),
		gen.Pod("d", withRequest("app", "1Gi", "")),
	})
	list := func(i int) uintptr { return reflect.ValueOf(slim[i].Spec.Containers[0].Resources.Limits).Pointer() }
	if list(0) != list(1) || list(0) != list(2) {
		t.Errorf("512Mi, 512Mi and 0.5Gi got different lists: %x %x %x", list(0), list(1), list(2))
	}
	if list(0) == list(3) {
		t.Errorf("512Mi and 1Gi share a list")
	}
}

func TestTransformPodSharesEqualLabelSets(t *testing.T) {
	in := []*corev1.Pod{
		gen.Pod("a", gen.WithLabels(map[string]string{"app": "web", "pod-template-hash": "abc"})),
		gen.Pod("b", gen.WithLabels(map[string]string{"pod-template-hash": "abc", "app": "web"})),
		gen.Pod("c", gen.WithLabels(map[string]string{"app": "web", "pod-template-hash": "def"})),
		gen.Pod("d", gen.WithLabels(map[string]string{"app": "web3:pod-template-hash3:abc"})),
	}
	slim := transformed(t, in)
	set := func(i int) uintptr { return reflect.ValueOf(slim[i].Labels).Pointer() }
	if set(0) != set(1) {
		t.Errorf("equal label sets are not shared")
	}
	if set(0) == set(2) || set(0) == set(3) || set(2) == set(3) {
		t.Errorf("different label sets are shared")
	}
	for i, p := range in {
		if diff := cmp.Diff(p.Labels, slim[i].Labels); diff != "" {
			t.Errorf("labels of %s (-in +cached):\n%s", p.Name, diff)
		}
	}
	// The cache holds a copy: a later change to the decoded object does not reach it.
	in[0].Labels["app"] = "changed"
	if slim[1].Labels["app"] != "web" {
		t.Errorf("the cached label set is the input's map")
	}
}

func TestTransformPodSharesEqualContainerLists(t *testing.T) {
	slim := transformed(t, []*corev1.Pod{
		gen.Pod("a", gen.Containers(memhpagen.Container("app", "1Gi", "512Mi"), memhpagen.Container("log", "", "64Mi"))),
		gen.Pod("b", gen.Containers(memhpagen.Container("app", "1Gi", "256Mi"), memhpagen.Container("log", "", "64Mi"))),
		gen.Pod("c", gen.Containers(memhpagen.Container("app", "1Gi", ""), memhpagen.Container("log", "", "32Mi"))),
		gen.Pod("d", gen.Containers(memhpagen.Container("app", "1Gi", ""), memhpagen.Container("log", "64Mi", ""))),
		gen.Pod("e", gen.Containers(memhpagen.Container("app", "1Gi", ""), memhpagen.Sidecar("log", "64Mi"))),
		gen.Pod("f", gen.Containers(memhpagen.Container("app", "1Gi", "")), gen.InitContainers(memhpagen.Container("log", "", "64Mi"))),
	})
	list := func(i int) uintptr { return reflect.ValueOf(slim[i].Spec.Containers).Pointer() }
	// a and b differ only in a request that the limit makes unread.
	if list(0) != list(1) {
		t.Errorf("equal slimmed container lists are not shared")
	}
	for i := 1; i < len(slim); i++ {
		for j := i + 1; j < len(slim); j++ {
			if list(i) == list(j) {
				t.Errorf("pods %s and %s share a container list: %+v, %+v", slim[i].Name, slim[j].Name, slim[i].Spec.Containers, slim[j].Spec.Containers)
			}
		}
	}
}

func TestSharedTableStartsAgainWhenFull(t *testing.T) {
	table := newSharedTable[map[string]string](2)
	build := func(v string) func() map[string]string {
		return func() map[string]string { return map[string]string{"app": v} }
	}
	first := table.get("a", build("a"))
	if again := table.get("a", build("other")); again["app"] != "a" {
		t.Fatalf("a key got a new value: %v", again)
	}
	table.get("b", build("b"))
	table.get("c", build("c"))
	if len(table.values) != 1 {
		t.Fatalf("table holds %d values after overflowing, want 1", len(table.values))
	}
	if again := table.get("a", build("a")); reflect.ValueOf(again).Pointer() == reflect.ValueOf(first).Pointer() {
		t.Errorf("a value from before the table started again")
	}
	if sharedLabels(nil) != nil {
		t.Errorf("nil labels became a map")
	}
}

func TestTransformPodPassesOtherObjectsThrough(t *testing.T) {
	tomb := cache.DeletedFinalStateUnknown{Key: "default/web-0", Obj: gen.Pod("web-0")}
	got, err := TransformPod(tomb)
	if err != nil || !cmp.Equal(got, tomb) {
		t.Errorf("a tombstone was changed: %v, %v", got, err)
	}
	if got, _ := TransformPod(strings.Repeat("x", 3)); got != "xxx" {
		t.Errorf("a string was changed: %v", got)
	}
}

// TestTransformPodSharesStatusListsUntilAKill: pods whose statuses report the
// same limits share one list; a restart for another reason adds nothing; an
// OOM kill gives its pod a list of its own (restart count and finish time),
// shared only with a pod that reports the very same kill.
func TestTransformPodSharesStatusListsUntilAKill(t *testing.T) {
	limited := func(p *corev1.Pod) {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: "app", Resources: &corev1.ResourceRequirements{Limits: memList("512Mi")}})
	}
	restarted := func(p *corev1.Pod) {
		if len(p.Status.ContainerStatuses) == 0 {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app"}}
		}
		p.Status.ContainerStatuses[0].RestartCount = 4
		p.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 2}
	}
	killedAt := decided.Add(-time.Minute)
	slim := transformed(t, []*corev1.Pod{
		gen.Pod("a", limited),
		gen.Pod("b", limited, restarted),
		gen.Pod("c", limited, gen.OOMKilled("app", killedAt, 1)),
		gen.Pod("d", limited, gen.OOMKilled("app", killedAt, 1)),
		gen.Pod("e", limited, gen.OOMKilled("app", killedAt, 2)),
		gen.Pod("f", limited, gen.OOMKilled("app", killedAt.Add(time.Second), 1)),
		gen.Pod("g", restarted),
	})
	list := func(i int) uintptr { return reflect.ValueOf(slim[i].Status.ContainerStatuses).Pointer() }
	if list(0) != list(1) || list(2) != list(3) {
		t.Errorf("equal status lists are not shared: %x %x, %x %x", list(0), list(1), list(2), list(3))
	}
	for _, pair := range [][2]int{{0, 2}, {2, 4}, {2, 5}, {4, 5}} {
		if list(pair[0]) == list(pair[1]) {
			t.Errorf("pods %s and %s share a status list: %+v, %+v", slim[pair[0]].Name, slim[pair[1]].Name,
				slim[pair[0]].Status.ContainerStatuses, slim[pair[1]].Status.ContainerStatuses)
		}
	}
	if st := slim[6].Status.ContainerStatuses; st != nil {
		t.Errorf("a restart for another reason kept a status: %+v", st)
	}
}

// TestTransformPodKeepsTheCPUDecision is TestTransformPodKeepsTheDecision for
// a MemHpa with a CPU target: the CPU requests (containers' and the pod's),
// the Ready condition and the start time survive the transform.
func TestTransformPodKeepsTheCPUDecision(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 2, 0, 0, time.UTC)
	podRequest := func(p *corev1.Pod) {
		p.Spec.Resources = &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}
	}
	notReady := func(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }
	pods := append(realistic(3), gen.RealisticPod(3), gen.RealisticPod(4))
	podRequest(pods[3])
	notReady(pods[4])
	cpu := map[string]int64{}
	for i, p := range pods {
		cpu[p.Name] = int64(400 + 100*i)
	}
	in := calc.Input{Spec: memhpa("web", memhpagen.WithCPUTarget(60)).Spec, CurrentReplicas: 5, Config: calc.DefaultConfig(),
		Usage: map[string]int64{pods[0].Name: 300 << 20, pods[1].Name: 300 << 20},
		CPU:   calc.CPUSamples{MilliCores: cpu, At: now, Window: time.Minute}}
	clk := clocktesting.NewFakePassiveClock(now)
	in.Pods = pods
	full := calc.Decide(in, clk)
	in.Pods = transformed(t, pods)
	slim := calc.Decide(in, clk)
	if diff := cmp.Diff(full, slim); diff != "" {
		t.Errorf("decision on transformed pods differs (-full +transformed):\n%s", diff)
	}
	// Started two minutes ago: within the initialization period, web-4 is
	// not Ready, the others have been Ready for a whole window.
	if c := slim.CPU; c == nil || c.Counted != 4 || c.Unready != 1 || c.Utilization == nil {
		t.Fatalf("cpu = %+v, want 4 pods counted, 1 unready", c)
	}
	// (400+500+600)/(3×500) = 100 %, web-3's 700 of its pod-level 1000 → 2200/2500 = 88 %.
	if got := *slim.CPU.Utilization; got != 88 {
		t.Errorf("cpu utilization = %d, want 88", got)
	}
}
