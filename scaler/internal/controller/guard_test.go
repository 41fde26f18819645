package controller

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

// TestHotContainerThroughSync: the guard's decision reaches the scale, the
// status (lastDecision names the hot pod) and a Warning event; a second cycle
// with the same figures one sync period later at the new size adds one more,
// and one at the maximum writes no status again (nothing changed).
func TestHotContainerThroughSync(t *testing.T) {
	f := newFixture(t, 3, []*v1alpha1.MemHpa{memhpa("web", memhpagen.WithMax(4), memhpagen.WithMaxContainerUtilization(90))}, pods(3)...)
	f.use(970, 100, 100)
	// The window's seed (3) would hold any scale-down: this is about the guard.
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if f.target.replicas != 4 {
		t.Fatalf("replicas = %d, want 4", f.target.replicas)
	}
	wantEvents := []string{
		`Warning HotContainer container "app" of pod "web-0" is at 97% of its memory limit, above maxContainerUtilizationPercentage (90%): at least 4 replicas, one more than at the start of the sync period (3)`,
		"Normal SuccessfulRescale New size: 4; reason: memory utilization (percentage of limit) above target",
	}
	if diff := cmp.Diff(wantEvents, f.events()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	want := &v1alpha1.MemHpaDecision{RawReplicas: ptr.To[int32](2), LimitedBy: v1alpha1.LimitedByHotContainerGuard, PodsCounted: 3,
		Hottest: &v1alpha1.HottestContainer{Pod: "web-0", Container: "app", UtilizationPercentage: 97}}
	if diff := cmp.Diff(want, f.status().LastDecision); diff != "" {
		t.Errorf("status.lastDecision (-want +got):\n%s", diff)
	}

	// At 4 = maxReplicas, a sync period later: the guard asks for 5, the
	// maximum holds 4.
	f.target.replicas = 4
	if err := f.pods.Add(pods(4)[3]); err != nil {
		t.Fatal(err)
	}
	f.use(970, 100, 100, 100)
	f.clock.Step(30 * time.Second)
	f.informStatus()
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	want.LimitedBy, want.PodsCounted = v1alpha1.LimitedByMaxReplicas, 4
	if diff := cmp.Diff(want, f.status().LastDecision); diff != "" {
		t.Errorf("status.lastDecision at the maximum (-want +got):\n%s", diff)
	}
	writes := f.statusWrites()
	f.clock.Step(30 * time.Second)
	f.informStatus()
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if n := f.statusWrites(); n != writes {
		t.Errorf("the same decision again wrote the status (%d writes, then %d)", writes, n)
	}
}
