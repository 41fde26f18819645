package controller

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/memhpa/memhpa/scaler/internal/gen"
	v1alpha1 "github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

// cpuPods are n pods web-i with a CPU request of 100m, Ready since ten
// minutes before the fixture's start (past the CPU initialization period).
func cpuPods(n int, opts ...gen.PodOption) []*corev1.Pod {
	long := start.Add(-10 * time.Minute)
	return pods(n, append([]gen.PodOption{gen.WithCPURequest("100m"), gen.Started(long), gen.WithReady(corev1.ConditionTrue, long)}, opts...)...)
}

// cycle runs one full cycle: every MemHpa reconciled once from fresh queries.
func (f *fixture) cycle() {
	f.t.Helper()
	f.c.resync(f.ctx)
	for f.c.queue.Len() > 0 {
		f.c.processNextItem(f.ctx, f.ctx)
	}
}

// TestCPUScalesUpWhileMemoryIsLow: through the controller, a MemHpa with a
// CPU target grows on CPU while memory alone would hold, and its status and
// TARGETS show both.
func TestCPUScalesUpWhileMemoryIsLow(t *testing.T) {
	f := newFixture(t, 3, []*v1alpha1.MemHpa{memhpa("web", memhpagen.WithCPUTarget(60))}, cpuPods(3)...)
	f.use(400, 400, 400)
	for i := range 3 {
		f.source.SetCPU(memhpagen.Namespace, fmt.Sprintf("web-%d", i), 90)
	}
	f.cycle()
	if f.target.replicas != 5 {
		t.Errorf("replicas = %d, want 5 (CPU at 90 %% of a 60 %% target)", f.target.replicas)
	}
	st := f.status()
	if st.Targets != "memory: 40%/80%, cpu: 90%/60%" {
		t.Errorf("targets = %q, want memory: 40%%/80%%, cpu: 90%%/60%%", st.Targets)
	}
	if st.CurrentCPUUtilizationPercentage == nil || *st.CurrentCPUUtilizationPercentage != 90 ||
		st.CurrentUtilizationPercentage == nil || *st.CurrentUtilizationPercentage != 40 {
		t.Errorf("current utilization memory %v, cpu %v; want 40 and 90", st.CurrentUtilizationPercentage, st.CurrentCPUUtilizationPercentage)
	}
	want := "Normal SuccessfulRescale New size: 5; reason: cpu resource utilization (percentage of request) above target"
	if ev := f.events(); !slices.Contains(ev, want) {
		t.Errorf("events = %v, want %q", ev, want)
	}
	// The dashboard's CPU panel: utilization against target, per MemHpa.
	l := `{memhpa="web",namespace="` + memhpagen.Namespace + `"}`
	wantSeries := "# HELP memhpa_scaler_cpu_target_utilization_percent " + cpuTargetHelp + "\n# TYPE memhpa_scaler_cpu_target_utilization_percent gauge\n" +
		"memhpa_scaler_cpu_target_utilization_percent" + l + " 60\n" +
		"# HELP memhpa_scaler_cpu_utilization_percent " + cpuUtilizationHelp + "\n# TYPE memhpa_scaler_cpu_utilization_percent gauge\n" +
		"memhpa_scaler_cpu_utilization_percent" + l + " 90\n"
	if err := testutil.GatherAndCompare(f.reg, strings.NewReader(wantSeries),
		"memhpa_scaler_cpu_utilization_percent", "memhpa_scaler_cpu_target_utilization_percent"); err != nil {
		t.Errorf("cpu series: %v", err)
	}
}

// TestCPUQueryOnlyForCPUTargets: the CPU query is one per cycle, for the
// namespaces of MemHpas with a CPU target only, and none without any.
func TestCPUQueryOnlyForCPUTargets(t *testing.T) {
	other := memhpa("web")
	other.Namespace = "shop"
	f := newFixture(t, 3, []*v1alpha1.MemHpa{memhpa("web", memhpagen.WithCPUTarget(60)), other}, cpuPods(3)...)
	f.use(800, 800, 800)
	f.cycle()
	f.cycle()
	if diff := cmp.Diff([][]string{{"default"}, {"default"}}, f.source.CPUQueries()); diff != "" {
		t.Errorf("cpu queries (-want +got):\n%s", diff)
	}
	if n := len(f.source.Queries()); n != 2 {
		t.Errorf("%d memory queries in two cycles, want 2", n)
	}

	plain := newFixture(t, 3, []*v1alpha1.MemHpa{memhpa("web")}, cpuPods(3)...)
	plain.use(800, 800, 800)
	plain.cycle()
	if q := plain.source.CPUQueries(); len(q) != 0 {
		t.Errorf("cpu queries without a CPU target: %v", q)
	}
	if st := plain.status(); st.Targets != "80%/80%" || st.CurrentCPUUtilizationPercentage != nil {
		t.Errorf("without a CPU target: targets %q, cpu %v; want 80%%/80%% and none", st.Targets, st.CurrentCPUUtilizationPercentage)
	}
}

// TestMissingCPURequestIsReported: pods without a CPU request give no CPU
// recommendation; memory still scales up, and a Warning event says why.
func TestMissingCPURequestIsReported(t *testing.T) {
	f := newFixture(t, 3, []*v1alpha1.MemHpa{memhpa("web", memhpagen.WithCPUTarget(60))}, pods(3)...)
	f.use(1000, 1000, 1000)
	f.cycle()
	if f.target.replicas != 4 {
		t.Errorf("replicas = %d, want 4 (memory at 100 %%)", f.target.replicas)
	}
	ev := f.events()
	if !slices.ContainsFunc(ev, func(e string) bool {
		return strings.HasPrefix(e, "Warning MissingCPURequest failed to get cpu resource utilization (percentage of request): missing request for cpu in container app of Pod web-")
	}) {
		t.Errorf("events = %v, want a MissingCPURequest warning", ev)
	}
	if st := f.status(); st.Targets != "memory: 100%/80%, cpu: <unknown>/60%" {
		t.Errorf("targets = %q", st.Targets)
	}
}
