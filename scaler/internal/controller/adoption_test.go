package controller

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeinformers "k8s.io/client-go/informers"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2/ktesting"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/memhpa/memhpa/scaler/internal/calc"
	v1alpha1 "github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	memhpafake "github.com/memhpa/memhpa/webhook/pkg/generated/clientset/versioned/fake"
	memhpainformers "github.com/memhpa/memhpa/webhook/pkg/generated/informers/externalversions"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

// desiredSeries lists the modes of web's memhpa_scaler_desired_replicas
// series, as /metrics shows them.
func (f *fixture) desiredSeries() string {
	f.t.Helper()
	families, err := f.reg.Gather()
	if err != nil {
		f.t.Fatal(err)
	}
	var modes []string
	for _, fam := range families {
		if fam.GetName() != "memhpa_scaler_desired_replicas" {
			continue
		}
		for _, m := range fam.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["memhpa"] == "web" {
				modes = append(modes, labels["mode"])
			}
		}
	}
	return strings.Join(modes, ",")
}

// TestDryRun: a DryRun MemHpa decides as a Scale one (status, conditions,
// metric) and says what it would do in its own event, but writes no scale
// and sets no lastScaleTime.
func TestDryRun(t *testing.T) {
	f := newFixture(t, 3, []*v1alpha1.MemHpa{memhpa("web", memhpagen.DryRun())}, pods(3)...)
	f.use(1000, 1000, 1000)
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if len(f.target.updates) != 0 || f.target.replicas != 3 {
		t.Errorf("DryRun wrote the scale: %d writes, replicas %d", len(f.target.updates), f.target.replicas)
	}
	want := []string{"Normal DryRunRescale Would set size 4; reason: memory utilization (percentage of limit) above target"}
	if diff := cmp.Diff(want, f.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	st := f.status()
	if st.CurrentReplicas != 3 || st.DesiredReplicas != 4 || st.LastScaleTime != nil || st.Targets != "100%/80%" {
		t.Errorf("status current %d, desired %d, lastScaleTime %v, targets %q; want 3, 4, none, 100%%/80%%",
			st.CurrentReplicas, st.DesiredReplicas, st.LastScaleTime, st.Targets)
	}
	wantConds := map[string]string{
		calc.ConditionAbleToScale:    "True/" + ReasonDryRunRescale,
		calc.ConditionScalingActive:  "True/" + calc.ReasonValidMetricFound,
		calc.ConditionScalingLimited: "False/" + calc.ReasonDesiredWithinRange,
	}
	if diff := cmp.Diff(wantConds, reasons(st.Conditions)); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}
	const name = "memhpa_scaler_desired_replicas"
	wantMetric := "# HELP " + name + " Replicas the scaler last asked for, per MemHpa, by its mode (Scale, or DryRun: would have asked for).\n" +
		"# TYPE " + name + " gauge\n" + name + `{memhpa="web",mode="DryRun",namespace="default"} 4` + "\n"
	if err := testutil.GatherAndCompare(f.reg, strings.NewReader(wantMetric), name); err != nil {
		t.Error(err)
	}
}

// TestDryRunReportsTheSameSizeEachCycle: the next decision of a DryRun
// MemHpa starts from the real replicas again, so its would-be size does not
// depend on would-be rescales that never happened: with a scale-up policy of
// 1 pod a minute, 2 replicas would go to 3, cycle after cycle (a would-be
// rescale recorded as made would have used up the minute's pod, and the
// second cycle would have said 2).
func TestDryRunReportsTheSameSizeEachCycle(t *testing.T) {
	behavior := memhpagen.WithBehavior(memhpagen.Rules(memhpagen.Policies(memhpagen.Policy(autoscalingv2.PodsScalingPolicy, 1, 60))), nil)
	f := newFixture(t, 2, []*v1alpha1.MemHpa{memhpa("web", memhpagen.DryRun(), behavior)}, pods(2)...)
	f.use(1000, 1000)
	var desired []int32
	for range 3 {
		if err := f.sync(); err != nil {
			t.Fatal(err)
		}
		f.informStatus()
		desired = append(desired, f.status().DesiredReplicas)
		f.clock.Step(15 * time.Second)
	}
	if diff := cmp.Diff([]int32{3, 3, 3}, desired); diff != "" {
		t.Errorf("desired replicas per cycle (-want +got):\n%s", diff)
	}
	if len(f.target.updates) != 0 {
		t.Errorf("%d scale writes in DryRun", len(f.target.updates))
	}
}

// TestDryRunBesideAnHPA: the one-autoscaler rule ignores a DryRun MemHpa, so
// it shadows an HPA on its target instead of stopping with AmbiguousSelector.
func TestDryRunBesideAnHPA(t *testing.T) {
	f := newFixture(t, 3, []*v1alpha1.MemHpa{memhpa("web", memhpagen.DryRun()), memhpa("web-too")}, pods(3)...)
	f.use(1000, 1000, 1000)
	if err := f.hpas.Add(hpa("web-cpu", "Deployment", "web")); err != nil {
		t.Fatal(err)
	}
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	st := f.status()
	if got := reasons(st.Conditions)[calc.ConditionScalingActive]; got != "True/"+calc.ReasonValidMetricFound {
		t.Errorf("ScalingActive = %s, want True/ValidMetricFound", got)
	}
	if st.DesiredReplicas != 4 || len(f.target.updates) != 0 {
		t.Errorf("desired %d after %d scale writes; want 4 and none", st.DesiredReplicas, len(f.target.updates))
	}
}

// TestDryRunToScale: switched to Scale (a new generation), the MemHpa writes
// at once, and its desired-replicas series changes mode instead of doubling.
func TestDryRunToScale(t *testing.T) {
	h := memhpa("web", memhpagen.DryRun())
	f := newFixture(t, 3, []*v1alpha1.MemHpa{h}, pods(3)...)
	f.use(1000, 1000, 1000)
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if got := f.desiredSeries(); got != "DryRun" {
		t.Errorf("series in DryRun: %q", got)
	}
	f.informStatus()
	scale, _ := f.c.memhpas.MemHpas(memhpagen.Namespace).Get("web")
	scale = scale.DeepCopy()
	scale.Generation, scale.Spec.Mode = 2, v1alpha1.ScalingModeScale
	if err := f.memhpas.Update(scale); err != nil {
		t.Fatal(err)
	}
	f.clock.Step(time.Second)
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if f.target.replicas != 4 || len(f.target.updates) != 1 {
		t.Errorf("after the switch: replicas %d after %d writes, want 4 after 1", f.target.replicas, len(f.target.updates))
	}
	if got := f.desiredSeries(); got != "Scale" {
		t.Errorf("series after the switch: %q, want Scale alone", got)
	}
	if n := testutil.CollectAndCount(f.c.monitor.desired); n != 1 {
		t.Errorf("%d desired-replicas series, want 1", n)
	}
}

// TestPaused: the pause annotations hold scale writes in their direction;
// the status is still computed and written, desiredReplicas is the size the
// MemHpa would set, and AbleToScale says what is paused.
func TestPaused(t *testing.T) {
	type step struct {
		usage    float64 // bytes of each of the 3 pods, of a 1000-byte limit
		replicas int32   // of the target afterwards
		desired  int32
		able     string // AbleToScale status/reason
	}
	for _, tc := range []struct {
		name       string
		annotation string
		steps      []step
	}{
		{name: "paused holds a scale-up", annotation: v1alpha1.AnnotationPaused, steps: []step{
			{usage: 1000, replicas: 3, desired: 4, able: "False/" + calc.ReasonScalingPaused}}},
		{name: "paused holds a scale-down", annotation: v1alpha1.AnnotationPaused, steps: []step{
			{usage: 400, replicas: 3, desired: 2, able: "False/" + calc.ReasonScalingPaused}}},
		{name: "paused-scale-in lets a scale-up through and holds a scale-down", annotation: v1alpha1.AnnotationPausedScaleIn, steps: []step{
			{usage: 1000, replicas: 4, desired: 4, able: "True/" + ReasonSucceededRescale},
			{usage: 300, replicas: 4, desired: 2, able: "False/" + calc.ReasonScalingPaused}}},
		{name: "paused-scale-out lets a scale-down through and holds a scale-up", annotation: v1alpha1.AnnotationPausedScaleOut, steps: []step{
			{usage: 400, replicas: 2, desired: 2, able: "True/" + ReasonSucceededRescale},
			{usage: 1000, replicas: 2, desired: 4, able: "False/" + calc.ReasonScalingPaused}}},
		{name: "false pauses nothing", annotation: "", steps: []step{
			{usage: 1000, replicas: 4, desired: 4, able: "True/" + ReasonSucceededRescale}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			annotations := map[string]string{v1alpha1.AnnotationPaused: "false"}
			if tc.annotation != "" {
				annotations = map[string]string{tc.annotation: "true"}
			}
			f := newFixture(t, 3, []*v1alpha1.MemHpa{memhpa("web", memhpagen.WithAnnotations(annotations))}, pods(3)...)
			for i, s := range tc.steps {
				f.use(s.usage, s.usage, s.usage)
				// Nothing in the window holds a scale-down back.
				f.c.setHistory(memhpagen.Namespace+"/web", "", calc.History{Recommendations: []calc.Sample{{Replicas: f.target.replicas, At: start.Add(-time.Hour)}}})
				if err := f.sync(); err != nil {
					t.Fatal(err)
				}
				f.informStatus()
				st := f.status()
				got := step{usage: s.usage, replicas: f.target.replicas, desired: st.DesiredReplicas, able: reasons(st.Conditions)[calc.ConditionAbleToScale]}
				if got != s {
					t.Errorf("step %d: got %+v, want %+v", i, got, s)
				}
				for _, e := range f.events() {
					if strings.Contains(e, EventSuccessfulRescale) != (s.able == "True/"+ReasonSucceededRescale) {
						t.Errorf("step %d: event %q", i, e)
					}
				}
			}
		})
	}
}

// TestAnnotationChangeIsQueued: removing a pause annotation changes no
// generation, yet the MemHpa informer must queue it at once, as it queues a
// spec change, so that an unpause is acted on without waiting for a cycle.
func TestAnnotationChangeIsQueued(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	f := newFixture(t, 3, nil)
	client := memhpafake.NewSimpleClientset(memhpa("web", memhpagen.WithAnnotations(map[string]string{v1alpha1.AnnotationPaused: "true"})))
	mf := memhpainformers.NewSharedInformerFactory(client, 0)
	kf := kubeinformers.NewSharedInformerFactory(kubefake.NewClientset(), 0)
	c, err := New(Deps{
		Client: client, MemHpas: mf.Autoscaling().V1alpha1().MemHpas(), Pods: kf.Core().V1().Pods(),
		Scales: f.c.scales, Mapper: f.c.mapper, Source: f.source, Recorder: f.recorder, Clock: clocktesting.NewFakeClock(start),
		Monitor: NewMonitor(prometheus.NewRegistry()),
	}, Config{SyncPeriod: time.Hour, Calc: calc.DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	mf.Start(runCtx.Done())
	// Shutdown waits for the informer, which stops with runCtx.
	defer func() { cancel(); mf.Shutdown() }()
	take := func(what string) {
		t.Helper()
		waitFor(t, what, func() bool { return c.queue.Len() == 1 })
		key, _ := c.queue.Get()
		c.queue.Done(key)
	}
	take("queued MemHpa after its creation")

	h, err := client.AutoscalingV1alpha1().MemHpas(memhpagen.Namespace).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	delete(h.Annotations, v1alpha1.AnnotationPaused)
	if _, err := client.AutoscalingV1alpha1().MemHpas(memhpagen.Namespace).Update(ctx, h, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	take("queued MemHpa after its pause annotation was removed")
}

// waitFor polls cond every 10 ms for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
