package calc

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/memhpa/memhpa/scaler/internal/gen"
	v1alpha1 "github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

// TestScaleUpCapHoldsForThePeriod reconciles one MemHpa several times within
// one sync period from the same samples, as a create, an edit, a retry and a
// re-delivered key do. Without behavior the HPA grows a target at most
// max(2×, 4) per period, whatever the number of decisions: 2 → 4, not
// 2 → 4 → 8 → 16.
func TestScaleUpCapHoldsForThePeriod(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SyncPeriod = 30 * time.Second
	clk := clocktesting.NewFakePassiveClock(now)
	// Two pods at 100 % of their limit against a 25 % target: memory asks
	// for 4× the replicas.
	s := spec(memhpagen.WithTarget(25), memhpagen.WithMax(100))
	h := History{}
	current := int32(2)
	var sizes []int32
	decide := func() {
		t.Helper()
		// The new pods have no sample yet (pending), the old ones still
		// report 100 %: the same cached Prometheus answer.
		pods := web(2)
		for i := 2; i < int(current); i++ {
			pods = append(pods, gen.Pod(podName(i), gen.WithPhase(corev1.PodPending)))
		}
		rec := Decide(Input{Spec: s, CurrentReplicas: current, Pods: pods, Usage: use(1000, 1000), History: h, Config: cfg}, clk)
		h = rec.History
		if rec.Rescale {
			h = RecordRescale(h, s.Behavior, cfg, clk.Now(), current, rec.DesiredReplicas)
			current = rec.DesiredReplicas
		}
		sizes = append(sizes, current)
	}
	for _, at := range []time.Duration{0, 200 * time.Millisecond, time.Second, 2 * time.Second, 29 * time.Second} {
		clk.SetTime(now.Add(at))
		decide()
	}
	if diff := cmp.Diff([]int32{4, 4, 4, 4, 4}, sizes); diff != "" {
		t.Errorf("sizes within one sync period (-want +got):\n%s", diff)
	}
	// The next period may double again.
	clk.SetTime(now.Add(31 * time.Second))
	decide()
	if current != 8 {
		t.Errorf("after one sync period: %d replicas, want 8", current)
	}
}

// TestHPAParity holds the cases where memhpa once differed from the HPA by
// accident.
func TestHPAParity(t *testing.T) {
	t.Run("scale-up events are kept as long as a scale-down policy counts them", func(t *testing.T) {
		// Scale-up policies look back 15 s, the scale-down policy 600 s: a
		// scale-up 5 minutes ago still counts in the size at the start of the
		// scale-down period (the HPA's calculateScaleDownLimitWithBehaviors).
		b := &v1alpha1.MemHpaBehavior{
			ScaleUp:   memhpagen.Rules(memhpagen.Policies(memhpagen.Policy(autoscalingv2.PodsScalingPolicy, 4, 15))),
			ScaleDown: memhpagen.Rules(memhpagen.Window(0), memhpagen.Policies(memhpagen.Policy(autoscalingv2.PodsScalingPolicy, 1, 600))),
		}
		h := History{ScaleUps: []Change{{Replicas: 4, At: now.Add(-5 * time.Minute)}}}
		got := RecordRescale(h, b, DefaultConfig(), now, 8, 9)
		if len(got.ScaleUps) != 2 {
			t.Fatalf("scale-up events after a scale-up = %+v, want the one of 5 minutes ago kept", got.ScaleUps)
		}
	})
	t.Run("out-of-range clamp sets no ScalingLimited", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			current int32
		}{{"above max", 12}, {"below min", 1}} {
			rec := Decide(Input{Spec: spec(memhpagen.WithMin(3), memhpagen.WithMax(10)), CurrentReplicas: tc.current, Pods: web(3), Config: DefaultConfig()},
				clocktesting.NewFakePassiveClock(now))
			for _, c := range rec.Conditions {
				if c.Type == ConditionScalingLimited {
					t.Errorf("%s: condition %+v, the HPA sets no ScalingLimited on this branch", tc.name, c)
				}
			}
			if !rec.Rescale {
				t.Errorf("%s: no rescale", tc.name)
			}
		}
	})
	t.Run("a metric failure leaves no recommendation", func(t *testing.T) {
		rec := Decide(Input{Spec: spec(), CurrentReplicas: 3, Pods: web(3), Usage: use(), Config: DefaultConfig()},
			clocktesting.NewFakePassiveClock(now))
		if rec.Recommended {
			t.Errorf("Recommended = true after a metric failure: the status would lose the last desired replicas")
		}
		rec = Decide(Input{Spec: spec(), CurrentReplicas: 3, Pods: web(3), Usage: use(800, 800, 800), Config: DefaultConfig()},
			clocktesting.NewFakePassiveClock(now))
		if !rec.Recommended {
			t.Errorf("Recommended = false after a good decision")
		}
	})
	t.Run("ignored pods are not asked for a limit (on purpose, docs/decisions.md)", func(t *testing.T) {
		failed := gen.Pod("web-2", gen.WithPhase(corev1.PodFailed), gen.Containers(memhpagen.Container("app", "", "")))
		rec := Decide(Input{Spec: spec(), CurrentReplicas: 3, Pods: append(web(2), failed), Usage: use(800, 800), Config: DefaultConfig()},
			clocktesting.NewFakePassiveClock(now))
		if !rec.Recommended || rec.Pods.Ignored != 1 {
			t.Errorf("a failed pod without a limit blocked the decision: %+v %+v", rec.Conditions, rec.Pods)
		}
	})
}
