package calc

import (
	"fmt"
	"math"
	"math/big"

	corev1 "k8s.io/api/core/v1"

	v1alpha1 "github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
)

// The hot-container guard (spec.maxContainerUtilizationPercentage, issue 13
// item 3) and the account of a decision (status.lastDecision, item 5).
//
// An average hides the one container about to be killed at its own limit.
// The guard looks at every counted container against the limit that applies
// to it (memoryLimit with that container's name: the smaller of spec and
// status, bounded by a pod-level limit), and when one is above the guard's
// share, the decision asks for at least one replica more than at the start of
// the sync period and never fewer than now. It acts after both stabilization
// windows (a container near its OOM line must not wait for an up window), and
// before the rate limits and maxReplicas, which still bound it. Its count is
// stored as the period's recommendation, so the scale-down window holds it
// for its length after the container cools, as it holds any recommendation.

// guard is what the hot-container guard asks of one decision: at least floor
// replicas (0: nothing), and why, for the event and the condition.
type guard struct {
	floor int32
	msg   string
}

// guardOf is the guard for a decision at current replicas, periodStart being
// the size at the start of the sync period.
func guardOf(spec *v1alpha1.MemHpaSpec, hot *v1alpha1.HottestContainer, current, periodStart int32) guard {
	limit := spec.MaxContainerUtilizationPercentage
	if limit == nil || hot == nil || hot.UtilizationPercentage <= *limit {
		return guard{}
	}
	floor := max(current, periodStart+1)
	return guard{floor: floor, msg: fmt.Sprintf(
		"container %q of pod %q is at %d%% of its memory limit, above maxContainerUtilizationPercentage (%d%%): at least %d replicas, one more than at the start of the sync period (%d)",
		hot.Container, hot.Pod, hot.UtilizationPercentage, *limit, floor, periodStart)}
}

// hottestContainer is the counted container with the highest working set as a
// share of its own limit; ties go to the first pod, then container, by name
// (why: the status is written only when it changes, so it must not flip
// between equals). Only the containers of counted pods that Prometheus
// reported are judged, and not one whose limit is its request: nothing kills
// a container at its request.
func hottestContainer(pods []*corev1.Pod, g groups, container string, usage podUsage) *v1alpha1.HottestContainer {
	var best *v1alpha1.HottestContainer
	for _, p := range pods {
		if _, counted := g.usage[p.Name]; !counted {
			continue
		}
		for name, ws := range usage.containers[p.Name] {
			if container != "" && name != container {
				continue
			}
			l := memoryLimit(p, name)
			if l.absent || l.missing != "" || len(l.fromRequest) > 0 || l.bytes <= 0 {
				continue
			}
			c := v1alpha1.HottestContainer{Pod: p.Name, Container: name, UtilizationPercentage: percentOf(ws, l.bytes)}
			if best == nil || hotter(c, *best) {
				best = &c
			}
		}
	}
	// A container OOM-killed within the window counts at 100 % of its
	// limit whatever its sample (oom.go), for the guard too.
	for _, k := range g.oomKills {
		c := v1alpha1.HottestContainer{Pod: k.Pod, Container: k.Container, UtilizationPercentage: 100}
		if best == nil || hotter(c, *best) {
			best = &c
		}
	}
	return best
}

func hotter(a, b v1alpha1.HottestContainer) bool {
	if a.UtilizationPercentage != b.UtilizationPercentage {
		return a.UtilizationPercentage > b.UtilizationPercentage
	}
	if a.Pod != b.Pod {
		return a.Pod < b.Pod
	}
	return a.Container < b.Container
}

// percentOf is used as an integer percentage of limit, rounded down as the
// HPA's utilizations are, exact for any int64 and capped at MaxInt32.
func percentOf(used, limit int64) int32 {
	p := new(big.Int).Quo(new(big.Int).Mul(big.NewInt(used), big.NewInt(100)), big.NewInt(limit))
	if !p.IsInt64() || p.Int64() > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(p.Int64())
}

// step records that a step of the decision changed the count from before to
// after: limitedBy names the last step that did.
func step(d *v1alpha1.MemHpaDecision, before, after int32, by v1alpha1.LimitedBy) {
	if d != nil && before != after {
		d.LimitedBy = by
	}
}

// settle ends normalisation: from the stabilized count, the guard lifts it to
// guarded, then the bounds and rate limits make it desired (reason and msg of
// the limit that applies, clamp its name in status). It appends the
// ScalingLimited condition, the guard's event, and records in the decision
// which step last changed the count.
func settle(rec *Recommendation, g guard, metric, stabilized, guarded, desired int32, clamp v1alpha1.LimitedBy, reason, msg string) {
	if guarded != stabilized {
		rec.Warnings = append(rec.Warnings, Warning{ReasonHotContainer, g.msg})
	}
	if desired == guarded && guarded != stabilized {
		rec.Conditions = append(rec.Conditions, limited(true, ReasonHotContainer, g.msg))
	} else {
		rec.Conditions = append(rec.Conditions, limited(desired != guarded, reason, msg))
	}
	d := rec.Decision
	step(d, metric, stabilized, v1alpha1.LimitedByStabilization)
	step(d, stabilized, guarded, v1alpha1.LimitedByHotContainerGuard)
	step(d, guarded, desired, clamp)
}

// clampOf names a ScalingLimited reason in status.lastDecision.limitedBy.
func clampOf(reason string, behavior bool) v1alpha1.LimitedBy {
	switch {
	case reason == ReasonTooManyReplicas:
		return v1alpha1.LimitedByMaxReplicas
	case reason == ReasonTooFewReplicas:
		return v1alpha1.LimitedByMinReplicas
	case behavior:
		return v1alpha1.LimitedByPolicy
	}
	return v1alpha1.LimitedByScaleUpLimit
}

// decisionOf starts the account of a decision from its pod groups.
func decisionOf(g groups) *v1alpha1.MemHpaDecision {
	return &v1alpha1.MemHpaDecision{
		PodsCounted: int32(len(g.usage)),
		PodsMissing: int32(len(g.missing)),
		PodsIgnored: v1alpha1.IgnoredPods{
			Pending: int32(len(g.pending)), Deleting: int32(g.deleting), Finished: int32(g.finished), NoMemoryLimit: int32(g.noLimit),
		},
	}
}
