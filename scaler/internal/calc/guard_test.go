package calc

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/memhpa/memhpa/scaler/internal/gen"
	v1alpha1 "github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

// apps is the usage of pods web-0 … whose one container "app" uses
// usage[i] bytes: the pod figures and the container figures agree.
func apps(usage ...int64) (map[string]int64, map[string]map[string]int64) {
	pods, containers := use(usage...), map[string]map[string]int64{}
	for name, v := range pods {
		containers[name] = map[string]int64{"app": v}
	}
	return pods, containers
}

// decided is a decision that counted counted pods, with memory's own count
// raw and the step that last changed it.
func decided(raw int32, by v1alpha1.LimitedBy, counted int32, hottest *v1alpha1.HottestContainer) *v1alpha1.MemHpaDecision {
	return &v1alpha1.MemHpaDecision{RawReplicas: ptr.To(raw), LimitedBy: by, PodsCounted: counted, Hottest: hottest}
}

func hottest(pod, container string, percent int32) *v1alpha1.HottestContainer {
	return &v1alpha1.HottestContainer{Pod: pod, Container: container, UtilizationPercentage: percent}
}

type decisionCase struct {
	name       string
	spec       v1alpha1.MemHpaSpec
	current    int32
	pods       []*corev1.Pod
	usage      map[string]int64
	containers map[string]map[string]int64
	history    History
	err        error // from Prometheus
	// wanted
	desired  int32
	decision *v1alpha1.MemHpaDecision
	limited  string   // reason of ScalingLimited; "" is not checked
	warnings []string // event reasons
}

func (tc decisionCase) run(t *testing.T) Recommendation {
	t.Helper()
	in := Input{Spec: tc.spec, CurrentReplicas: tc.current, Pods: tc.pods, Usage: tc.usage, ContainerUsage: tc.containers,
		UsageErr: tc.err, History: tc.history, Config: DefaultConfig()}
	got := Decide(in, clocktesting.NewFakePassiveClock(now))
	if got.DesiredReplicas != tc.desired {
		t.Errorf("desired replicas = %d, want %d (metric %d, stabilized %d, conditions %+v)",
			got.DesiredReplicas, tc.desired, got.MetricReplicas, got.StabilizedReplicas, got.Conditions)
	}
	if diff := cmp.Diff(tc.decision, got.Decision); diff != "" {
		t.Errorf("decision (-want +got):\n%s", diff)
	}
	if tc.limited != "" {
		for _, c := range got.Conditions {
			if c.Type == ConditionScalingLimited && c.Reason != tc.limited {
				t.Errorf("ScalingLimited reason = %q, want %q (%s)", c.Reason, tc.limited, c.Message)
			}
		}
	}
	var warnings []string
	for _, w := range got.Warnings {
		warnings = append(warnings, w.Reason)
	}
	if !slices.Equal(warnings, tc.warnings) {
		t.Errorf("warnings = %v, want %v (%+v)", warnings, tc.warnings, got.Warnings)
	}
	return got
}

func TestDecideHotContainerGuard(t *testing.T) {
	// One pod at 97 % of its limit, two at 10 %: the average (39 %) asks
	// for 2 of 3 replicas.
	hotUsage, hotContainers := apps(970, 100, 100)
	guard := memhpagen.WithMaxContainerUtilization(90)
	rows := []decisionCase{
		{name: "guard unset: the average scales down past the hot pod", spec: spec(), current: 3, pods: web(3),
			usage: hotUsage, containers: hotContainers, history: old(3),
			desired: 2, decision: decided(2, v1alpha1.LimitedByNone, 3, hottest("web-0", "app", 97)), limited: ReasonDesiredWithinRange},
		{name: "guard 90: one more than current instead", spec: spec(guard), current: 3, pods: web(3),
			usage: hotUsage, containers: hotContainers, history: old(3),
			desired: 4, decision: decided(2, v1alpha1.LimitedByHotContainerGuard, 3, hottest("web-0", "app", 97)),
			limited: ReasonHotContainer, warnings: []string{ReasonHotContainer}},
		{name: "exactly at the guard is not above it", spec: spec(guard), current: 3, pods: web(3),
			usage: use(900, 100, 100), containers: map[string]map[string]int64{"web-0": {"app": 900}, "web-1": {"app": 100}, "web-2": {"app": 100}},
			history: old(3), desired: 2, decision: decided(2, v1alpha1.LimitedByNone, 3, hottest("web-0", "app", 90))},
		{name: "91 % is above it", spec: spec(guard), current: 3, pods: web(3),
			usage: use(910, 100, 100), containers: map[string]map[string]int64{"web-0": {"app": 910}, "web-1": {"app": 100}, "web-2": {"app": 100}},
			history: old(3), desired: 4, decision: decided(2, v1alpha1.LimitedByHotContainerGuard, 3, hottest("web-0", "app", 91)),
			warnings: []string{ReasonHotContainer}},
		{name: "bound by maxReplicas: never fewer than current, none more", spec: spec(guard, memhpagen.WithMax(3)), current: 3, pods: web(3),
			usage: hotUsage, containers: hotContainers, history: old(3),
			desired: 3, decision: decided(2, v1alpha1.LimitedByMaxReplicas, 3, hottest("web-0", "app", 97)),
			limited: ReasonTooManyReplicas, warnings: []string{ReasonHotContainer}},
		{name: "bound by a behavior policy: +1 per 60 s already used", current: 3, pods: web(3),
			spec:  spec(guard, memhpagen.WithBehavior(memhpagen.Rules(memhpagen.Policies(memhpagen.Policy(autoscalingv2.PodsScalingPolicy, 1, 60))), nil)),
			usage: hotUsage, containers: hotContainers,
			history: History{Recommendations: old(3).Recommendations, ScaleUps: []Change{{Replicas: 1, At: now.Add(-40 * time.Second)}}},
			desired: 3, decision: decided(2, v1alpha1.LimitedByPolicy, 3, hottest("web-0", "app", 97)),
			limited: ReasonScaleUpLimit, warnings: []string{ReasonHotContainer}},
		{name: "scale-up Disabled: the guard keeps the size", current: 3, pods: web(3),
			spec:  spec(guard, memhpagen.WithBehavior(memhpagen.Rules(memhpagen.Select(autoscalingv2.DisabledPolicySelect)), nil)),
			usage: hotUsage, containers: hotContainers, history: old(3),
			desired: 3, decision: decided(2, v1alpha1.LimitedByPolicy, 3, hottest("web-0", "app", 97)),
			limited: ReasonScaleUpLimit, warnings: []string{ReasonHotContainer}},
		{name: "after the up window: a hot container does not wait for it", current: 3, pods: web(3),
			spec:  spec(guard, memhpagen.WithBehavior(memhpagen.Rules(memhpagen.Window(60)), nil)),
			usage: use(970, 970, 970), containers: map[string]map[string]int64{"web-0": {"app": 970}, "web-1": {"app": 970}, "web-2": {"app": 970}},
			history: History{Recommendations: []Sample{recAt(3, 30*time.Second)}},
			// 97 % → ceil(1.2125 × 3) = 4, held at 3 by the window, lifted to 4.
			desired: 4, decision: decided(4, v1alpha1.LimitedByHotContainerGuard, 3, hottest("web-0", "app", 97)),
			warnings: []string{ReasonHotContainer}},
		{name: "control: the up window alone holds 3", current: 3, pods: web(3),
			spec:  spec(memhpagen.WithBehavior(memhpagen.Rules(memhpagen.Window(60)), nil)),
			usage: use(970, 970, 970), containers: map[string]map[string]int64{"web-0": {"app": 970}, "web-1": {"app": 970}, "web-2": {"app": 970}},
			history: History{Recommendations: []Sample{recAt(3, 30*time.Second)}},
			desired: 3, decision: decided(4, v1alpha1.LimitedByStabilization, 3, hottest("web-0", "app", 97))},
		{name: "once per sync period: a +1 10 s ago holds the size", spec: spec(guard), current: 4, pods: web(4),
			usage: use(970, 100, 100, 100), containers: map[string]map[string]int64{"web-0": {"app": 970}, "web-1": {"app": 100}, "web-2": {"app": 100}, "web-3": {"app": 100}},
			history: History{Recommendations: old(3).Recommendations, ScaleUps: []Change{{Replicas: 1, At: now.Add(-10 * time.Second)}}},
			// 31 % → ceil(0.3875 × 4) = 2; kept at 4, not 5.
			desired: 4, decision: decided(2, v1alpha1.LimitedByHotContainerGuard, 4, hottest("web-0", "app", 97)),
			warnings: []string{ReasonHotContainer}},
		{name: "the next sync period adds one more", spec: spec(guard), current: 4, pods: web(4),
			usage: use(970, 100, 100, 100), containers: map[string]map[string]int64{"web-0": {"app": 970}, "web-1": {"app": 100}, "web-2": {"app": 100}, "web-3": {"app": 100}},
			history: History{Recommendations: old(3).Recommendations, ScaleUps: []Change{{Replicas: 1, At: now.Add(-40 * time.Second)}}},
			desired: 5, decision: decided(2, v1alpha1.LimitedByHotContainerGuard, 4, hottest("web-0", "app", 97)),
			warnings: []string{ReasonHotContainer}},
		{name: "memory asking for more than the guard: the guard changes nothing", current: 2, pods: web(2),
			spec:  spec(guard, memhpagen.WithTarget(50)),
			usage: use(990, 990), containers: map[string]map[string]int64{"web-0": {"app": 990}, "web-1": {"app": 990}},
			// 99 % of 50 → ceil(1.98 × 2) = 4.
			desired: 4, decision: decided(4, v1alpha1.LimitedByNone, 2, hottest("web-0", "app", 99))},
		{name: "without spec.container every container is judged by its own limit", spec: spec(guard), current: 2,
			pods:  []*corev1.Pod{appAndProxy("web-0"), appAndProxy("web-1")},
			usage: map[string]int64{"web-0": 1070, "web-1": 200}, containers: map[string]map[string]int64{
				"web-0": {"app": 970, "proxy": 100}, "web-1": {"app": 100, "proxy": 100}},
			history: old(2),
			// The pods are at 5 % of 22000 bytes: memory asks for 1.
			desired: 3, decision: decided(1, v1alpha1.LimitedByHotContainerGuard, 2, hottest("web-0", "app", 97)),
			warnings: []string{ReasonHotContainer}},
		{name: "with spec.container only that container is judged", spec: spec(guard, memhpagen.WithContainer("proxy")), current: 2,
			pods:  []*corev1.Pod{appAndProxy("web-0"), appAndProxy("web-1")},
			usage: map[string]int64{"web-0": 1070, "web-1": 200}, containers: map[string]map[string]int64{
				"web-0": {"app": 970, "proxy": 100}, "web-1": {"app": 100, "proxy": 100}},
			history: old(2),
			// A tie at 1 % goes to the first pod by name.
			desired: 1, decision: decided(1, v1alpha1.LimitedByNone, 2, hottest("web-0", "proxy", 1))},
		{name: "a container whose limit is its request is not judged", spec: spec(guard), current: 2,
			pods:  web(2, gen.Containers(memhpagen.Container("app", "1000", ""), memhpagen.Container("log", "", "100"))),
			usage: use(199, 199), containers: map[string]map[string]int64{"web-0": {"app": 100, "log": 99}, "web-1": {"app": 100, "log": 99}},
			history: old(2),
			desired: 1, decision: decided(1, v1alpha1.LimitedByNone, 2, hottest("web-0", "app", 10)),
			warnings: []string{ReasonMemoryRequestAsLimit}},
		{name: "the status limit is the one judged", spec: spec(guard), current: 2,
			pods:  []*corev1.Pod{gen.Pod("web-0", statusLimit("app", "500")), gen.Pod("web-1")},
			usage: use(460, 100), containers: map[string]map[string]int64{"web-0": {"app": 460}, "web-1": {"app": 100}},
			history: old(2),
			// 460 of 500 is 92 %, of the spec's 1000 only 46 %.
			desired: 3, decision: decided(1, v1alpha1.LimitedByHotContainerGuard, 2, hottest("web-0", "app", 92)),
			warnings: []string{ReasonHotContainer}},
		{name: "a pod-level limit bounds its containers", spec: spec(guard), current: 2,
			pods:  web(2, gen.PodLimit("500"), gen.Containers(memhpagen.Container("app", "1000", ""), memhpagen.Container("log", "", ""))),
			usage: use(470, 100), containers: map[string]map[string]int64{"web-0": {"app": 460, "log": 10}, "web-1": {"app": 90, "log": 10}},
			history: old(2),
			// The pods: 570 of 1000 = 57 %, ceil(0.7125 × 2) = 2; app of
			// web-0 at 460 of 500 = 92 %.
			desired: 3, decision: decided(2, v1alpha1.LimitedByHotContainerGuard, 2, hottest("web-0", "app", 92)),
			warnings: []string{ReasonHotContainer}},
		{name: "a pod without a sample has no container judged", spec: spec(guard), current: 2, pods: web(2),
			usage: use(100, -1), containers: map[string]map[string]int64{"web-0": {"app": 100}, "web-1": {"app": 990}},
			history: old(2),
			// web-1's pod figure was rejected (a sidecar's NaN, say): it is
			// missing, and so is its container for the guard.
			desired: 2, decision: &v1alpha1.MemHpaDecision{RawReplicas: ptr.To[int32](1), LimitedBy: v1alpha1.LimitedByMissingPods,
				PodsCounted: 1, PodsMissing: 1, Hottest: hottest("web-0", "app", 10)}},
	}
	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) { tc.run(t) })
	}
}

// The guard's count is stored as the period's recommendation, so that the
// scale-down window holds it after the container cools (no flapping).
func TestGuardCountEntersTheWindow(t *testing.T) {
	u, c := apps(970, 100, 100)
	rec := decisionCase{spec: spec(memhpagen.WithMaxContainerUtilization(90)), current: 3, pods: web(3), usage: u, containers: c,
		history: old(3), desired: 4, decision: decided(2, v1alpha1.LimitedByHotContainerGuard, 3, hottest("web-0", "app", 97)),
		warnings: []string{ReasonHotContainer}}.run(t)
	if diff := cmp.Diff([]Sample{{Replicas: 4, At: now}}, rec.History.Recommendations); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	for _, w := range rec.Warnings {
		if want := `container "app" of pod "web-0" is at 97% of its memory limit, above maxContainerUtilizationPercentage (90%): at least 4 replicas, one more than at the start of the sync period (3)`; w.Message != want {
			t.Errorf("warning %s = %q, want %q", w.Reason, w.Message, want)
		}
	}

	// Cooled down a minute later at 4 replicas: the window holds 4.
	u, c = apps(100, 100, 100, 100)
	later := decisionCase{spec: spec(memhpagen.WithMaxContainerUtilization(90)), current: 4, pods: web(4), usage: u, containers: c,
		history: History{Recommendations: []Sample{recAt(4, time.Minute)}},
		desired: 4, decision: decided(1, v1alpha1.LimitedByStabilization, 4, hottest("web-0", "app", 10))}
	later.run(t)
}

// Every value of status.lastDecision.limitedBy that this branch produces
// (RecentOOMKill comes with the OOM-kill rule), with the pod counts.
func TestDecideLastDecision(t *testing.T) {
	rows := []decisionCase{
		{name: "None", spec: spec(), current: 3, pods: web(3), usage: use(1000, 1000, 1000),
			desired: 4, decision: decided(4, v1alpha1.LimitedByNone, 3, nil)},
		{name: "Tolerance: 85 % asks for 4, within 10 % of the target", spec: spec(), current: 3, pods: web(3), usage: use(850, 850, 850),
			desired: 3, decision: decided(4, v1alpha1.LimitedByTolerance, 3, nil)},
		{name: "MissingPods: at 100 % of their limit they turn a scale-down into none", spec: spec(), current: 4, pods: web(4),
			usage: use(600, 600, -1, -1), history: old(4),
			desired: 4, decision: &v1alpha1.MemHpaDecision{RawReplicas: ptr.To[int32](2), LimitedBy: v1alpha1.LimitedByMissingPods, PodsCounted: 2, PodsMissing: 2}},
		{name: "MissingPods: they soften a scale-down", spec: spec(), current: 4, pods: web(4),
			usage: use(200, 200, -1, -1), history: old(4),
			desired: 3, decision: &v1alpha1.MemHpaDecision{RawReplicas: ptr.To[int32](1), LimitedBy: v1alpha1.LimitedByMissingPods, PodsCounted: 2, PodsMissing: 2}},
		{name: "Stabilization: the first decision seeds the window with the current size", spec: spec(), current: 4, pods: web(4),
			usage:   use(400, 400, 400, 400),
			desired: 4, decision: decided(2, v1alpha1.LimitedByStabilization, 4, nil)},
		{name: "ScaleUpLimit: max(2×, 4) without behavior", spec: spec(memhpagen.WithMax(100)), current: 2, pods: web(2), usage: use(5000, 5000),
			desired: 4, decision: decided(13, v1alpha1.LimitedByScaleUpLimit, 2, nil)},
		{name: "Policy: a scale-down policy", current: 5, pods: web(5), usage: use(10, 10, 10, 10, 10),
			spec:    spec(memhpagen.WithBehavior(nil, memhpagen.Rules(memhpagen.Window(0), memhpagen.Policies(memhpagen.Policy(autoscalingv2.PercentScalingPolicy, 50, 60))))),
			desired: 2, decision: decided(1, v1alpha1.LimitedByPolicy, 5, nil)},
		{name: "Policy: the default scale-up policies", spec: spec(memhpagen.WithMax(100), memhpagen.WithBehavior(nil, nil)), current: 2,
			pods: web(2), usage: use(5000, 5000),
			// max(+4, +100 %) from 2.
			desired: 6, decision: decided(13, v1alpha1.LimitedByPolicy, 2, nil)},
		{name: "MinReplicas", spec: spec(memhpagen.WithMin(2)), current: 3, pods: web(3), usage: use(100, 100, 100), history: old(3),
			desired: 2, decision: decided(1, v1alpha1.LimitedByMinReplicas, 3, nil)},
		{name: "MaxReplicas", spec: spec(memhpagen.WithMax(3)), current: 2, pods: web(2), usage: use(5000, 5000),
			desired: 3, decision: decided(13, v1alpha1.LimitedByMaxReplicas, 2, nil)},
		{name: "pods left out, by reason", spec: spec(), current: 3,
			pods: append(web(3),
				gen.Pod("web-3", gen.WithPhase(corev1.PodPending)),
				gen.Pod("web-4", gen.Deleting()),
				gen.Pod("web-5", gen.WithPhase(corev1.PodFailed)), gen.Pod("web-6", gen.WithPhase(corev1.PodSucceeded)),
				gen.Pod("web-7", gen.Deleting(), gen.WithPhase(corev1.PodFailed))),
			usage: use(600, 600, -1), history: old(3),
			// 60 % of 2 pods asks for 2 replicas; with web-2 (missing) at
			// 100 %, 73 % is within the tolerance and the size is kept.
			desired: 3, decision: &v1alpha1.MemHpaDecision{RawReplicas: ptr.To[int32](2), LimitedBy: v1alpha1.LimitedByMissingPods,
				PodsCounted: 2, PodsMissing: 1, PodsIgnored: v1alpha1.IgnoredPods{Pending: 1, Deleting: 2, Finished: 2}}},
		{name: "a pod without any memory limit: counted, no replica count", spec: spec(), current: 2,
			pods:  append(web(1), gen.Pod("web-1", gen.Containers(memhpagen.Container("app", "1000", ""), memhpagen.Container("log", "", "")))),
			usage: use(500, 500), history: old(2),
			desired: 2, decision: &v1alpha1.MemHpaDecision{PodsCounted: 1, PodsIgnored: v1alpha1.IgnoredPods{NoMemoryLimit: 1}},
			warnings: []string{ReasonMissingMemoryLimit, EventFailedComputeMetricsReplicas}},
		{name: "Prometheus failed: no pod examined, no decision", spec: spec(), current: 2, pods: web(2), err: errors.New("503"), desired: 2,
			warnings: []string{ReasonFailedGetMemoryMetric, EventFailedComputeMetricsReplicas}},
		{name: "outside the bounds: clamped without a decision", spec: spec(memhpagen.WithMax(3)), current: 5, pods: web(5), desired: 3},
	}
	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) { tc.run(t) })
	}
}
