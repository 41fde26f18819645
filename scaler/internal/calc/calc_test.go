package calc

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/memhpa/memhpa/scaler/internal/gen"
	v1alpha1 "github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// web returns n running pods web-0 … web-(n-1), each with a 1000-byte limit.
func web(n int, opts ...gen.PodOption) []*corev1.Pod {
	out := make([]*corev1.Pod, n)
	for i := range out {
		out[i] = gen.Pod(podName(i), opts...)
	}
	return out
}

func podName(i int) string { return "web-" + string(rune('0'+i)) }

// use maps web-i to usage[i] bytes; a negative value means "no sample".
func use(usage ...int64) map[string]int64 {
	m := map[string]int64{}
	for i, v := range usage {
		if v >= 0 {
			m[podName(i)] = v
		}
	}
	return m
}

// old is a history whose only recommendation has left every window, so that
// stabilisation does not hold a scale-down back.
func old(replicas int32) History {
	return History{Recommendations: []Sample{{Replicas: replicas, At: now.Add(-time.Hour)}}}
}

func recAt(replicas int32, ago time.Duration) Sample {
	return Sample{Replicas: replicas, At: now.Add(-ago)}
}

// spec is the spec of a MemHpa on Deployment "web" with minReplicas 1 and
// targetUtilizationPercentage 80 set (why: the rows' arithmetic is written
// against them, not against whatever the defaults are), then opts.
func spec(opts ...memhpagen.Option) v1alpha1.MemHpaSpec {
	return memhpagen.MemHpa("web", append([]memhpagen.Option{memhpagen.WithMin(1), memhpagen.WithTarget(80)}, opts...)...).Spec
}

type want struct {
	desired       int32
	metric        int32
	util          int32 // -1: not measured
	rescaleReason string
	conditions    map[string]string // type → reason
	warnings      []string          // event reasons
	counts        *PodCount
}

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name    string
		spec    v1alpha1.MemHpaSpec
		current int32
		pods    []*corev1.Pod
		usage   map[string]int64
		dups    map[string][]string
		err     error
		history History
		config  *Config
		want    want
	}{
		// Guards before metrics.
		{
			name: "target at zero replicas disables scaling", spec: spec(), current: 0,
			pods: web(0), err: errors.New("prometheus down"),
			want: want{desired: 0, util: -1, conditions: map[string]string{ConditionScalingActive: ReasonScalingDisabled}},
		},
		{
			name: "above max is clamped without metrics", spec: spec(memhpagen.WithMax(10)), current: 12,
			pods: web(3), err: errors.New("prometheus down"),
			// No ScalingLimited on this branch, as in the HPA (TestHPAParity).
			want: want{desired: 10, util: -1, rescaleReason: RescaleAboveMax},
		},
		{
			name: "below min is clamped without metrics", spec: spec(memhpagen.WithMin(3)), current: 1,
			pods: web(1), err: errors.New("prometheus down"),
			want: want{desired: 3, util: -1, rescaleReason: RescaleBelowMin},
		},
		// Failures to measure.
		{
			name: "prometheus failure means no scaling", spec: spec(), current: 3,
			pods: web(3), err: errors.New("query prometheus: 503"),
			want: want{desired: 3, util: -1, conditions: map[string]string{ConditionScalingActive: ReasonFailedGetMemoryMetric},
				warnings: []string{ReasonFailedGetMemoryMetric, EventFailedComputeMetricsReplicas}},
		},
		{
			name: "no pods selected", spec: spec(), current: 3, pods: nil, usage: use(),
			want: want{desired: 3, util: -1, conditions: map[string]string{ConditionScalingActive: ReasonFailedGetMemoryMetric},
				warnings: []string{ReasonFailedGetMemoryMetric, EventFailedComputeMetricsReplicas}},
		},
		{
			name: "no pod has a sample", spec: spec(), current: 3, pods: web(3), usage: use(),
			want: want{desired: 3, util: -1, conditions: map[string]string{ConditionScalingActive: ReasonFailedGetMemoryMetric},
				warnings: []string{ReasonFailedGetMemoryMetric, EventFailedComputeMetricsReplicas},
				counts:   &PodCount{Selected: 3, Missing: 3}},
		},
		{
			name: "only pending pods", spec: spec(), current: 2, pods: web(2, gen.WithPhase(corev1.PodPending)), usage: use(),
			want: want{desired: 2, util: -1, conditions: map[string]string{ConditionScalingActive: ReasonFailedGetMemoryMetric},
				warnings: []string{ReasonFailedGetMemoryMetric, EventFailedComputeMetricsReplicas},
				counts:   &PodCount{Selected: 2, Pending: 2}},
		},
		{
			name: "a container with neither limit nor request stops scaling", spec: spec(), current: 2,
			pods:  append(web(1), gen.Pod("web-1", gen.Containers(memhpagen.Container("app", "1000", ""), memhpagen.Container("log", "", "")))),
			usage: use(2000, 2000),
			want: want{desired: 2, util: -1, conditions: map[string]string{ConditionScalingActive: ReasonMissingMemoryLimit},
				warnings: []string{ReasonMissingMemoryLimit, EventFailedComputeMetricsReplicas}},
		},
		// The replica count from memory.
		{
			name: "within tolerance keeps the size", spec: spec(), current: 3, pods: web(3), usage: use(850, 850, 850),
			want: want{desired: 3, metric: 3, util: 85, conditions: map[string]string{
				ConditionScalingActive: ReasonValidMetricFound, ConditionAbleToScale: ReasonReadyForNewScale, ConditionScalingLimited: ReasonDesiredWithinRange}},
		},
		{
			name: "ratio exactly 1+tolerance is within", spec: spec(), current: 3, pods: web(3), usage: use(880, 880, 880),
			want: want{desired: 3, metric: 3, util: 88},
		},
		{
			name: "utilization is an integer percent: 88.9 % truncates to 88 and stays within", spec: spec(), current: 3,
			pods: web(3), usage: use(889, 889, 889),
			want: want{desired: 3, metric: 3, util: 88},
		},
		{
			name: "89 % is past the tolerance: ceil(1.1125 × 3) = 4", spec: spec(), current: 3, pods: web(3), usage: use(890, 890, 890),
			want: want{desired: 4, metric: 4, util: 89, rescaleReason: RescaleAboveTarget},
		},
		{
			name: "scale up at 100 %: ceil(1.25 × 3) = 4", spec: spec(), current: 3, pods: web(3), usage: use(1000, 1000, 1000),
			want: want{desired: 4, metric: 4, util: 100, rescaleReason: RescaleAboveTarget, conditions: map[string]string{
				ConditionScalingActive: ReasonValidMetricFound, ConditionAbleToScale: ReasonReadyForNewScale, ConditionScalingLimited: ReasonDesiredWithinRange}},
		},
		{
			name: "multiplied by the pods with samples, not by spec.replicas", spec: spec(), current: 5, pods: web(3),
			usage: use(1000, 1000, 1000), history: old(5),
			want: want{desired: 4, metric: 4, util: 100, rescaleReason: RescaleBelowTarget},
		},
		{
			name: "per-direction tolerance from behavior: scaleUp 0.05 acts at 86 %", current: 3, pods: web(3), usage: use(860, 860, 860),
			spec: spec(memhpagen.WithBehavior(memhpagen.Rules(memhpagen.Tolerance("0.05")), nil)),
			want: want{desired: 4, metric: 4, util: 86},
		},
		{
			name: "per-direction tolerance from behavior: scaleDown 0.3 holds at 60 %", current: 3, pods: web(3), usage: use(600, 600, 600),
			spec: spec(memhpagen.WithBehavior(nil, memhpagen.Rules(memhpagen.Window(0), memhpagen.Tolerance("300m")))), history: old(3),
			want: want{desired: 3, metric: 3, util: 60},
		},
		{
			name: "tolerance from the flag", spec: spec(), current: 3, pods: web(3), usage: use(860, 860, 860),
			config: &Config{Tolerance: 0.05, DownscaleStabilization: 5 * time.Minute},
			want:   want{desired: 4, metric: 4, util: 86},
		},
		// Missing, pending and ignored pods.
		{
			name: "scale-down counts missing pods at 100 % of their limit", spec: spec(), current: 4, pods: web(4),
			usage: use(200, 200, -1, -1), history: old(4),
			// 20 % → ratio 0.25; filled: (200+200+1000+1000)/4000 = 60 % → ceil(0.75 × 4) = 3.
			want: want{desired: 3, metric: 3, util: 20, rescaleReason: RescaleBelowTarget, counts: &PodCount{Selected: 4, Counted: 2, Missing: 2}},
		},
		{
			name: "scale-down that missing pods would turn into a scale-up keeps the size", spec: spec(), current: 4, pods: web(4),
			usage: use(600, 600, -1, -1), history: old(4),
			// 60 % → 0.75; filled: 80 % → 1.0, within tolerance.
			want: want{desired: 4, metric: 4, util: 60},
		},
		{
			name: "scale-up counts missing pods at 0 %: flip to below target keeps the size", spec: spec(), current: 4, pods: web(4),
			usage: use(1000, 1000, -1, -1),
			// 100 % → 1.25; filled: 50 % → 0.625, the direction flipped.
			want: want{desired: 4, metric: 4, util: 100},
		},
		{
			name: "scale-up with a missing pod: ceil(1.5 × 4) = 6", spec: spec(memhpagen.WithTarget(50)), current: 4, pods: web(4),
			usage: use(1000, 1000, 1000, -1),
			// 100 % of 50 → 2; filled: 75 % → 1.5 over 4 pods.
			want: want{desired: 6, metric: 6, util: 100, rescaleReason: RescaleAboveTarget},
		},
		{
			name: "scale-up counts pending pods at 0 %: ceil(1.32 × 3) = 4", spec: spec(memhpagen.WithTarget(50)), current: 3,
			pods: append(web(2), gen.Pod("web-2", gen.WithPhase(corev1.PodPending))), usage: use(1000, 1000),
			// 100 % of 50 → 2; with the pending pod at 0: 66 % → 1.32 over 3 pods.
			want: want{desired: 4, metric: 4, util: 100, counts: &PodCount{Selected: 3, Counted: 2, Pending: 1}},
		},
		{
			name: "scale-down leaves pending pods out", spec: spec(), current: 3,
			pods: append(web(2), gen.Pod("web-2", gen.WithPhase(corev1.PodPending))), usage: use(200, 200), history: old(3),
			// 20 % → 0.25 × 2 pods with samples → 1.
			want: want{desired: 1, metric: 1, util: 20},
		},
		{
			name: "deleting, failed and succeeded pods are ignored", spec: spec(), current: 2,
			pods: append(web(2),
				gen.Pod("web-2", gen.Deleting()),
				gen.Pod("web-3", gen.WithPhase(corev1.PodFailed)),
				gen.Pod("web-4", gen.WithPhase(corev1.PodSucceeded))),
			usage: use(1000, 1000, 0, 0, 0),
			want:  want{desired: 3, metric: 3, util: 100, counts: &PodCount{Selected: 5, Counted: 2, Ignored: 3}},
		},
		{
			name: "a running pod that is not ready still counts (memory is held either way)", spec: spec(), current: 2,
			pods: append(web(1), gen.Pod("web-1", func(p *corev1.Pod) {
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
			})),
			usage: use(1000, 1000),
			want:  want{desired: 3, metric: 3, util: 100, counts: &PodCount{Selected: 2, Counted: 2}},
		},
		// Which limit.
		{
			name: "restartable init containers add their limit, other init containers do not", spec: spec(), current: 2,
			pods:  web(2, gen.Containers(memhpagen.Container("app", "600", "")), gen.InitContainers(memhpagen.Sidecar("proxy", "400"), memhpagen.Container("migrate", "", ""))),
			usage: use(800, 800),
			want:  want{desired: 2, metric: 2, util: 80},
		},
		{
			name: "a pod-level limit wins over the containers'", spec: spec(), current: 2,
			pods:  web(2, gen.PodLimit("2000"), gen.Containers(memhpagen.Container("app", "", ""))),
			usage: use(1600, 1600),
			want:  want{desired: 2, metric: 2, util: 80},
		},
		{
			name: "a container without a limit counts with its request, and says so", spec: spec(), current: 2,
			pods:  web(2, gen.Containers(memhpagen.Container("app", "600", ""), memhpagen.Container("log", "", "400"))),
			usage: use(1000, 1000),
			want: want{desired: 3, metric: 3, util: 100, warnings: []string{ReasonMemoryRequestAsLimit},
				counts: &PodCount{Selected: 2, Counted: 2, RequestAsLimit: []string{"web-0/log", "web-1/log"}}},
		},
		// A container that two scrape jobs report: promquery counted it
		// once; Decide says so, for the selected pods only.
		{
			name: "containers in several series are said, and the decision goes on", spec: spec(), current: 2,
			pods: web(2), usage: use(800, 800), dups: map[string][]string{"web-0": {"app", "log"}, "web-1": {"app"}, "other-0": {"app"}},
			want: want{desired: 2, metric: 2, util: 80, warnings: []string{ReasonDuplicateMemorySeries},
				counts: &PodCount{Selected: 2, Counted: 2, DuplicateSeries: []string{"web-0/app", "web-0/log", "web-1/app"}}},
		},
		{
			name: "duplicates of pods this MemHpa does not select are not its own", spec: spec(), current: 2,
			pods: web(2), usage: use(800, 800), dups: map[string][]string{"other-0": {"app"}},
			want: want{desired: 2, metric: 2, util: 80, counts: &PodCount{Selected: 2, Counted: 2}},
		},
		{
			name: "duplicates are said when nothing could be measured too", spec: spec(), current: 1,
			pods: web(1), usage: use(-1), dups: map[string][]string{"web-0": {"app"}},
			want: want{desired: 1, util: -1, warnings: []string{ReasonFailedGetMemoryMetric, EventFailedComputeMetricsReplicas, ReasonDuplicateMemorySeries},
				conditions: map[string]string{ConditionScalingActive: ReasonFailedGetMemoryMetric}},
		},
		// Normalisation without behavior.
		{
			name: "first sight: the current size seeds the window, so no instant scale-down", spec: spec(), current: 4, pods: web(4),
			usage: use(400, 400, 400, 400),
			want: want{desired: 4, metric: 2, util: 40, conditions: map[string]string{
				ConditionAbleToScale: ReasonScaleDownStabilized, ConditionScalingLimited: ReasonDesiredWithinRange}},
		},
		{
			name: "the highest recommendation of the window wins", spec: spec(), current: 4, pods: web(4),
			usage:   use(400, 400, 400, 400),
			history: History{Recommendations: []Sample{recAt(5, 10*time.Minute), recAt(3, 4*time.Minute), recAt(2, time.Minute)}},
			want:    want{desired: 3, metric: 2, util: 40, rescaleReason: RescaleBelowTarget, conditions: map[string]string{ConditionAbleToScale: ReasonScaleDownStabilized}},
		},
		{
			name: "the window comes from the flag", spec: spec(), current: 4, pods: web(4), usage: use(400, 400, 400, 400),
			history: History{Recommendations: []Sample{recAt(4, 2*time.Minute)}},
			config:  &Config{Tolerance: 0.1, DownscaleStabilization: time.Minute},
			want:    want{desired: 2, metric: 2, util: 40, conditions: map[string]string{ConditionAbleToScale: ReasonReadyForNewScale}},
		},
		{
			name: "scale-up is capped at max(2 × current, 4): 4 from 2", spec: spec(memhpagen.WithMax(100)), current: 2, pods: web(2),
			usage: use(5000, 5000),
			want: want{desired: 4, metric: 13, util: 500, rescaleReason: RescaleAboveTarget,
				conditions: map[string]string{ConditionScalingLimited: ReasonScaleUpLimit}},
		},
		{
			name: "scale-up is capped at max(2 × current, 4): 10 from 5", spec: spec(memhpagen.WithMax(100)), current: 5, pods: web(5),
			usage: use(5000, 5000, 5000, 5000, 5000),
			want:  want{desired: 10, metric: 32, util: 500, conditions: map[string]string{ConditionScalingLimited: ReasonScaleUpLimit}},
		},
		{
			name: "maxReplicas below the cap", spec: spec(memhpagen.WithMax(3)), current: 2, pods: web(2), usage: use(5000, 5000),
			want: want{desired: 3, metric: 13, util: 500, conditions: map[string]string{ConditionScalingLimited: ReasonTooManyReplicas}},
		},
		{
			name: "minReplicas", spec: spec(memhpagen.WithMin(2)), current: 3, pods: web(3), usage: use(100, 100, 100), history: old(3),
			want: want{desired: 2, metric: 1, util: 10, conditions: map[string]string{ConditionScalingLimited: ReasonTooFewReplicas}},
		},
		// Normalisation with behavior: the autoscaling/v2 semantics.
		{
			name: "default scale-up policies: max(+4, +100 %) per 15 s", spec: spec(memhpagen.WithMax(100), memhpagen.WithBehavior(nil, nil)), current: 10,
			pods: web(10), usage: use(3000, 3000, 3000, 3000, 3000, 3000, 3000, 3000, 3000, 3000),
			want: want{desired: 20, metric: 38, util: 300, conditions: map[string]string{ConditionScalingLimited: ReasonScaleUpLimit}},
		},
		{
			name: "selectPolicy Min picks the smallest change", current: 10,
			spec: spec(memhpagen.WithMax(100), memhpagen.WithBehavior(memhpagen.Rules(memhpagen.Select(autoscalingv2.MinChangePolicySelect)), nil)),
			pods: web(10), usage: use(3000, 3000, 3000, 3000, 3000, 3000, 3000, 3000, 3000, 3000),
			want: want{desired: 14, metric: 38, util: 300, conditions: map[string]string{ConditionScalingLimited: ReasonScaleUpLimit}},
		},
		{
			name: "selectPolicy Disabled forbids scaling up", current: 3,
			spec: spec(memhpagen.WithBehavior(memhpagen.Rules(memhpagen.Select(autoscalingv2.DisabledPolicySelect)), nil)),
			pods: web(3), usage: use(1000, 1000, 1000),
			want: want{desired: 3, metric: 4, util: 100, conditions: map[string]string{ConditionScalingLimited: ReasonScaleUpLimit}},
		},
		{
			name: "selectPolicy Disabled forbids scaling down", current: 4,
			spec: spec(memhpagen.WithBehavior(nil, memhpagen.Rules(memhpagen.Window(0), memhpagen.Select(autoscalingv2.DisabledPolicySelect)))),
			pods: web(4), usage: use(100, 100, 100, 100),
			want: want{desired: 4, metric: 1, util: 10, conditions: map[string]string{ConditionScalingLimited: ReasonScaleDownLimit}},
		},
		{
			name: "Pods policy counts the rescales of its period: +4 per 60 s already used", current: 8,
			spec: spec(memhpagen.WithMax(100), memhpagen.WithBehavior(memhpagen.Rules(memhpagen.Policies(memhpagen.Policy(autoscalingv2.PodsScalingPolicy, 4, 60))), nil)),
			pods: web(8), usage: use(2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000),
			history: History{ScaleUps: []Change{{Replicas: 4, At: now.Add(-30 * time.Second)}}},
			want:    want{desired: 8, metric: 20, util: 200, conditions: map[string]string{ConditionScalingLimited: ReasonScaleUpLimit}},
		},
		{
			name: "Pods policy: a rescale older than the period no longer counts", current: 8,
			spec: spec(memhpagen.WithMax(100), memhpagen.WithBehavior(memhpagen.Rules(memhpagen.Policies(memhpagen.Policy(autoscalingv2.PodsScalingPolicy, 4, 60))), nil)),
			pods: web(8), usage: use(2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000),
			history: History{ScaleUps: []Change{{Replicas: 4, At: now.Add(-90 * time.Second)}}},
			want:    want{desired: 12, metric: 20, util: 200},
		},
		{
			name: "Percent scale-up rounds up: 150 % of 3 → 5", current: 3,
			spec: spec(memhpagen.WithMax(100), memhpagen.WithBehavior(memhpagen.Rules(memhpagen.Policies(memhpagen.Policy(autoscalingv2.PercentScalingPolicy, 50, 60))), nil)),
			pods: web(3), usage: use(5000, 5000, 5000),
			want: want{desired: 5, metric: 19, util: 500},
		},
		{
			name: "Percent scale-down truncates: 50 % of 5 → 2", current: 5,
			spec: spec(memhpagen.WithBehavior(nil, memhpagen.Rules(memhpagen.Window(0), memhpagen.Policies(memhpagen.Policy(autoscalingv2.PercentScalingPolicy, 50, 60))))),
			pods: web(5), usage: use(10, 10, 10, 10, 10),
			want: want{desired: 2, metric: 1, util: 1, conditions: map[string]string{ConditionScalingLimited: ReasonScaleDownLimit}},
		},
		{
			name: "Percent scale-down measured from the size at the start of the period", current: 10,
			spec: spec(memhpagen.WithBehavior(nil, memhpagen.Rules(memhpagen.Window(0), memhpagen.Policies(memhpagen.Policy(autoscalingv2.PercentScalingPolicy, 50, 60))))),
			pods: web(10), usage: use(10, 10, 10, 10, 10, 10, 10, 10, 10, 10),
			history: History{ScaleDowns: []Change{{Replicas: 10, At: now.Add(-30 * time.Second)}}},
			// Started the period at 20: 50 % of 20 = 10 = current, no further scale-down.
			want: want{desired: 10, metric: 1, util: 1, conditions: map[string]string{ConditionScalingLimited: ReasonScaleDownLimit}},
		},
		{
			name: "Pods scale-down with selectPolicy Min", current: 10,
			spec: spec(memhpagen.WithBehavior(nil, memhpagen.Rules(memhpagen.Window(0), memhpagen.Select(autoscalingv2.MinChangePolicySelect), memhpagen.Policies(memhpagen.Policy(autoscalingv2.PodsScalingPolicy, 3, 60), memhpagen.Policy(autoscalingv2.PercentScalingPolicy, 50, 60))))),
			pods: web(10), usage: use(10, 10, 10, 10, 10, 10, 10, 10, 10, 10),
			want: want{desired: 7, metric: 1, util: 1},
		},
		{
			name: "behavior without scaleDown window uses the flag's window", current: 4,
			spec: spec(memhpagen.WithBehavior(nil, nil)), pods: web(4), usage: use(400, 400, 400, 400),
			history: History{Recommendations: []Sample{recAt(4, 4*time.Minute)}},
			want:    want{desired: 4, metric: 2, util: 40, conditions: map[string]string{ConditionAbleToScale: ReasonScaleDownStabilized}},
		},
		{
			name: "scaleDown window of 60 s lets a 2-minute-old recommendation go", current: 4,
			spec: spec(memhpagen.WithBehavior(nil, memhpagen.Rules(memhpagen.Window(60)))), pods: web(4), usage: use(400, 400, 400, 400),
			history: History{Recommendations: []Sample{recAt(4, 2*time.Minute)}},
			want:    want{desired: 2, metric: 2, util: 40, conditions: map[string]string{ConditionAbleToScale: ReasonReadyForNewScale}},
		},
		{
			name: "scaleUp window applies the lowest recent recommendation", current: 3,
			spec: spec(memhpagen.WithBehavior(memhpagen.Rules(memhpagen.Window(60)), nil)), pods: web(3), usage: use(1200, 1200, 1200),
			history: History{Recommendations: []Sample{recAt(3, 30*time.Second)}},
			want:    want{desired: 3, metric: 5, util: 120, conditions: map[string]string{ConditionAbleToScale: ReasonScaleUpStabilized}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.config != nil {
				cfg = *tc.config
			}
			in := Input{Spec: tc.spec, CurrentReplicas: tc.current, Pods: tc.pods, Usage: tc.usage, Duplicated: tc.dups,
				UsageErr: tc.err, History: tc.history, Config: cfg}
			before := in.History.clone()
			got := Decide(in, clocktesting.NewFakePassiveClock(now))

			if got.DesiredReplicas != tc.want.desired {
				t.Errorf("desired replicas = %d, want %d (metric %d, conditions %+v, warnings %+v)", got.DesiredReplicas, tc.want.desired, got.MetricReplicas, got.Conditions, got.Warnings)
			}
			if got.Rescale != (tc.want.desired != tc.current) {
				t.Errorf("rescale = %t with desired %d and current %d", got.Rescale, got.DesiredReplicas, tc.current)
			}
			if got.MetricReplicas != tc.want.metric {
				t.Errorf("metric replicas = %d, want %d", got.MetricReplicas, tc.want.metric)
			}
			gotUtil := int32(-1)
			if got.Utilization != nil {
				gotUtil = *got.Utilization
			}
			if gotUtil != tc.want.util {
				t.Errorf("utilization = %d, want %d", gotUtil, tc.want.util)
			}
			if tc.want.rescaleReason != "" && got.RescaleReason != tc.want.rescaleReason {
				t.Errorf("rescale reason = %q, want %q", got.RescaleReason, tc.want.rescaleReason)
			}
			if got.Rescale && got.RescaleReason == "" {
				t.Errorf("rescale without a reason")
			}
			reasons := map[string]string{}
			for _, c := range got.Conditions {
				reasons[c.Type] = c.Reason
				if c.Message == "" {
					t.Errorf("condition %s/%s without a message", c.Type, c.Reason)
				}
			}
			for typ, reason := range tc.want.conditions {
				if reasons[typ] != reason {
					t.Errorf("condition %s reason = %q, want %q (all: %v)", typ, reasons[typ], reason, reasons)
				}
			}
			var warnings []string
			for _, w := range got.Warnings {
				warnings = append(warnings, w.Reason)
			}
			if !slices.Equal(warnings, tc.want.warnings) {
				t.Errorf("warnings = %v, want %v (%+v)", warnings, tc.want.warnings, got.Warnings)
			}
			if tc.want.counts != nil {
				if diff := cmp.Diff(*tc.want.counts, got.Pods); diff != "" {
					t.Errorf("pod counts (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff(before, in.History); diff != "" {
				t.Errorf("Decide changed its input history:\n%s", diff)
			}
		})
	}
}

func TestDecideRecordsHistory(t *testing.T) {
	in := Input{Spec: spec(), CurrentReplicas: 3, Pods: web(3), Usage: use(1000, 1000, 1000), Config: DefaultConfig()}
	got := Decide(in, clocktesting.NewFakePassiveClock(now))
	want := []Sample{{Replicas: 3, At: now}, {Replicas: 4, At: now}}
	if diff := cmp.Diff(want, got.History.Recommendations); diff != "" {
		t.Errorf("first decision: seed then recommendation (-want +got):\n%s", diff)
	}

	// An expired sample is replaced in place; the history does not grow.
	in.History = History{Recommendations: []Sample{recAt(7, time.Hour), recAt(5, time.Minute)}}
	got = Decide(in, clocktesting.NewFakePassiveClock(now))
	want = []Sample{{Replicas: 4, At: now}, recAt(5, time.Minute)}
	if diff := cmp.Diff(want, got.History.Recommendations); diff != "" {
		t.Errorf("expired sample (-want +got):\n%s", diff)
	}

	// A failure to measure records nothing but the seed.
	in.History, in.UsageErr = History{}, errors.New("down")
	got = Decide(in, clocktesting.NewFakePassiveClock(now))
	if diff := cmp.Diff([]Sample{{Replicas: 3, At: now}}, got.History.Recommendations); diff != "" {
		t.Errorf("failure (-want +got):\n%s", diff)
	}
}

// TestStabilisationOverTime runs the decision every 30 s as the controller
// does: the load drops at once, and the size follows only when the
// 300-second window has passed; an edit of the MemHpa in between (a fresh
// decision with the same history) changes nothing.
func TestStabilisationOverTime(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(now)
	h := History{}
	current := int32(4)
	var scaledAt time.Duration
	for step := time.Duration(0); step <= 8*time.Minute; step += 30 * time.Second {
		clk.SetTime(now.Add(step))
		usage := use(400, 400, 400, 400) // 40 %: memory asks for 2
		if step == 0 {
			usage = use(800, 800, 800, 800) // 80 %: steady at 4
		}
		for range 2 { // the periodic decision and one triggered by an edit
			rec := Decide(Input{Spec: spec(), CurrentReplicas: current, Pods: web(int(current)), Usage: usage, History: h, Config: DefaultConfig()}, clk)
			h = rec.History
			if rec.Rescale {
				h = RecordRescale(h, nil, DefaultConfig(), clk.Now(), current, rec.DesiredReplicas)
				current = rec.DesiredReplicas
				scaledAt = step
			}
		}
		if current != 4 && scaledAt < 5*time.Minute {
			t.Fatalf("scaled down to %d at %v, inside the 5-minute window", current, scaledAt)
		}
	}
	if current != 2 || scaledAt != 5*time.Minute+30*time.Second {
		t.Errorf("ended at %d replicas, scaled at %v; want 2 replicas at 5m30s", current, scaledAt)
	}
}

func TestRecordRescale(t *testing.T) {
	b := &v1alpha1.MemHpaBehavior{
		ScaleUp: memhpagen.Rules(memhpagen.Policies(memhpagen.Policy(autoscalingv2.PodsScalingPolicy, 4, 60), memhpagen.Policy(autoscalingv2.PercentScalingPolicy, 100, 120))),
	}
	h := History{ScaleUps: []Change{{Replicas: 1, At: now.Add(-3 * time.Minute)}, {Replicas: 2, At: now.Add(-time.Minute)}}}
	for _, tc := range []struct {
		name     string
		behavior *v1alpha1.MemHpaBehavior
		from, to int32
		want     History
	}{
		{
			name: "no behavior keeps scale-ups for one sync period (the scale-up cap's)", behavior: nil, from: 2, to: 4,
			want: History{ScaleUps: []Change{{Replicas: 2, At: now}}},
		},
		{name: "no behavior records no scale-down", behavior: nil, from: 4, to: 2, want: h},
		{name: "same size", behavior: b, from: 4, to: 4, want: h},
		{
			name: "scale-up drops events older than the longest period (120 s)", behavior: b, from: 4, to: 6,
			want: History{ScaleUps: []Change{{Replicas: 2, At: now.Add(-time.Minute)}, {Replicas: 2, At: now}}},
		},
		{
			name: "scale-down goes to its own list; both lists drop what no policy counts", behavior: b, from: 6, to: 5,
			want: History{ScaleUps: []Change{{Replicas: 2, At: now.Add(-time.Minute)}}, ScaleDowns: []Change{{Replicas: 1, At: now}}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := RecordRescale(h, tc.behavior, DefaultConfig(), now, tc.from, tc.to)
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b []Sample) bool { return len(a) == 0 && len(b) == 0 || cmp.Equal(a, b) }),
				cmp.Comparer(func(a, b []Change) bool { return len(a) == 0 && len(b) == 0 || slices.Equal(a, b) })); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if len(h.ScaleUps) != 2 {
		t.Errorf("RecordRescale changed its input: %+v", h)
	}
}

func TestConditionsCarryHPAStatuses(t *testing.T) {
	rec := Decide(Input{Spec: spec(), CurrentReplicas: 3, Pods: web(3), Usage: use(1000, 1000, 1000), Config: DefaultConfig()}, clocktesting.NewFakePassiveClock(now))
	want := []Condition{
		{ConditionScalingActive, metav1.ConditionTrue, ReasonValidMetricFound, "the MemHpa was able to successfully calculate a replica count from memory utilization (percentage of limit)"},
		{ConditionAbleToScale, metav1.ConditionTrue, ReasonReadyForNewScale, msgReadyForNewScale},
		{ConditionScalingLimited, metav1.ConditionFalse, ReasonDesiredWithinRange, msgWithinRange},
	}
	if diff := cmp.Diff(want, rec.Conditions); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
