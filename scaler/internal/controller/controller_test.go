package controller

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubeinformers "k8s.io/client-go/informers"
	kubefake "k8s.io/client-go/kubernetes/fake"
	scalefake "k8s.io/client-go/scale/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2/ktesting"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/memhpa/memhpa/scaler/internal/calc"
	"github.com/memhpa/memhpa/scaler/internal/gen"
	"github.com/memhpa/memhpa/scaler/internal/promsource"
	v1alpha1 "github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	memhpafake "github.com/memhpa/memhpa/webhook/pkg/generated/clientset/versioned/fake"
	memhpainformers "github.com/memhpa/memhpa/webhook/pkg/generated/informers/externalversions"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

var start = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// target is the scale subresource of one workload, served by the fake
// scale client with the apiserver's compare-and-swap on resourceVersion.
type target struct {
	mu       sync.Mutex
	replicas int32
	selector string
	rv       int
	getErr   error
	// updateErr, when set, refuses every scale write.
	updateErr error
	// bumpAfterGet simulates another writer changing the scale between our
	// read and our write.
	bumpAfterGet bool
	updates      []*autoscalingv1.Scale
}

func (t *target) scale(name string) *autoscalingv1.Scale {
	return &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: memhpagen.Namespace, ResourceVersion: strconv.Itoa(t.rv)},
		Spec:       autoscalingv1.ScaleSpec{Replicas: t.replicas},
		Status:     autoscalingv1.ScaleStatus{Replicas: t.replicas, Selector: t.selector},
	}
}

type fixture struct {
	t        *testing.T
	ctx      context.Context
	client   *memhpafake.Clientset
	kube     *kubefake.Clientset
	source   *promsource.Fake
	recorder *record.FakeRecorder
	clock    *clocktesting.FakeClock
	target   *target
	scales   *scalefake.FakeScaleClient
	reg      *prometheus.Registry
	c        *Controller
	memhpas  cache.Indexer
	pods     cache.Indexer
	hpas     cache.Indexer
}

func newFixture(t *testing.T, replicas int32, memhpas []*v1alpha1.MemHpa, pods ...*corev1.Pod) *fixture {
	return newFixtureWith(t, Config{SyncPeriod: 30 * time.Second, Calc: calc.DefaultConfig()}, replicas, memhpas, pods...)
}

func newFixtureWith(t *testing.T, cfg Config, replicas int32, memhpas []*v1alpha1.MemHpa, pods ...*corev1.Pod) *fixture {
	_, ctx := ktesting.NewTestContext(t)
	var objs []runtime.Object
	for _, h := range memhpas {
		objs = append(objs, h)
	}
	f := &fixture{
		t: t, ctx: ctx,
		client:   memhpafake.NewSimpleClientset(objs...),
		kube:     kubefake.NewClientset(),
		source:   promsource.NewFake(),
		recorder: record.NewFakeRecorder(100),
		clock:    clocktesting.NewFakeClock(start),
		target:   &target{replicas: replicas, selector: "app=web", rv: 1},
		reg:      prometheus.NewRegistry(),
	}
	scales := &scalefake.FakeScaleClient{}
	f.scales = scales
	scales.AddReactor("get", "deployments", func(a core.Action) (bool, runtime.Object, error) {
		f.target.mu.Lock()
		defer f.target.mu.Unlock()
		if f.target.getErr != nil {
			return true, nil, f.target.getErr
		}
		s := f.target.scale(a.(core.GetAction).GetName())
		if f.target.bumpAfterGet {
			f.target.rv++
		}
		return true, s, nil
	})
	scales.AddReactor("update", "deployments", func(a core.Action) (bool, runtime.Object, error) {
		f.target.mu.Lock()
		defer f.target.mu.Unlock()
		s := a.(core.UpdateAction).GetObject().(*autoscalingv1.Scale)
		if f.target.updateErr != nil {
			return true, nil, f.target.updateErr
		}
		f.target.updates = append(f.target.updates, s.DeepCopy())
		if s.ResourceVersion != strconv.Itoa(f.target.rv) {
			return true, nil, apierrors.NewConflict(schema.GroupResource{Group: "apps", Resource: "deployments"}, s.Name, errors.New("the object has been modified"))
		}
		f.target.replicas, f.target.rv = s.Spec.Replicas, f.target.rv+1
		return true, f.target.scale(s.Name), nil
	})
	mapper := meta.NewDefaultRESTMapper([]schema.GroupVersion{{Group: "apps", Version: "v1"}})
	mapper.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, meta.RESTScopeNamespace)

	mf := memhpainformers.NewSharedInformerFactory(f.client, 0)
	kf := kubeinformers.NewSharedInformerFactory(f.kube, 0)
	c, err := New(Deps{
		Client: f.client, MemHpas: mf.Autoscaling().V1alpha1().MemHpas(), Pods: kf.Core().V1().Pods(),
		HPAs:   kf.Autoscaling().V2().HorizontalPodAutoscalers(),
		Scales: scales, Mapper: mapper, Source: f.source, Recorder: f.recorder, Clock: f.clock, Monitor: NewMonitor(f.reg),
	}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	f.memhpas = mf.Autoscaling().V1alpha1().MemHpas().Informer().GetIndexer()
	f.pods = kf.Core().V1().Pods().Informer().GetIndexer()
	f.hpas = kf.Autoscaling().V2().HorizontalPodAutoscalers().Informer().GetIndexer()
	for _, h := range memhpas {
		if err := f.memhpas.Add(h); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range pods {
		if err := f.pods.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// memhpa is a MemHpa named name on Deployment "web" with minReplicas 1,
// targetUtilizationPercentage 80 and generation 1 set, as the scaler reads one
// that the webhook defaulted and the apiserver created (why: the rows are
// written against those values), then opts.
func memhpa(name string, opts ...memhpagen.Option) *v1alpha1.MemHpa {
	base := []memhpagen.Option{memhpagen.WithRef("apps/v1", "Deployment", "web"), memhpagen.WithMin(1), memhpagen.WithTarget(80), memhpagen.WithGeneration(1)}
	return memhpagen.MemHpa(name, append(base, opts...)...)
}

// pods returns n running pods web-0… with a 1000-byte limit.
func pods(n int, opts ...gen.PodOption) []*corev1.Pod {
	out := make([]*corev1.Pod, n)
	for i := range out {
		out[i] = gen.Pod(fmt.Sprintf("web-%d", i), opts...)
	}
	return out
}

// use makes the fake Prometheus report bytes for web-i in the default namespace.
func (f *fixture) use(bytes ...float64) {
	for i, b := range bytes {
		f.source.Set(memhpagen.Namespace, fmt.Sprintf("web-%d", i), b)
	}
}

// sync runs one reconciliation of default/web, as the periodic cycle does.
func (f *fixture) sync() error {
	f.t.Helper()
	f.c.sampler.invalidate()
	return f.c.sync(f.ctx, memhpagen.Namespace+"/web")
}

// status returns the MemHpa as stored in the API (what kubectl shows).
func (f *fixture) status() v1alpha1.MemHpaStatus {
	f.t.Helper()
	h, err := f.client.AutoscalingV1alpha1().MemHpas(memhpagen.Namespace).Get(f.ctx, "web", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return h.Status
}

func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func (f *fixture) statusWrites() int {
	n := 0
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			n++
		}
	}
	return n
}

func reasons(conds []metav1.Condition) map[string]string {
	out := map[string]string{}
	for _, c := range conds {
		out[c.Type] = string(c.Status) + "/" + c.Reason
	}
	return out
}

func TestScaleUp(t *testing.T) {
	h := memhpa("web")
	f := newFixture(t, 3, []*v1alpha1.MemHpa{h}, pods(3)...)
	f.use(1000, 1000, 1000)
	cached := h.DeepCopy()

	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if f.target.replicas != 4 {
		t.Fatalf("replicas = %d, want 4", f.target.replicas)
	}
	if got := f.target.updates[0].ResourceVersion; got != "1" {
		t.Errorf("scale update carried resourceVersion %q, want the one it was computed from (1)", got)
	}
	wantEvents := []string{"Normal SuccessfulRescale New size: 4; reason: memory utilization (percentage of limit) above target"}
	if diff := cmp.Diff(wantEvents, f.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	st := f.status()
	if st.CurrentReplicas != 3 || st.DesiredReplicas != 4 || st.CurrentUtilizationPercentage == nil || *st.CurrentUtilizationPercentage != 100 {
		t.Errorf("status replicas/utilization = %d/%d/%v", st.CurrentReplicas, st.DesiredReplicas, st.CurrentUtilizationPercentage)
	}
	if st.Reference != "Deployment/web" || st.Targets != "100%/80%" {
		t.Errorf("display fields = %q %q", st.Reference, st.Targets)
	}
	if st.LastScaleTime == nil || !st.LastScaleTime.Time.Equal(start) {
		t.Errorf("lastScaleTime = %v, want %v", st.LastScaleTime, start)
	}
	if st.ObservedGeneration == nil || *st.ObservedGeneration != 1 {
		t.Errorf("observedGeneration = %v", st.ObservedGeneration)
	}
	want := map[string]string{
		calc.ConditionAbleToScale:    "True/" + ReasonSucceededRescale,
		calc.ConditionScalingActive:  "True/" + calc.ReasonValidMetricFound,
		calc.ConditionScalingLimited: "False/" + calc.ReasonDesiredWithinRange,
	}
	if diff := cmp.Diff(want, reasons(st.Conditions)); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}
	cur, _ := f.c.memhpas.MemHpas(memhpagen.Namespace).Get("web")
	if diff := cmp.Diff(cached, cur); diff != "" {
		t.Errorf("the cached MemHpa was mutated:\n%s", diff)
	}
	if v := testutil.ToFloat64(f.c.monitor.reconciliations.WithLabelValues(ActionScaleUp, ErrorNone)); v != 1 {
		t.Errorf("reconciliations{scale_up,none} = %v, want 1", v)
	}
	if v := testutil.ToFloat64(f.c.monitor.desired.WithLabelValues(memhpagen.Namespace, "web", "Scale")); v != 4 {
		t.Errorf("desired replicas metric = %v, want 4", v)
	}
}

func TestStatusWrittenOnlyWhenChanged(t *testing.T) {
	f := newFixture(t, 3, []*v1alpha1.MemHpa{memhpa("web")}, pods(3)...)
	f.use(800, 800, 800)
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if n := f.statusWrites(); n != 1 {
		t.Fatalf("first sync: %d status writes, want 1", n)
	}
	// The informer would now hold what we wrote.
	h, _ := f.client.AutoscalingV1alpha1().MemHpas(memhpagen.Namespace).Get(f.ctx, "web", metav1.GetOptions{})
	if err := f.memhpas.Update(h); err != nil {
		t.Fatal(err)
	}
	f.clock.Step(30 * time.Second)
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if n := f.statusWrites(); n != 1 {
		t.Errorf("nothing changed, yet %d status writes", n)
	}
	if len(f.target.updates) != 0 {
		t.Errorf("no rescale expected, got %d scale updates", len(f.target.updates))
	}
}

func TestConflictOnRescaleRecomputesNextRound(t *testing.T) {
	f := newFixture(t, 3, []*v1alpha1.MemHpa{memhpa("web")}, pods(3)...)
	f.use(1000, 1000, 1000)
	f.target.bumpAfterGet = true
	err := f.sync()
	var conflict errScaleConflict
	if !errors.As(err, &conflict) {
		t.Fatalf("sync after a conflicting write = %v, want a conflict error (the queue retries it with backoff)", err)
	}
	if f.target.replicas != 3 || len(f.target.updates) != 1 {
		t.Fatalf("a stale write went through: replicas %d after %d updates", f.target.replicas, len(f.target.updates))
	}
	for _, e := range f.events() {
		if strings.Contains(e, EventSuccessfulRescale) || strings.Contains(e, EventFailedRescale) {
			t.Errorf("event %q after one conflict", e)
		}
	}
	if st := f.status(); st.LastScaleTime != nil || st.DesiredReplicas != 0 {
		t.Errorf("status after a conflict: lastScaleTime %v, desired %d; want the last desired size (none yet) kept", st.LastScaleTime, st.DesiredReplicas)
	}
	// Next round, from fresh data.
	f.target.bumpAfterGet = false
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if f.target.replicas != 4 {
		t.Errorf("replicas = %d after the next round, want 4", f.target.replicas)
	}
}

// TestRepeatedConflictsAreReported: a writer that keeps changing the scale
// under the scaler is reported as the HPA reports a failed write, after a run
// of conflicts; a successful write clears the count.
func TestRepeatedConflictsAreReported(t *testing.T) {
	f := newFixture(t, 3, []*v1alpha1.MemHpa{memhpa("web")}, pods(3)...)
	f.use(1000, 1000, 1000)
	f.target.bumpAfterGet = true
	for i := 1; i <= conflictsReported; i++ {
		if err := f.sync(); err == nil {
			t.Fatalf("sync %d: no error after a conflict", i)
		}
		var failed []string
		for _, e := range f.events() {
			if strings.Contains(e, EventFailedRescale) {
				failed = append(failed, e)
			}
		}
		able := reasons(f.status().Conditions)[calc.ConditionAbleToScale]
		switch {
		case i < conflictsReported && (len(failed) > 0 || able == "False/"+ReasonFailedUpdateScale):
			t.Errorf("conflict %d reported already: events %v, AbleToScale %s", i, failed, able)
		case i == conflictsReported && (len(failed) != 1 || able != "False/"+ReasonFailedUpdateScale):
			t.Errorf("conflict %d: events %v, AbleToScale %s; want one FailedRescale and FailedUpdateScale", i, failed, able)
		}
	}
	f.target.bumpAfterGet = false
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if st := f.c.stateOf(memhpagen.Namespace+"/web", ""); st.conflicts != 0 {
		t.Errorf("conflicts after a successful write = %d, want 0", st.conflicts)
	}
	if able := reasons(f.status().Conditions)[calc.ConditionAbleToScale]; able != "True/"+ReasonSucceededRescale {
		t.Errorf("AbleToScale after the successful write = %s", able)
	}
}

func TestNaNSamplesAreMissingNotZero(t *testing.T) {
	f := newFixture(t, 4, []*v1alpha1.MemHpa{memhpa("web")}, pods(4)...)
	// Two pods at 20 %, two NaN: if NaN were 0, memory would ask for 1 pod.
	f.use(200, 200)
	f.source.Set(memhpagen.Namespace, "web-2", nan())
	f.source.Set(memhpagen.Namespace, "web-3", nan())
	f.c.setHistory(memhpagen.Namespace+"/web", "", calc.History{Recommendations: []calc.Sample{{Replicas: 4, At: start.Add(-time.Hour)}}})
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	// Missing pods count at 100 % on a scale-down: 60 % → ceil(0.75 × 4) = 3.
	if f.target.replicas != 3 {
		t.Errorf("replicas = %d, want 3", f.target.replicas)
	}
}

func TestTargetProblems(t *testing.T) {
	for _, tc := range []struct {
		name      string
		memhpa    *v1alpha1.MemHpa
		setup     func(*target)
		condition string // type=status/reason
		event     string // prefix
		specError bool
	}{
		{
			name: "deleted target", memhpa: memhpa("web"),
			setup: func(t *target) {
				t.getErr = apierrors.NewNotFound(schema.GroupResource{Group: "apps", Resource: "deployments"}, "web")
			},
			condition: calc.ConditionAbleToScale + "=False/" + ReasonFailedGetScale,
			event:     "Warning FailedGetScale get scale of Deployment web: deployments.apps \"web\" not found", specError: true,
		},
		{
			name: "unknown kind", memhpa: memhpa("web", memhpagen.WithRef("example.com/v1", "Widget", "web")),
			condition: calc.ConditionAbleToScale + "=False/" + ReasonFailedGetScale,
			event:     "Warning FailedGetScale unable to determine the resource for kind Widget.example.com", specError: true,
		},
		{
			name: "invalid apiVersion", memhpa: memhpa("web", memhpagen.WithRef("a/b/c", "Deployment", "web")),
			condition: calc.ConditionAbleToScale + "=False/" + ReasonFailedGetScale,
			// An unparsable version is a group no mapper knows (v1alpha1.TargetGroupKind).
			event: "Warning FailedGetScale unable to determine the resource for kind Deployment.a/b/c", specError: true,
		},
		{
			name: "scale without a selector", memhpa: memhpa("web"),
			setup:     func(t *target) { t.selector = "" },
			condition: calc.ConditionScalingActive + "=False/" + ReasonInvalidSelector,
			event:     "Warning SelectorRequired selector is required", specError: true,
		},
		{
			name: "unparsable selector", memhpa: memhpa("web"),
			setup:     func(t *target) { t.selector = "app in (" },
			condition: calc.ConditionScalingActive + "=False/" + ReasonInvalidSelector,
			event:     "Warning InvalidSelector couldn't convert selector", specError: true,
		},
		{
			name: "target at zero", memhpa: memhpa("web"),
			setup:     func(t *target) { t.replicas = 0 },
			condition: calc.ConditionScalingActive + "=False/" + calc.ReasonScalingDisabled,
		},
		{
			name: "API error reading the scale is internal", memhpa: memhpa("web"),
			setup:     func(t *target) { t.getErr = apierrors.NewServiceUnavailable("etcd") },
			condition: calc.ConditionAbleToScale + "=False/" + ReasonFailedGetScale,
			event:     "Warning FailedGetScale get scale of Deployment web: etcd",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 3, []*v1alpha1.MemHpa{tc.memhpa}, pods(3)...)
			f.use(1000, 1000, 1000)
			if tc.setup != nil {
				tc.setup(f.target)
			}
			err := f.sync()
			if tc.event != "" && err == nil {
				t.Errorf("no error returned")
			}
			if isSpecError(err) != tc.specError {
				t.Errorf("spec error = %t, want %t (%v)", isSpecError(err), tc.specError, err)
			}
			if len(f.target.updates) != 0 {
				t.Errorf("scaled: %d updates", len(f.target.updates))
			}
			typ, want, _ := strings.Cut(tc.condition, "=")
			if got := reasons(f.status().Conditions)[typ]; got != want {
				t.Errorf("%s = %s, want %s", typ, got, want)
			}
			events := f.events()
			if tc.event != "" && (len(events) == 0 || !strings.HasPrefix(events[0], tc.event)) {
				t.Errorf("events = %q, want one starting %q", events, tc.event)
			}
		})
	}
}

func TestMissingLimitStopsScaling(t *testing.T) {
	f := newFixture(t, 2, []*v1alpha1.MemHpa{memhpa("web")}, pods(2, gen.Containers(memhpagen.Container("app", "", "")))...)
	f.use(1000, 1000)
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if len(f.target.updates) != 0 {
		t.Errorf("scaled without limits")
	}
	if got := reasons(f.status().Conditions)[calc.ConditionScalingActive]; got != "False/"+calc.ReasonMissingMemoryLimit {
		t.Errorf("ScalingActive = %s", got)
	}
	if ev := f.events(); len(ev) == 0 || !strings.HasPrefix(ev[0], `Warning MissingMemoryLimit failed to get memory utilization (percentage of limit): container "app" of pod`) {
		t.Errorf("events = %q", ev)
	}
}

func TestPodsJoinedByExactNamespace(t *testing.T) {
	// Same names and labels in another namespace must not count.
	others := pods(3, gen.InNamespace("other"))
	f := newFixture(t, 2, []*v1alpha1.MemHpa{memhpa("web")}, append(pods(2), others...)...)
	f.use(800, 800)
	for i := range 3 {
		f.source.Set("other", fmt.Sprintf("web-%d", i), 5000)
	}
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if len(f.target.updates) != 0 {
		t.Errorf("pods of another namespace were counted: scaled to %d", f.target.replicas)
	}
	if st := f.status(); st.Targets != "80%/80%" {
		t.Errorf("targets = %q, want 80%%/80%%", st.Targets)
	}
}

func TestStabilisationAcrossEdits(t *testing.T) {
	h := memhpa("web")
	f := newFixture(t, 4, []*v1alpha1.MemHpa{h}, pods(4)...)
	f.use(800, 800, 800, 800)
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	f.use(400, 400, 400, 400)
	// An edit (new generation) is reconciled at once, through the same history.
	f.clock.Step(10 * time.Second)
	edited := h.DeepCopy()
	edited.Generation, edited.Spec.TargetUtilizationPercentage = 2, new(int32(70))
	if err := f.memhpas.Update(edited); err != nil {
		t.Fatal(err)
	}
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if f.target.replicas != 4 {
		t.Fatalf("an edit caused an instant scale-down to %d", f.target.replicas)
	}
	if got := reasons(f.status().Conditions)[calc.ConditionAbleToScale]; got != "True/"+calc.ReasonScaleDownStabilized {
		t.Errorf("AbleToScale = %s", got)
	}
	f.clock.Step(5*time.Minute + time.Second)
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if f.target.replicas != 3 {
		t.Errorf("after the window: replicas = %d, want 3 (40 %% of 70 %% × 4)", f.target.replicas)
	}
}

func TestOneQueryPerCycle(t *testing.T) {
	a, b := memhpa("web"), memhpa("api", memhpagen.WithRef("apps/v1", "Deployment", "web"))
	c := memhpa("web")
	c.Namespace = "shop"
	f := newFixture(t, 3, []*v1alpha1.MemHpa{a, b, c}, pods(3)...)
	f.use(800, 800, 800)
	f.c.resync(f.ctx)
	for f.c.queue.Len() > 0 {
		f.c.processNextItem(f.ctx, f.ctx)
	}
	if diff := cmp.Diff([][]string{{"default", "shop"}}, f.source.Queries()); diff != "" {
		t.Errorf("queries (-want +got):\n%s", diff)
	}
	// A MemHpa created in a new namespace gets its own fresh query at once.
	d := memhpa("web")
	d.Namespace = "new"
	if err := f.memhpas.Add(d); err != nil {
		t.Fatal(err)
	}
	f.c.enqueue(d)
	f.c.processNextItem(f.ctx, f.ctx)
	if q := f.source.Queries(); len(q) != 2 || !cmp.Equal(q[1], []string{"default", "new", "shop"}) {
		t.Errorf("queries = %v", q)
	}
}

// A container that two scrape jobs report counts once (promquery takes its
// largest figure) and is reported: a Warning event naming it, and a gauge of
// the MemHpa's duplicated containers, which falls back once the set-up is
// fixed and goes with the MemHpa.
func TestDuplicateSeriesAreReported(t *testing.T) {
	h := memhpa("web")
	f := newFixture(t, 2, []*v1alpha1.MemHpa{h}, pods(2)...)
	f.use(800, 800)
	f.source.SetSeries(memhpagen.Namespace, "web-0", promsource.FakeContainer, 2)
	gauge := func(want string) {
		t.Helper()
		const name = "memhpa_scaler_duplicate_series_containers"
		expected := ""
		if want != "" {
			expected = "# HELP " + name + " " + duplicateSeriesHelp + "\n# TYPE " + name + " gauge\n" +
				name + `{memhpa="web",namespace="` + memhpagen.Namespace + `"} ` + want + "\n"
		}
		if err := testutil.GatherAndCompare(f.reg, strings.NewReader(expected), name); err != nil {
			t.Error(err)
		}
	}

	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	// 800 of 1000 at an 80 % target: counted twice it would be 160 %.
	if f.target.replicas != 2 {
		t.Errorf("replicas = %d, want 2", f.target.replicas)
	}
	want := []string{"Warning DuplicateMemorySeries 1 container(s) are reported by more than one Prometheus series, " +
		"each was counted once at its largest figure: [web-0/" + promsource.FakeContainer + "]"}
	if diff := cmp.Diff(want, f.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	gauge("1")

	f.source.SetSeries(memhpagen.Namespace, "web-0", promsource.FakeContainer, 1)
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if ev := f.events(); len(ev) != 0 {
		t.Errorf("events after the fix: %q", ev)
	}
	gauge("0")

	if err := f.memhpas.Delete(h); err != nil {
		t.Fatal(err)
	}
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	gauge("")
}

func TestDeletedMemHpaForgetsHistory(t *testing.T) {
	h := memhpa("web")
	f := newFixture(t, 3, []*v1alpha1.MemHpa{h}, pods(3)...)
	f.use(800, 800, 800)
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.memhpas.Delete(h); err != nil {
		t.Fatal(err)
	}
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.c.state[memhpagen.Namespace+"/web"]; ok {
		t.Errorf("history kept for a deleted MemHpa")
	}
}

// TestRun drives the real loop: informers on fake clientsets, the periodic
// cycle, and a shutdown that waits for the work in flight.
func TestRun(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	h := memhpa("web")
	f := newFixture(t, 3, nil)
	// Rebuild with started informers instead of hand-filled indexers.
	client := memhpafake.NewSimpleClientset(h)
	var objs []runtime.Object
	for _, p := range pods(3) {
		objs = append(objs, p)
	}
	kube := kubefake.NewClientset(objs...)
	mf := memhpainformers.NewSharedInformerFactory(client, 0)
	kf := kubeinformers.NewSharedInformerFactoryWithOptions(kube, 0, kubeinformers.WithTransform(TransformPod))
	scales := &scalefake.FakeScaleClient{}
	f.scales = scales
	scales.Fake.ReactionChain = f.c.scales.(*scalefake.FakeScaleClient).ReactionChain
	f.use(1000, 1000, 1000)
	c, err := New(Deps{
		Client: client, MemHpas: mf.Autoscaling().V1alpha1().MemHpas(), Pods: kf.Core().V1().Pods(),
		Scales: scales, Mapper: f.c.mapper, Source: f.source, Recorder: f.recorder, Clock: clocktesting.NewFakeClock(start),
		Monitor: NewMonitor(prometheus.NewRegistry()),
	}, Config{SyncPeriod: 50 * time.Millisecond, Calc: calc.DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	mf.Start(runCtx.Done())
	kf.Start(runCtx.Done())
	done := make(chan error)
	go func() { done <- c.Run(runCtx, runCtx, 2) }()

	deadline := time.After(10 * time.Second)
	for {
		f.target.mu.Lock()
		r := f.target.replicas
		f.target.mu.Unlock()
		if r == 4 {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("not scaled to 4 within 10s (replicas %d)", r)
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	mf.Shutdown()
	kf.Shutdown()
}

func nan() float64 { var z float64; return z / z }

// The per-namespace share of an answer is cached with the answer: a new
// cycle's query is read, not the last one's.
func TestNewCycleReadsNewSamples(t *testing.T) {
	f := newFixture(t, 3, []*v1alpha1.MemHpa{memhpa("web")}, pods(3)...)
	f.use(800, 800, 800)
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if st := f.status(); st.Targets != "80%/80%" {
		t.Fatalf("targets = %q, want 80%%/80%%", st.Targets)
	}
	f.use(500, 500, 500)
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if st := f.status(); st.CurrentUtilizationPercentage == nil || *st.CurrentUtilizationPercentage != 50 {
		t.Errorf("utilization = %v, want 50 from the new cycle's samples", st.CurrentUtilizationPercentage)
	}
}
