package controller

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/memhpa/memhpa/scaler/internal/calc"
	"github.com/memhpa/memhpa/scaler/internal/gen"
	v1alpha1 "github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

// oomEvents are the OOMKilled events among the recorded ones.
func (f *fixture) oomEvents() []string {
	var out []string
	for _, e := range f.events() {
		if strings.HasPrefix(e, corev1.EventTypeWarning+" "+EventOOMKilled+" ") {
			out = append(out, e)
		}
	}
	return out
}

// TestOOMKillReportedOncePerKill: three pods at 10 % of their limits, web-0's
// container OOM-killed a minute ago. The kill is reported once, however many
// decisions see it; the scale-down it holds back is said in ScalingLimited;
// a new kill of the same container (a higher restart count) is reported
// again; once the kills have left the window the MemHpa scales down and
// forgets them.
func TestOOMKillReportedOncePerKill(t *testing.T) {
	cfg := Config{SyncPeriod: 30 * time.Second, Calc: calc.DefaultConfig()}
	cfg.Calc.DownscaleStabilization = 10 * time.Second
	h := memhpa("web")
	f := newFixtureWith(t, cfg, 3, []*v1alpha1.MemHpa{h},
		gen.Pod("web-0", gen.OOMKilled("app", start.Add(-time.Minute), 1)), gen.Pod("web-1"), gen.Pod("web-2"))
	f.use(100, 100, 100)
	step := func(d time.Duration) {
		t.Helper()
		f.clock.Step(d)
		if err := f.sync(); err != nil {
			t.Fatal(err)
		}
	}

	// reportedOnce wants one event for the kill, at the decision after it,
	// and none at the next.
	reportedOnce := func(at, until string, restarts int) {
		t.Helper()
		step(30 * time.Second)
		want := []string{fmt.Sprintf("Warning OOMKilled container app of pod web-0 was OOM-killed at %s (restart count %d): "+
			"it counts at 100 %% of its limit, and the MemHpa does not scale down until %s", at, restarts, until)}
		if diff := cmp.Diff(want, f.oomEvents()); diff != "" {
			t.Errorf("events after the kill (-want +got):\n%s", diff)
		}
		step(30 * time.Second)
		if ev := f.oomEvents(); len(ev) != 0 {
			t.Errorf("the same kill reported again: %q", ev)
		}
	}

	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	// The seed of the history leaves the 10 s window at the next decision:
	// the scale-down to 2 is held by the kill alone.
	reportedOnce("2026-11-26T11:59:00Z", "2026-11-26T12:09:00Z", 1)
	if f.target.replicas != 3 {
		t.Errorf("replicas = %d, want 3 (held)", f.target.replicas)
	}
	if got := reasons(f.status().Conditions)[calc.ConditionScalingLimited]; got != "True/"+calc.ReasonRecentOOMKill {
		t.Errorf("ScalingLimited = %s, want True/%s", got, calc.ReasonRecentOOMKill)
	}

	// Killed again, 20 s ago.
	again := gen.Pod("web-0", gen.OOMKilled("app", f.clock.Now().Add(-20*time.Second), 2))
	if err := f.pods.Update(again); err != nil {
		t.Fatal(err)
	}
	reportedOnce("2026-11-26T12:00:40Z", "2026-11-26T12:10:40Z", 2)

	// Past the window: a scale-down, and nothing remembered.
	step(calc.DefaultOOMKillWindow)
	if f.target.replicas >= 3 {
		t.Errorf("replicas = %d after the kills left the window, want fewer than 3", f.target.replicas)
	}
	if st := f.c.stateOf(memhpagen.Namespace+"/web", h.UID); len(st.oomReported) != 0 {
		t.Errorf("kills remembered after leaving the window: %v", st.oomReported)
	}
}
