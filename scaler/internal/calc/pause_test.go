package calc

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

// ableToScale is the last AbleToScale condition of rec, as the status keeps it.
func ableToScale(rec Recommendation) Condition {
	var last Condition
	for _, c := range rec.Conditions {
		if c.Type == ConditionAbleToScale {
			last = c
		}
	}
	return last
}

// TestPause: a held direction is decided as usual (the would-be size is
// DesiredReplicas) but not rescaled, and AbleToScale says which pause held
// it; the other direction goes on.
func TestPause(t *testing.T) {
	all, in, out := Pause{ScaleUp: true, ScaleDown: true}, Pause{ScaleDown: true}, Pause{ScaleUp: true}
	high, low := use(1000, 1000), use(400, 400, 400, 400)
	for _, tc := range []struct {
		name    string
		pause   Pause
		current int32
		usage   map[string]int64
		max     int32
		desired int32
		rescale bool
		// able is AbleToScale as status/reason: message.
		able string
	}{
		{name: "no pause scales up", current: 2, usage: high, desired: 3, rescale: true,
			able: "True/ReadyForNewScale: recommended size matches current size"},
		{name: "paused holds a scale-up", pause: all, current: 2, usage: high, desired: 3,
			able: "False/ScalingPaused: scaling is paused (annotation autoscaling.memhpa.io/paused): the replicas stay at 2, the MemHpa would set 3"},
		{name: "paused holds a scale-down", pause: all, current: 4, usage: low, desired: 2,
			able: "False/ScalingPaused: scaling is paused (annotation autoscaling.memhpa.io/paused): the replicas stay at 4, the MemHpa would set 2"},
		{name: "paused says so when no change is due", pause: all, current: 2, usage: use(800, 800), desired: 2,
			able: "False/ScalingPaused: scaling is paused (annotation autoscaling.memhpa.io/paused): the replicas stay at 2"},
		{name: "paused holds the clamp to maxReplicas", pause: all, current: 12, max: 10, desired: 10,
			able: "False/ScalingPaused: scaling is paused (annotation autoscaling.memhpa.io/paused): the replicas stay at 12, the MemHpa would set 10"},
		{name: "both one-way pauses hold everything", pause: Pause{ScaleUp: true, ScaleDown: true}, current: 4, usage: low, desired: 2,
			able: "False/ScalingPaused: scaling is paused (annotation autoscaling.memhpa.io/paused): the replicas stay at 4, the MemHpa would set 2"},
		{name: "paused-scale-in lets a scale-up through", pause: in, current: 2, usage: high, desired: 3, rescale: true,
			able: "True/ReadyForNewScale: recommended size matches current size"},
		{name: "paused-scale-in holds a scale-down", pause: in, current: 4, usage: low, desired: 2,
			able: "False/ScalingPaused: scale-downs are paused (annotation autoscaling.memhpa.io/paused-scale-in): the replicas stay at 4, the MemHpa would set 2"},
		{name: "paused-scale-out holds a scale-up", pause: out, current: 2, usage: high, desired: 3,
			able: "False/ScalingPaused: scale-ups are paused (annotation autoscaling.memhpa.io/paused-scale-out): the replicas stay at 2, the MemHpa would set 3"},
		{name: "paused-scale-out lets a scale-down through", pause: out, current: 4, usage: low, desired: 2, rescale: true,
			able: "True/ReadyForNewScale: recommended size matches current size"},
		{name: "a one-way pause with no change due leaves AbleToScale alone", pause: in, current: 2, usage: use(800, 800), desired: 2,
			able: "True/ReadyForNewScale: recommended size matches current size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			max := tc.max
			if max == 0 {
				max = 10
			}
			rec := Decide(Input{
				Spec: spec(memhpagen.WithMax(max)), CurrentReplicas: tc.current, Pods: web(int(tc.current)), Usage: tc.usage,
				History: old(tc.current), Config: DefaultConfig(), Pause: tc.pause,
			}, clocktesting.NewFakePassiveClock(now))
			if rec.DesiredReplicas != tc.desired || rec.Rescale != tc.rescale {
				t.Errorf("desired %d, rescale %t; want %d, %t", rec.DesiredReplicas, rec.Rescale, tc.desired, tc.rescale)
			}
			if held := tc.desired != tc.current && !tc.rescale; rec.Held != held {
				t.Errorf("held = %t, want %t", rec.Held, held)
			}
			a := ableToScale(rec)
			if got := string(a.Status) + "/" + a.Reason + ": " + a.Message; got != tc.able {
				t.Errorf("AbleToScale\n got %s\nwant %s", got, tc.able)
			}
		})
	}
}

// TestPauseKeepsTheHistory: while a scale-down is paused the decisions go
// on into the history, so unpausing neither skips the stabilization window
// (no instant scale-down) nor waits for a new one once it has passed.
func TestPauseKeepsTheHistory(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(now)
	in := Input{Spec: spec(), CurrentReplicas: 4, Pods: web(4), Config: DefaultConfig()}
	type step struct {
		after   time.Duration // since the previous step
		usage   map[string]int64
		pause   Pause
		desired int32
		rescale bool
	}
	var got, want []step
	for _, s := range []step{
		// 80 %: 4 replicas are right; the history starts at 4.
		{usage: use(800, 800, 800, 800), pause: Pause{ScaleDown: true}, desired: 4},
		// 40 %: memory asks for 2, the window (5 min) still holds 4.
		{after: time.Minute, usage: use(400, 400, 400, 400), pause: Pause{ScaleDown: true}, desired: 4},
		// Unpaused within the window: no instant scale-down.
		{after: time.Minute, usage: use(400, 400, 400, 400), desired: 4},
		// Paused again; the window passes: held at 2.
		{after: 4 * time.Minute, usage: use(400, 400, 400, 400), pause: Pause{ScaleDown: true}, desired: 2},
		// Unpaused after the window: the scale-down is made at once.
		{after: time.Second, usage: use(400, 400, 400, 400), desired: 2, rescale: true},
	} {
		clk.SetTime(clk.Now().Add(s.after))
		in.Usage, in.Pause = s.usage, s.pause
		rec := Decide(in, clk)
		in.History = rec.History
		got = append(got, step{after: s.after, usage: s.usage, pause: s.pause, desired: rec.DesiredReplicas, rescale: rec.Rescale})
		want = append(want, s)
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(step{})); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
}
