package calc

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/memhpa/memhpa/scaler/internal/gen"
	v1alpha1 "github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

// cpuWindow is the rate window of the rows' samples.
const cpuWindow = time.Minute

// cpuWeb is web(n) with a CPU request of 100m per container, started and
// Ready for ten minutes (past the CPU initialization period), then opts.
func cpuWeb(n int, opts ...gen.PodOption) []*corev1.Pod {
	return web(n, append([]gen.PodOption{gen.WithCPURequest("100m"), gen.Started(now.Add(-10 * time.Minute)),
		gen.WithReady(corev1.ConditionTrue, now.Add(-10*time.Minute))}, opts...)...)
}

// milli maps web-i to usage[i] millicores; a negative value means "no rate".
func milli(usage ...int64) map[string]int64 { return use(usage...) }

// cpuSpec is spec() with a CPU target of percent, then opts.
func cpuSpec(percent int32, opts ...memhpagen.Option) v1alpha1.MemHpaSpec {
	return spec(append([]memhpagen.Option{memhpagen.WithCPUTarget(percent)}, opts...)...)
}

func TestDecideWithCPU(t *testing.T) {
	notReadyNew := func(p *corev1.Pod) {
		// Started a minute ago, not Ready yet: within the CPU initialization period.
		p.Status.StartTime = &metav1.Time{Time: now.Add(-time.Minute)}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.Time{Time: now.Add(-time.Minute)}}}
	}
	for _, tc := range []struct {
		name      string
		spec      v1alpha1.MemHpaSpec
		current   int32
		pods      []*corev1.Pod
		usage     map[string]int64
		usageErr  error
		cpu       map[string]int64
		cpuErr    error
		history   History
		want      want
		cpuUtil   int32 // -1: not measured
		cpuReps   int32
		memReps   int32
		noRec     bool   // no replica count applies (the status keeps the last)
		msgHas    string // a ScalingActive message part
		cpuCounts [3]int // counted, unready, missing
	}{
		{
			name: "CPU above its target scales up while memory is low", spec: cpuSpec(60), current: 3, pods: cpuWeb(3),
			// memory 40 % of 80 → ceil(0.5 × 3) = 2; CPU 90 % of 60 → ceil(1.5 × 3) = 5.
			usage: use(400, 400, 400), cpu: milli(90, 90, 90), history: old(3),
			want: want{desired: 5, metric: 5, util: 40, rescaleReason: RescaleAboveTargetCPU, conditions: map[string]string{
				ConditionScalingActive: ReasonValidMetricFound, ConditionScalingLimited: ReasonDesiredWithinRange}},
			cpuUtil: 90, cpuReps: 5, memReps: 2, msgHas: "from " + CPUMetricName, cpuCounts: [3]int{3, 0, 0},
		},
		{
			name: "both below their targets scale down", spec: cpuSpec(60), current: 3, pods: cpuWeb(3),
			// memory → 2; CPU 20 % of 60 → ceil(0.33 × 3) = 1; the larger, 2.
			usage: use(400, 400, 400), cpu: milli(20, 20, 20), history: old(3),
			want:    want{desired: 2, metric: 2, util: 40, rescaleReason: RescaleBelowTarget},
			cpuUtil: 20, cpuReps: 1, memReps: 2, msgHas: "from " + MetricName, cpuCounts: [3]int{3, 0, 0},
		},
		{
			name: "memory above CPU: memory's recommendation and reason", spec: cpuSpec(60), current: 3, pods: cpuWeb(3),
			// memory 100 % of 80 → 4; CPU 60 % → within tolerance, 3.
			usage: use(1000, 1000, 1000), cpu: milli(60, 60, 60),
			want:    want{desired: 4, metric: 4, util: 100, rescaleReason: RescaleAboveTarget},
			cpuUtil: 60, cpuReps: 3, memReps: 4, cpuCounts: [3]int{3, 0, 0},
		},
		{
			name: "a CPU target above 100 % counts", spec: cpuSpec(200), current: 2, pods: cpuWeb(2),
			// CPU 300 % of 200 → ceil(1.5 × 2) = 3.
			usage: use(800, 800), cpu: milli(300, 300),
			want:    want{desired: 3, metric: 3, util: 80, rescaleReason: RescaleAboveTargetCPU},
			cpuUtil: 300, cpuReps: 3, memReps: 2, cpuCounts: [3]int{2, 0, 0},
		},
		// One metric fails: the other still scales up or holds, never down.
		{
			name: "no CPU request: memory still scales up, the failure is said", spec: cpuSpec(60), current: 3,
			pods:  web(3, gen.Started(now.Add(-10*time.Minute)), gen.WithReady(corev1.ConditionTrue, now.Add(-10*time.Minute))),
			usage: use(1000, 1000, 1000), cpu: milli(90, 90, 90),
			want: want{desired: 4, metric: 4, util: 100, rescaleReason: RescaleAboveTarget,
				conditions: map[string]string{ConditionScalingActive: ReasonValidMetricFound}, warnings: []string{ReasonMissingCPURequest}},
			cpuUtil: -1, memReps: 4, msgHas: "missing request for cpu in container app of Pod web-0",
		},
		{
			name: "no CPU request: memory alone does not scale down", spec: cpuSpec(60), current: 3,
			pods:  web(3, gen.Started(now.Add(-10*time.Minute)), gen.WithReady(corev1.ConditionTrue, now.Add(-10*time.Minute))),
			usage: use(400, 400, 400), cpu: milli(10, 10, 10), history: old(3),
			want: want{desired: 3, util: 40, conditions: map[string]string{ConditionScalingActive: ReasonMissingCPURequest},
				warnings: []string{ReasonMissingCPURequest, EventFailedComputeMetricsReplicas}},
			cpuUtil: -1, memReps: 2, noRec: true, msgHas: "missing request for cpu",
		},
		{
			name: "one pod without a CPU request is enough to fail CPU", spec: cpuSpec(60), current: 2,
			pods:  append(cpuWeb(1), gen.Pod("web-1", gen.Started(now.Add(-10*time.Minute)), gen.WithReady(corev1.ConditionTrue, now.Add(-10*time.Minute)))),
			usage: use(800, 800), cpu: milli(90, 90),
			want:    want{desired: 2, metric: 2, util: 80, warnings: []string{ReasonMissingCPURequest}},
			cpuUtil: -1, memReps: 2, cpuCounts: [3]int{1, 0, 0},
		},
		{
			name: "memory fails, CPU scales up alone", spec: cpuSpec(60), current: 3, pods: cpuWeb(3),
			usageErr: errors.New("query prometheus: 503"), cpu: milli(90, 90, 90),
			want: want{desired: 5, metric: 5, util: -1, rescaleReason: RescaleAboveTargetCPU,
				conditions: map[string]string{ConditionScalingActive: ReasonValidMetricFound}, warnings: []string{ReasonFailedGetMemoryMetric}},
			cpuUtil: 90, cpuReps: 5, cpuCounts: [3]int{3, 0, 0},
		},
		{
			name: "memory fails, CPU alone does not scale down", spec: cpuSpec(60), current: 3, pods: cpuWeb(3),
			usageErr: errors.New("query prometheus: 503"), cpu: milli(10, 10, 10), history: old(3),
			want: want{desired: 3, util: -1, conditions: map[string]string{ConditionScalingActive: ReasonFailedGetMemoryMetric},
				warnings: []string{ReasonFailedGetMemoryMetric, EventFailedComputeMetricsReplicas}},
			cpuUtil: 10, cpuReps: 1, noRec: true, cpuCounts: [3]int{3, 0, 0},
		},
		{
			name: "both fail: the first (memory) names the condition", spec: cpuSpec(60), current: 3, pods: cpuWeb(3),
			usageErr: errors.New("query prometheus: 503"), cpuErr: errors.New("query prometheus: 503"),
			want: want{desired: 3, util: -1, conditions: map[string]string{ConditionScalingActive: ReasonFailedGetMemoryMetric},
				warnings: []string{ReasonFailedGetMemoryMetric, ReasonFailedGetCPUMetric, EventFailedComputeMetricsReplicas}},
			cpuUtil: -1, noRec: true,
		},
		{
			name: "no pod has a CPU rate: CPU fails, memory holds", spec: cpuSpec(60), current: 3, pods: cpuWeb(3),
			usage: use(800, 800, 800), cpu: milli(),
			want:    want{desired: 3, metric: 3, util: 80, warnings: []string{ReasonFailedGetCPUMetric}},
			cpuUtil: -1, memReps: 3, msgHas: "did not receive metrics", cpuCounts: [3]int{0, 0, 3},
		},
		// The CPU readiness rules.
		{
			name: "an unready pod counts at 0 % on a CPU scale-up", spec: cpuSpec(50), current: 3,
			pods: append(cpuWeb(2), gen.Pod("web-2", gen.WithCPURequest("100m"), notReadyNew)),
			// 90 % of 50 over the 2 ready pods → 1.8; with web-2 at 0: 60 % → 1.2 → ceil(3.6) = 4. Its 500m is not read.
			usage: use(400, 400, 400), cpu: milli(90, 90, 500), history: old(3),
			want:    want{desired: 4, metric: 4, util: 40, rescaleReason: RescaleAboveTargetCPU},
			cpuUtil: 90, cpuReps: 4, memReps: 2, cpuCounts: [3]int{2, 1, 0},
		},
		{
			name: "an unready pod is left out of a CPU scale-down", spec: cpuSpec(60), current: 3,
			pods:  append(cpuWeb(2), gen.Pod("web-2", gen.WithCPURequest("100m"), notReadyNew)),
			usage: use(100, 100, 100), cpu: milli(20, 20, 500), history: old(3),
			// 20 % of 60 over 2 pods → ceil(0.67) = 1; memory → 1.
			want:    want{desired: 1, metric: 1, util: 10, rescaleReason: RescaleBelowTarget},
			cpuUtil: 20, cpuReps: 1, memReps: 1, cpuCounts: [3]int{2, 1, 0},
		},
		{
			name: "a pod without a rate is missing before its readiness is looked at", spec: cpuSpec(60), current: 3,
			pods:  append(cpuWeb(2), gen.Pod("web-2", gen.WithCPURequest("100m"), notReadyNew)),
			usage: use(100, 100, 100), cpu: milli(20, 20, -1), history: old(3),
			// missing on a scale-down: 100 % of its request → (20+20+100)/300 = 46 % → 0.77 → 3, the size holds.
			want:    want{desired: 3, metric: 3, util: 10},
			cpuUtil: 20, cpuReps: 3, memReps: 1, cpuCounts: [3]int{2, 0, 1},
		},
		{
			name: "a pending pod counts at 0 % on a CPU scale-up", spec: cpuSpec(50), current: 3,
			pods: append(cpuWeb(2), gen.Pod("web-2", gen.WithCPURequest("100m"), gen.WithPhase(corev1.PodPending))),
			// memory leaves the pending pod out of its scale-down: ceil(0.5 × 2) = 1.
			usage: use(400, 400), cpu: milli(90, 90), history: old(3),
			want:    want{desired: 4, metric: 4, util: 40, rescaleReason: RescaleAboveTargetCPU},
			cpuUtil: 90, cpuReps: 4, memReps: 1, cpuCounts: [3]int{2, 1, 0},
		},
		// spec.container counts for CPU too.
		{
			name: "with spec.container only that container's request and rate count", current: 3,
			spec: cpuSpec(60, memhpagen.WithContainer("app")),
			pods: cpuWeb(3, gen.Containers(memhpagen.Container("app", "1000", ""), memhpagen.Container("proxy", "1000", "")), gen.WithCPURequest("100m")),
			// app: 90m of 100m = 90 % → 5; the pod (90+10)/200 = 50 % would not scale up.
			// Memory has no container figures here, so it fails and CPU scales up alone.
			usage: use(420, 420, 420), cpu: milli(100, 100, 100), history: old(3),
			want:    want{desired: 5, metric: 5, util: -1, rescaleReason: RescaleAboveTargetCPU, warnings: []string{ReasonFailedGetMemoryMetric}},
			cpuUtil: 90, cpuReps: 5, cpuCounts: [3]int{3, 0, 0},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Spec: tc.spec, CurrentReplicas: tc.current, Pods: tc.pods, Usage: tc.usage, UsageErr: tc.usageErr,
				CPU: CPUSamples{MilliCores: tc.cpu, At: now, Window: cpuWindow, Err: tc.cpuErr}, History: tc.history, Config: DefaultConfig()}
			if tc.spec.Container != "" {
				in.CPU.Containers = map[string]map[string]int64{}
				for pod, m := range tc.cpu {
					in.CPU.Containers[pod] = map[string]int64{"app": m * 9 / 10, "proxy": m / 10}
				}
			}
			got := Decide(in, clocktesting.NewFakePassiveClock(now))
			if got.DesiredReplicas != tc.want.desired || got.MetricReplicas != tc.want.metric {
				t.Errorf("desired, metric replicas = %d, %d, want %d, %d (cpu %+v, conditions %+v, warnings %+v)",
					got.DesiredReplicas, got.MetricReplicas, tc.want.desired, tc.want.metric, got.CPU, got.Conditions, got.Warnings)
			}
			if got.Recommended == tc.noRec {
				t.Errorf("recommended = %t, want %t", got.Recommended, !tc.noRec)
			}
			if u := utilOf(got.Utilization); u != tc.want.util {
				t.Errorf("memory utilization = %d, want %d", u, tc.want.util)
			}
			if tc.want.rescaleReason != "" && got.RescaleReason != tc.want.rescaleReason {
				t.Errorf("rescale reason = %q, want %q", got.RescaleReason, tc.want.rescaleReason)
			}
			if got.CPU == nil {
				t.Fatal("no CPU recommendation with a CPU target")
			}
			if u := utilOf(got.CPU.Utilization); u != tc.cpuUtil {
				t.Errorf("cpu utilization = %d, want %d", u, tc.cpuUtil)
			}
			if got.CPU.Replicas != tc.cpuReps || got.CPU.MemoryReplicas != tc.memReps {
				t.Errorf("cpu, memory replicas = %d, %d, want %d, %d", got.CPU.Replicas, got.CPU.MemoryReplicas, tc.cpuReps, tc.memReps)
			}
			if c := [3]int{got.CPU.Counted, got.CPU.Unready, got.CPU.Missing}; c != tc.cpuCounts {
				t.Errorf("cpu pods counted, unready, missing = %v, want %v", c, tc.cpuCounts)
			}
			reasons := map[string]string{}
			active := ""
			for _, c := range got.Conditions {
				reasons[c.Type] = c.Reason
				if c.Type == ConditionScalingActive {
					active = c.Message
				}
			}
			for typ, reason := range tc.want.conditions {
				if reasons[typ] != reason {
					t.Errorf("condition %s reason = %q, want %q (all: %v)", typ, reasons[typ], reason, reasons)
				}
			}
			if !strings.Contains(active, tc.msgHas) {
				t.Errorf("ScalingActive message %q does not say %q", active, tc.msgHas)
			}
			var warnings []string
			for _, w := range got.Warnings {
				warnings = append(warnings, w.Reason)
			}
			if !slices.Equal(warnings, tc.want.warnings) {
				t.Errorf("warnings = %v, want %v (%+v)", warnings, tc.want.warnings, got.Warnings)
			}
		})
	}
}

func utilOf(u *int32) int32 {
	if u == nil {
		return -1
	}
	return *u
}

// TestDecideWithCPUFailuresSayHowMany: the HPA's FailedComputeMetricsReplicas
// counts the invalid metrics out of two.
func TestDecideWithCPUFailuresSayHowMany(t *testing.T) {
	in := Input{Spec: cpuSpec(60), CurrentReplicas: 3, Pods: cpuWeb(3), UsageErr: errors.New("boom"),
		CPU: CPUSamples{Err: errors.New("bang"), At: now, Window: cpuWindow}, Config: DefaultConfig()}
	got := Decide(in, clocktesting.NewFakePassiveClock(now))
	last := got.Warnings[len(got.Warnings)-1]
	if want := "invalid metrics (2 invalid out of 2), first error is: failed to get " + MetricName + ": boom"; last.Message != want {
		t.Errorf("last warning = %q, want %q", last.Message, want)
	}
	if w := got.Warnings[1]; w.Message != "failed to get "+CPUMetricName+": bang" {
		t.Errorf("cpu warning = %q", w.Message)
	}
}

// TestDecideWithoutCPUTargetIgnoresCPU: an unset CPU target is today's
// decision exactly, whatever the CPU samples say.
func TestDecideWithoutCPUTargetIgnoresCPU(t *testing.T) {
	base := Input{Spec: spec(), CurrentReplicas: 3, Pods: web(3), Usage: use(1000, 1000, 1000), Config: DefaultConfig()}
	withSamples := base
	withSamples.CPU = CPUSamples{MilliCores: milli(5000, 5000, 5000), Err: errors.New("bang"), At: now, Window: cpuWindow}
	clk := clocktesting.NewFakePassiveClock(now)
	a, b := Decide(base, clk), Decide(withSamples, clk)
	if b.CPU != nil {
		t.Errorf("a CPU recommendation without a CPU target: %+v", b.CPU)
	}
	if a.DesiredReplicas != 4 || b.DesiredReplicas != 4 || !slices.Equal(a.Warnings, b.Warnings) || !slices.Equal(a.Conditions, b.Conditions) {
		t.Errorf("without a CPU target: %+v, with CPU samples: %+v; want both 4 and equal", a, b)
	}
}

// TestCPUUnready is the HPA's groupPods readiness rule for CPU, row by row
// (initialization period 5m, readiness delay 30s, a sample at now over 1m).
func TestCPUUnready(t *testing.T) {
	const initPeriod, delay = 5 * time.Minute, 30 * time.Second
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	for _, tc := range []struct {
		name    string
		opts    []gen.PodOption
		unready bool
	}{
		{name: "no Ready condition", opts: []gen.PodOption{gen.Started(ago(time.Hour))}, unready: true},
		{name: "no start time", opts: []gen.PodOption{gen.WithReady(corev1.ConditionTrue, ago(time.Hour))}, unready: true},
		{name: "initializing, not Ready", opts: []gen.PodOption{gen.Started(ago(2 * time.Minute)), gen.WithReady(corev1.ConditionFalse, ago(2*time.Minute))}, unready: true},
		{name: "initializing, Ready for less than a window", opts: []gen.PodOption{gen.Started(ago(2 * time.Minute)), gen.WithReady(corev1.ConditionTrue, ago(30*time.Second))}, unready: true},
		{name: "initializing, Ready for a whole window", opts: []gen.PodOption{gen.Started(ago(2 * time.Minute)), gen.WithReady(corev1.ConditionTrue, ago(time.Minute))}},
		{name: "initializing, readiness Unknown for a whole window", opts: []gen.PodOption{gen.Started(ago(2 * time.Minute)), gen.WithReady(corev1.ConditionUnknown, ago(90*time.Second))}},
		{name: "initialized, Ready", opts: []gen.PodOption{gen.Started(ago(10 * time.Minute)), gen.WithReady(corev1.ConditionTrue, ago(10*time.Second))}},
		{name: "initialized, not Ready and never was (last change within the delay of start)",
			opts: []gen.PodOption{gen.Started(ago(10 * time.Minute)), gen.WithReady(corev1.ConditionFalse, ago(10*time.Minute-20*time.Second))}, unready: true},
		{name: "initialized, not Ready after having been ready (last change past the delay)",
			opts: []gen.PodOption{gen.Started(ago(10 * time.Minute)), gen.WithReady(corev1.ConditionFalse, ago(2*time.Minute))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := gen.Pod("web-0", tc.opts...)
			if got := cpuUnready(p, now, now, cpuWindow, initPeriod, delay); got != tc.unready {
				t.Errorf("unready = %t, want %t", got, tc.unready)
			}
		})
	}
}

// TestCPURequest: the HPA's calculateRequests for CPU.
func TestCPURequest(t *testing.T) {
	withCPU := func(c corev1.Container, q string) corev1.Container {
		p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}
		gen.WithCPURequest(q)(p)
		return p.Spec.Containers[0]
	}
	for _, tc := range []struct {
		name      string
		pod       *corev1.Pod
		container string
		want      podRequest
	}{
		{name: "the containers' sum", pod: gen.Pod("p", gen.Containers(withCPU(memhpagen.Container("a", "1", ""), "100m"), withCPU(memhpagen.Container("b", "1", ""), "250m"))),
			want: podRequest{milli: 350}},
		{name: "a native sidecar adds, an init container does not", pod: gen.Pod("p", gen.WithCPURequest("100m"),
			gen.InitContainers(withCPU(memhpagen.Sidecar("proxy", "1"), "50m"), withCPU(memhpagen.Container("migrate", "1", ""), "1"))),
			want: podRequest{milli: 150}},
		{name: "a pod-level request wins", pod: gen.Pod("p", func(p *corev1.Pod) {
			p.Spec.Resources = &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}
		}), want: podRequest{milli: 2000}},
		{name: "a container without a request", pod: gen.Pod("p", gen.Containers(withCPU(memhpagen.Container("a", "1", ""), "100m"), memhpagen.Container("b", "1", ""))),
			want: podRequest{milli: 100, missing: "b"}},
		{name: "the named container only", container: "b", pod: gen.Pod("p", gen.Containers(memhpagen.Container("a", "1", ""), withCPU(memhpagen.Container("b", "1", ""), "300m"))),
			want: podRequest{milli: 300}},
		{name: "the named container is absent", container: "c", pod: gen.Pod("p", gen.WithCPURequest("100m")),
			want: podRequest{absent: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cpuRequest(tc.pod, tc.container); got != tc.want {
				t.Errorf("cpuRequest = %+v, want %+v", got, tc.want)
			}
		})
	}
}
