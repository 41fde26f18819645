package controller

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/memhpa/memhpa/scaler/internal/promsource"
	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

// The per-MemHpa series a dashboard draws (utilization and its target,
// current replicas, rescales by direction) say what the status says, and go
// with the MemHpa as the desired-replicas series does.
func TestStatusMetrics(t *testing.T) {
	h := memhpa("web")
	f := newFixture(t, 3, []*v1alpha1.MemHpa{h}, pods(3)...)
	f.use(1000, 1000, 1000)
	names := []string{"memhpa_scaler_memory_utilization_percent", "memhpa_scaler_memory_target_utilization_percent",
		"memhpa_scaler_current_replicas", "memhpa_scaler_rescales_total",
		// Without a CPU target, no CPU series.
		"memhpa_scaler_cpu_utilization_percent", "memhpa_scaler_cpu_target_utilization_percent"}
	series := func(utilization, current, up string) string {
		l := `{memhpa="web",namespace="` + memhpagen.Namespace + `"}`
		out := "# HELP memhpa_scaler_current_replicas " + currentReplicasHelp + "\n# TYPE memhpa_scaler_current_replicas gauge\n" +
			"memhpa_scaler_current_replicas" + l + " " + current + "\n" +
			"# HELP memhpa_scaler_memory_target_utilization_percent " + targetUtilizationHelp + "\n# TYPE memhpa_scaler_memory_target_utilization_percent gauge\n" +
			"memhpa_scaler_memory_target_utilization_percent" + l + " 80\n"
		if utilization != "" {
			out += "# HELP memhpa_scaler_memory_utilization_percent " + utilizationHelp + "\n# TYPE memhpa_scaler_memory_utilization_percent gauge\n" +
				"memhpa_scaler_memory_utilization_percent" + l + " " + utilization + "\n"
		}
		return out + "# HELP memhpa_scaler_rescales_total " + rescalesHelp + "\n# TYPE memhpa_scaler_rescales_total counter\n" +
			`memhpa_scaler_rescales_total{direction="down",memhpa="web",namespace="` + memhpagen.Namespace + `"} 0` + "\n" +
			`memhpa_scaler_rescales_total{direction="up",memhpa="web",namespace="` + memhpagen.Namespace + `"} ` + up + "\n"
	}

	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	// 100 % of the limits at an 80 % target: 3 → 4.
	if err := testutil.GatherAndCompare(f.reg, strings.NewReader(series("100", "3", "1")), names...); err != nil {
		t.Errorf("after a scale-up: %v", err)
	}

	// No usable sample: the utilization is unknown, so its series goes (a
	// stale figure would be drawn as if measured); the others stay.
	f.source.Set(memhpagen.Namespace, "web-0", nan())
	f.source.Set(memhpagen.Namespace, "web-1", nan())
	f.source.Set(memhpagen.Namespace, "web-2", nan())
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if err := testutil.GatherAndCompare(f.reg, strings.NewReader(series("", "4", "1")), names...); err != nil {
		t.Errorf("without samples: %v", err)
	}

	if err := f.memhpas.Delete(h); err != nil {
		t.Fatal(err)
	}
	f.c.resync(f.ctx)
	if err := testutil.GatherAndCompare(f.reg, strings.NewReader(""), names...); err != nil {
		t.Errorf("after the MemHpa was deleted: %v", err)
	}
}

// Every failure reason has its series from the start, so that a dashboard's
// rate() of failed metric reads is 0, not "no data", until one fails.
func TestQueryFailuresStartAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	NewMonitor(reg)
	if n, err := testutil.GatherAndCount(reg, "memhpa_scaler_prometheus_query_failures_total"); err != nil || n != len(promsource.FailureReasons) {
		t.Errorf("failure series = %d (%v), want one per reason (%d)", n, err, len(promsource.FailureReasons))
	}
	for _, reason := range []string{"timeout", "unreachable", "server_error", "client_error", "bad_response", "other"} {
		if !slices.Contains(promsource.FailureReasons, reason) {
			t.Errorf("FailureReasons lacks %q", reason)
		}
	}
}

// BenchmarkSetDesired is one decision's desired-replicas update among the
// series of 10,000 MemHpas: dropping the other mode's series by its full
// labels (what setDesired does) against a partial match on namespace and
// name, which walks every series.
func BenchmarkSetDesired(b *testing.B) {
	m := NewMonitor(prometheus.NewRegistry())
	for i := range 10000 {
		m.setDesired("ns", fmt.Sprintf("m-%d", i), v1alpha1.ScalingModeScale, 3)
	}
	b.Run("full labels", func(b *testing.B) {
		for b.Loop() {
			m.setDesired("ns", "m-5000", v1alpha1.ScalingModeScale, 3)
		}
	})
	b.Run("partial match", func(b *testing.B) {
		for b.Loop() {
			m.desired.DeletePartialMatch(prometheus.Labels{"namespace": "ns", "memhpa": "m-5000"})
			m.desired.WithLabelValues("ns", "m-5000", string(v1alpha1.ScalingModeScale)).Set(3)
		}
	})
}
