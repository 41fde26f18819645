package calc

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/memhpa/memhpa/scaler/internal/gen"
	v1alpha1 "github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

// killed is an OOM kill of container of pod web-i, ago before now, after
// restarts restarts.
func killed(i int, container string, ago time.Duration, restarts int32) OOMKill {
	return OOMKill{Pod: podName(i), Container: container, FinishedAt: now.Add(-ago), RestartCount: restarts}
}

// TestDecideOOMKills: a counted container OOM-killed within the window counts
// at 100 % of its limit whatever its sample, and holds every scale-down back
// (issue 13 item 2); three pods at 10 % of their limits would otherwise go
// to one replica.
func TestDecideOOMKills(t *testing.T) {
	recent := gen.OOMKilled("app", now.Add(-time.Minute), 1)
	// Three pods of app and proxy, web-0 with kill; each container at 100.
	appAndProxyKilled := func(kill gen.PodOption) []*corev1.Pod {
		return []*corev1.Pod{appAndProxy("web-0", kill), appAndProxy("web-1"), appAndProxy("web-2")}
	}
	idle := map[string]int64{"app": 100, "proxy": 100}
	idleByCont := map[string]map[string]int64{"web-0": idle, "web-1": idle, "web-2": idle}
	for _, tc := range []struct {
		name    string
		spec    v1alpha1.MemHpaSpec
		pods    []*corev1.Pod
		usage   map[string]int64
		byCont  map[string]map[string]int64
		window  *time.Duration
		desired int32
		metric  int32
		util    int32
		limited string // ScalingLimited's reason
		held    bool
		kills   []OOMKill
		counts  *PodCount
	}{
		{
			name: "control: no kill, three pods at 10 % go to one", spec: spec(),
			pods: web(3), usage: use(100, 100, 100),
			desired: 1, metric: 1, util: 10, limited: ReasonDesiredWithinRange,
		},
		{
			name: "a kill inside the window: the container at 100 %, the scale-down held", spec: spec(),
			pods: []*corev1.Pod{gen.Pod("web-0", recent), gen.Pod("web-1"), gen.Pod("web-2")}, usage: use(100, 100, 100),
			// (1000 + 100 + 100) / 3000 = 40 % → ceil(0.5 × 3) = 2, held at 3.
			desired: 3, metric: 2, util: 40, limited: ReasonRecentOOMKill, held: true,
			kills:  []OOMKill{killed(0, "app", time.Minute, 1)},
			counts: &PodCount{Selected: 3, Counted: 3},
		},
		{
			name: "a kill as old as the window still counts", spec: spec(),
			pods:  []*corev1.Pod{gen.Pod("web-0", gen.OOMKilled("app", now.Add(-DefaultOOMKillWindow), 1)), gen.Pod("web-1"), gen.Pod("web-2")},
			usage: use(100, 100, 100), desired: 3, metric: 2, util: 40, limited: ReasonRecentOOMKill, held: true,
			kills: []OOMKill{killed(0, "app", DefaultOOMKillWindow, 1)},
		},
		{
			name: "a kill that finished after now (a node's clock ahead) counts", spec: spec(),
			pods:  []*corev1.Pod{gen.Pod("web-0", gen.OOMKilled("app", now.Add(5*time.Second), 1)), gen.Pod("web-1"), gen.Pod("web-2")},
			usage: use(100, 100, 100), desired: 3, metric: 2, util: 40, limited: ReasonRecentOOMKill, held: true,
			kills: []OOMKill{killed(0, "app", -5*time.Second, 1)},
		},
		{
			name: "a kill outside the window is ignored", spec: spec(),
			pods:  []*corev1.Pod{gen.Pod("web-0", gen.OOMKilled("app", now.Add(-DefaultOOMKillWindow-time.Second), 3)), gen.Pod("web-1"), gen.Pod("web-2")},
			usage: use(100, 100, 100), desired: 1, metric: 1, util: 10, limited: ReasonDesiredWithinRange,
		},
		{
			name: "a window of 0 turns the rule off", spec: spec(), window: new(time.Duration(0)),
			pods: []*corev1.Pod{gen.Pod("web-0", recent), gen.Pod("web-1"), gen.Pod("web-2")}, usage: use(100, 100, 100),
			desired: 1, metric: 1, util: 10, limited: ReasonDesiredWithinRange,
		},
		{
			name: "a container ended for another reason is not a kill", spec: spec(),
			pods: []*corev1.Pod{gen.Pod("web-0", recent, func(p *corev1.Pod) {
				p.Status.ContainerStatuses[0].LastTerminationState.Terminated.Reason = "Error"
			}), gen.Pod("web-1"), gen.Pod("web-2")},
			usage: use(100, 100, 100), desired: 1, metric: 1, util: 10, limited: ReasonDesiredWithinRange,
		},
		{
			name: "with container app, a kill in the sidecar is ignored", spec: spec(memhpagen.WithContainer("app")),
			pods:  appAndProxyKilled(gen.OOMKilled("proxy", now.Add(-time.Minute), 1)),
			usage: use(200, 200, 200), byCont: idleByCont,
			desired: 1, metric: 1, util: 10, limited: ReasonDesiredWithinRange,
		},
		{
			name: "with container app, a kill in app counts", spec: spec(memhpagen.WithContainer("app")),
			pods:  appAndProxyKilled(gen.OOMKilled("app", now.Add(-time.Minute), 1)),
			usage: use(200, 200, 200), byCont: idleByCont,
			desired: 3, metric: 2, util: 40, limited: ReasonRecentOOMKill, held: true,
			kills: []OOMKill{killed(0, "app", time.Minute, 1)},
		},
		{
			name: "the whole pod: a kill in the sidecar counts it at its own limit", spec: spec(),
			pods:  appAndProxyKilled(gen.OOMKilled("proxy", now.Add(-time.Minute), 2)),
			usage: use(200, 200, 200), byCont: idleByCont,
			// (100 + 10000 + 200 + 200) / 33000 = 31 % → ceil(0.3875 × 3) = 2, held.
			desired: 3, metric: 2, util: 31, limited: ReasonRecentOOMKill, held: true,
			kills: []OOMKill{killed(0, "proxy", time.Minute, 2)},
		},
		{
			name: "a native sidecar's kill counts", spec: spec(),
			pods: []*corev1.Pod{
				gen.Pod("web-0", gen.InitContainers(memhpagen.Sidecar("proxy", "1000")), gen.OOMKilled("proxy", now.Add(-time.Minute), 1)),
				gen.Pod("web-1", gen.InitContainers(memhpagen.Sidecar("proxy", "1000"))), gen.Pod("web-2", gen.InitContainers(memhpagen.Sidecar("proxy", "1000"))),
			},
			usage: use(200, 200, 200), byCont: idleByCont,
			// (100 + 1000 + 200 + 200) / 6000 = 25 % → ceil(0.3125 × 3) = 1, held.
			desired: 3, metric: 1, util: 25, limited: ReasonRecentOOMKill, held: true,
			kills: []OOMKill{killed(0, "proxy", time.Minute, 1)},
		},
		{
			name: "an ordinary init container's kill does not count", spec: spec(),
			pods: []*corev1.Pod{
				gen.Pod("web-0", gen.InitContainers(memhpagen.Container("setup", "1000", "")), gen.OOMKilled("setup", now.Add(-time.Minute), 1)),
				gen.Pod("web-1"), gen.Pod("web-2"),
			},
			usage: use(100, 100, 100), desired: 1, metric: 1, util: 10, limited: ReasonDesiredWithinRange,
		},
		{
			name: "a pod-level limit: the pod counts at it", spec: spec(),
			pods: []*corev1.Pod{
				gen.Pod("web-0", gen.PodLimit("1000"), recent), gen.Pod("web-1", gen.PodLimit("1000")), gen.Pod("web-2", gen.PodLimit("1000")),
			},
			usage: use(100, 100, 100), desired: 3, metric: 2, util: 40, limited: ReasonRecentOOMKill, held: true,
			kills: []OOMKill{killed(0, "app", time.Minute, 1)},
		},
		{
			name: "a kill in a pod being deleted is ignored", spec: spec(),
			pods: []*corev1.Pod{gen.Pod("web-0"), gen.Pod("web-1"), gen.Pod("web-2", gen.Deleting(), recent)}, usage: use(100, 100, 100),
			// 10 % over the two pods left → 1.
			desired: 1, metric: 1, util: 10, limited: ReasonDesiredWithinRange,
		},
		{
			name: "scale-up is allowed during the hold", spec: spec(),
			pods: []*corev1.Pod{gen.Pod("web-0"), gen.Pod("web-1", recent), gen.Pod("web-2")}, usage: use(1000, 1000, 1000),
			desired: 4, metric: 4, util: 100, limited: ReasonDesiredWithinRange,
			kills: []OOMKill{killed(1, "app", time.Minute, 1)},
		},
		{
			name: "the restarted container's small figure no longer drags the average down: a scale-up", spec: spec(),
			pods: []*corev1.Pod{gen.Pod("web-0", recent), gen.Pod("web-1"), gen.Pod("web-2")}, usage: use(50, 950, 950),
			// Without the rule (50 + 950 + 950) / 3000 = 65 % → 3, the size
			// kept; with it 96 % → ceil(1.2 × 3) = 4.
			desired: 4, metric: 4, util: 96, limited: ReasonDesiredWithinRange,
			kills: []OOMKill{killed(0, "app", time.Minute, 1)},
		},
		{
			name: "a killed pod without a sample counts at 100 %, on a scale-up too", spec: spec(),
			pods: []*corev1.Pod{gen.Pod("web-0", recent), gen.Pod("web-1"), gen.Pod("web-2")}, usage: use(-1, 1000, 1000),
			// Missing, it would count 0 % on this scale-up and flip it; at
			// 100 %: ceil(1.25 × 3) = 4.
			desired: 4, metric: 4, util: 100, limited: ReasonDesiredWithinRange,
			kills:  []OOMKill{killed(0, "app", time.Minute, 1)},
			counts: &PodCount{Selected: 3, Counted: 3},
		},
		{
			name: "with behavior, the hold comes after the rate policies", spec: spec(memhpagen.WithBehavior(nil, memhpagen.Rules(memhpagen.Window(0)))),
			pods: []*corev1.Pod{gen.Pod("web-0", recent), gen.Pod("web-1"), gen.Pod("web-2")}, usage: use(100, 100, 100),
			desired: 3, metric: 2, util: 40, limited: ReasonRecentOOMKill, held: true,
			kills: []OOMKill{killed(0, "app", time.Minute, 1)},
		},
		{
			name: "kills in two pods are both named", spec: spec(),
			pods:  []*corev1.Pod{gen.Pod("web-0", recent), gen.Pod("web-1"), gen.Pod("web-2", gen.OOMKilled("app", now.Add(-2*time.Minute), 4))},
			usage: use(100, 100, 100),
			// (1000 + 100 + 1000) / 3000 = 70 % → within the tolerance: 3,
			// nothing to hold.
			desired: 3, metric: 3, util: 70, limited: ReasonDesiredWithinRange,
			kills: []OOMKill{killed(0, "app", time.Minute, 1), killed(2, "app", 2*time.Minute, 4)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.window != nil {
				cfg.OOMKillWindow = *tc.window
			}
			in := Input{Spec: tc.spec, CurrentReplicas: 3, Pods: tc.pods, Usage: tc.usage, ContainerUsage: tc.byCont, History: old(3), Config: cfg}
			got := Decide(in, clocktesting.NewFakePassiveClock(now))
			util := int32(-1)
			if got.Utilization != nil {
				util = *got.Utilization
			}
			if got.DesiredReplicas != tc.desired || got.MetricReplicas != tc.metric || util != tc.util {
				t.Errorf("desired, metric, utilization = %d, %d, %d %%; want %d, %d, %d %%", got.DesiredReplicas, got.MetricReplicas, util, tc.desired, tc.metric, tc.util)
			}
			var limited Condition
			for _, c := range got.Conditions {
				if c.Type == ConditionScalingLimited {
					limited = c
				}
			}
			if limited.Reason != tc.limited || (limited.Status == "True") != tc.held {
				t.Errorf("ScalingLimited = %s (%s): %s; want reason %s, held %t", limited.Status, limited.Reason, limited.Message, tc.limited, tc.held)
			}
			if got.HeldByOOMKill != tc.held || len(got.OOMKills) != len(tc.kills) {
				t.Errorf("HeldByOOMKill, OOM kills = %t, %d; want %t, %d", got.HeldByOOMKill, len(got.OOMKills), tc.held, len(tc.kills))
			}
			if diff := cmp.Diff(tc.kills, got.OOMKills); diff != "" {
				t.Errorf("OOM kills (-want +got):\n%s", diff)
			}
			// status.lastDecision says the same.
			if d := got.Decision; d == nil || d.OOMKilledRecently != int32(len(tc.kills)) ||
				(d.LimitedBy == v1alpha1.LimitedByRecentOOMKill) != tc.held {
				t.Errorf("lastDecision = %+v; want oomKilledRecently %d, limitedBy RecentOOMKill %t", d, len(tc.kills), tc.held)
			}
			if tc.counts != nil {
				if diff := cmp.Diff(*tc.counts, got.Pods); diff != "" {
					t.Errorf("pod counts (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestOOMKillHoldMessage: ScalingLimited names the pod, the container and
// when it was killed.
func TestOOMKillHoldMessage(t *testing.T) {
	pods := []*corev1.Pod{gen.Pod("web-0", gen.OOMKilled("app", now.Add(-time.Minute), 1)), gen.Pod("web-1"), gen.Pod("web-2")}
	got := Decide(Input{Spec: spec(), CurrentReplicas: 3, Pods: pods, Usage: use(100, 100, 100), History: old(3), Config: DefaultConfig()},
		clocktesting.NewFakePassiveClock(now))
	want := Condition{ConditionScalingLimited, "True", ReasonRecentOOMKill,
		"a scale-down to 2 was held back: 1 counted container(s) were OOM-killed within the last 10m0s: [web-0/app at 2026-11-26T11:59:00Z]"}
	if diff := cmp.Diff(want, got.Conditions[len(got.Conditions)-1]); diff != "" {
		t.Errorf("last condition (-want +got):\n%s", diff)
	}
}

// TestOOMKillHoldKeepsTheRawRecommendation decides every 30 s, as the
// controller does, over pods at 10 % of their limits, one of them OOM-killed
// a minute before the start: the size holds while the kill is in the window,
// then follows the recommendations recorded during the hold (2, with the
// killed container at 100 %), not the held size (3), and reaches 1 once they
// leave the 5-minute stabilisation window.
func TestOOMKillHoldKeepsTheRawRecommendation(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(now)
	h := History{}
	current := int32(3)
	type step struct {
		at       time.Duration
		replicas int32
	}
	var trajectory []step
	for at := time.Duration(0); at <= 16*time.Minute; at += 30 * time.Second {
		clk.SetTime(now.Add(at))
		pods := []*corev1.Pod{gen.Pod("web-0", gen.OOMKilled("app", now.Add(-time.Minute), 1)), gen.Pod("web-1"), gen.Pod("web-2")}
		rec := Decide(Input{Spec: spec(), CurrentReplicas: current, Pods: pods[:current], Usage: use(100, 100, 100), History: h, Config: DefaultConfig()}, clk)
		h = rec.History
		if rec.Rescale {
			h = RecordRescale(h, nil, DefaultConfig(), clk.Now(), current, rec.DesiredReplicas)
			current = rec.DesiredReplicas
			trajectory = append(trajectory, step{at, current})
		}
	}
	// The kill is 10 minutes old at 9m and leaves the window at 9m30s.
	want := []step{{9*time.Minute + 30*time.Second, 2}, {14*time.Minute + 30*time.Second, 1}}
	if diff := cmp.Diff(want, trajectory, cmp.AllowUnexported(step{})); diff != "" {
		t.Errorf("rescales (-want +got):\n%s", diff)
	}
}

// TestOOMKillFiresTheGuard: a container OOM-killed within the window counts
// at 100 % of its limit for the hot-container guard too, whatever its small
// sample after the restart; it is the hottest container of the decision.
func TestOOMKillFiresTheGuard(t *testing.T) {
	pods := []*corev1.Pod{gen.Pod("web-0", gen.OOMKilled("app", now.Add(-time.Minute), 1)), gen.Pod("web-1"), gen.Pod("web-2")}
	s := spec()
	s.MaxContainerUtilizationPercentage = ptr.To[int32](95)
	for _, tc := range []struct {
		name    string
		window  time.Duration
		desired int32
		limited v1alpha1.LimitedBy
	}{
		{"the kill counts: one replica more", 10 * time.Minute, 4, v1alpha1.LimitedByHotContainerGuard},
		{"the rule off: the scale-down goes on", 0, 1, v1alpha1.LimitedByNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.OOMKillWindow = tc.window
			got := Decide(Input{Spec: s, CurrentReplicas: 3, Pods: pods, Usage: use(100, 100, 100), History: old(3), Config: cfg},
				clocktesting.NewFakePassiveClock(now))
			if got.DesiredReplicas != tc.desired || got.Decision == nil || got.Decision.LimitedBy != tc.limited {
				t.Fatalf("desired %d, lastDecision %+v; want %d limited by %s", got.DesiredReplicas, got.Decision, tc.desired, tc.limited)
			}
			if h := got.Decision.Hottest; tc.window > 0 && (h == nil || h.Pod != "web-0" || h.UtilizationPercentage != 100) {
				t.Errorf("hottest = %+v, want web-0/app at 100 %%", h)
			}
		})
	}
}
