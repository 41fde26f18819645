package calc

import (
	"math"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
)

// The HPA's limits on a scale-up when no behavior is set: at most double, or
// up to 4 replicas, whichever is more (kubernetes/kubernetes#32304: a bogus
// metric must not explode a workload).
const (
	scaleUpLimitFactor  = 2.0
	scaleUpLimitMinimum = 4.0
)

const (
	msgReadyForNewScale    = "recommended size matches current size"
	msgScaleDownStabilized = "recent recommendations were higher than current one, applying the highest recent recommendation"
	msgScaleUpStabilized   = "recent recommendations were lower than current one, applying the lowest recent recommendation"
	msgScaleUpLimit        = "the desired replica count is increasing faster than the maximum scale rate"
	msgScaleDownLimit      = "the desired replica count is decreasing faster than the maximum scale rate"
	msgTooMany             = "the desired replica count is more than the maximum replica count"
	msgTooFew              = "the desired replica count is less than the minimum replica count"
	msgWithinRange         = "the desired count is within the acceptable range"
)

// normalize is the HPA's normalizeDesiredReplicas: the highest recommendation
// of the downscale window, then min/max and the max(2×, 4) scale-up cap,
// counted from periodStart, the size at the start of the sync period.
func normalize(rec *Recommendation, now time.Time, window time.Duration, periodStart, current, metric int32, g guard, minReplicas, maxReplicas int32) int32 {
	stabilized := metric
	cutoff := now.Add(-window)
	old := -1
	for i, s := range rec.History.Recommendations {
		if s.At.Before(cutoff) {
			old = i
		} else if s.Replicas > stabilized {
			stabilized = s.Replicas
		}
	}
	rec.History.Recommendations = store(rec.History.Recommendations, old, Sample{Replicas: max(metric, g.floor), At: now})
	rec.StabilizedReplicas = stabilized
	if stabilized != metric {
		rec.Conditions = append(rec.Conditions, Condition{ConditionAbleToScale, metav1.ConditionTrue, ReasonScaleDownStabilized, msgScaleDownStabilized})
	} else {
		rec.Conditions = append(rec.Conditions, Condition{ConditionAbleToScale, metav1.ConditionTrue, ReasonReadyForNewScale, msgReadyForNewScale})
	}

	// Never below current: a cap already reached means "no further
	// scale-up this period", not a scale-down.
	upLimit := max(int32(math.Max(scaleUpLimitFactor*float64(periodStart), scaleUpLimitMinimum)), current)
	maxAllowed, reason, msg := maxReplicas, ReasonTooManyReplicas, msgTooMany
	if maxReplicas > upLimit {
		maxAllowed, reason, msg = upLimit, ReasonScaleUpLimit, msgScaleUpLimit
	}
	guarded := max(stabilized, g.floor)
	desired := guarded
	switch {
	case guarded < minReplicas:
		desired, reason, msg = minReplicas, ReasonTooFewReplicas, msgTooFew
	case guarded > maxAllowed:
		desired = maxAllowed
	default:
		reason, msg = ReasonDesiredWithinRange, msgWithinRange
	}
	settle(rec, g, metric, stabilized, guarded, desired, clampOf(reason, false), reason, msg)
	return desired
}

func limited(yes bool, reason, msg string) Condition {
	status := metav1.ConditionFalse
	if yes {
		status = metav1.ConditionTrue
	}
	return Condition{ConditionScalingLimited, status, reason, msg}
}

// store replaces one expired sample in place, or appends: the HPA's way of
// keeping the history as long as the window and no longer.
func store(samples []Sample, old int, s Sample) []Sample {
	if old >= 0 {
		samples[old] = s
		return samples
	}
	return append(samples, s)
}

// normalizeWithBehavior is the HPA's normalizeDesiredReplicasWithBehaviors:
// both stabilisation windows, then the rate policies over the recent rescales.
func normalizeWithBehavior(rec *Recommendation, now time.Time, b *v1alpha1.MemHpaBehavior, current, metric int32, g guard, minReplicas, maxReplicas int32) int32 {
	upCutoff := now.Add(-time.Duration(*b.ScaleUp.StabilizationWindowSeconds) * time.Second)
	downCutoff := now.Add(-time.Duration(*b.ScaleDown.StabilizationWindowSeconds) * time.Second)
	up, down := metric, metric
	old := -1
	for i, s := range rec.History.Recommendations {
		if s.At.After(upCutoff) {
			up = min(up, s.Replicas)
		}
		if s.At.After(downCutoff) {
			down = max(down, s.Replicas)
		}
		if s.At.Before(upCutoff) && s.At.Before(downCutoff) {
			old = i
		}
	}
	stabilized := min(max(current, up), down)
	rec.History.Recommendations = store(rec.History.Recommendations, old, Sample{Replicas: max(metric, g.floor), At: now})
	rec.StabilizedReplicas = stabilized
	switch {
	case stabilized == metric:
		rec.Conditions = append(rec.Conditions, Condition{ConditionAbleToScale, metav1.ConditionTrue, ReasonReadyForNewScale, msgReadyForNewScale})
	case metric >= current:
		rec.Conditions = append(rec.Conditions, Condition{ConditionAbleToScale, metav1.ConditionTrue, ReasonScaleUpStabilized, msgScaleUpStabilized})
	default:
		rec.Conditions = append(rec.Conditions, Condition{ConditionAbleToScale, metav1.ConditionTrue, ReasonScaleDownStabilized, msgScaleDownStabilized})
	}

	guarded := max(stabilized, g.floor)
	desired, reason, msg := guarded, ReasonDesiredWithinRange, msgWithinRange
	switch {
	case guarded > current:
		// Never below current: a limit under it means "no further scale-up
		// until the recent scale-ups age out".
		limit := max(rateLimit(current, rec.History, b.ScaleUp, now, true), current)
		maxAllowed := maxReplicas
		reason, msg = ReasonTooManyReplicas, msgTooMany
		if maxAllowed > limit {
			maxAllowed, reason, msg = limit, ReasonScaleUpLimit, msgScaleUpLimit
		}
		if guarded > maxAllowed {
			desired = maxAllowed
		} else {
			reason, msg = ReasonDesiredWithinRange, msgWithinRange
		}
	case guarded < current:
		limit := min(rateLimit(current, rec.History, b.ScaleDown, now, false), current)
		minAllowed := minReplicas
		reason, msg = ReasonTooFewReplicas, msgTooFew
		if minAllowed < limit {
			minAllowed, reason, msg = limit, ReasonScaleDownLimit, msgScaleDownLimit
		}
		if guarded < minAllowed {
			desired = minAllowed
		} else {
			reason, msg = ReasonDesiredWithinRange, msgWithinRange
		}
	}
	settle(rec, g, metric, stabilized, guarded, desired, clampOf(reason, true), reason, msg)
	return desired
}

// changeInPeriod sums the replicas changed by the rescales of the last period.
func changeInPeriod(changes []Change, now time.Time, periodSeconds int32) int32 {
	cutoff := now.Add(-time.Duration(periodSeconds) * time.Second)
	var n int32
	for _, c := range changes {
		if c.At.After(cutoff) {
			n += c.Replicas
		}
	}
	return n
}

// rateLimit is the HPA's calculateScaleUpLimitWithScalingRules (up) and
// calculateScaleDownLimitWithBehaviors (down): for each policy, the size at the
// start of its period moved by what the policy allows; Max picks the largest
// change, Min the smallest, Disabled forbids any change in that direction.
func rateLimit(current int32, h History, r *v1alpha1.MemHpaScalingRules, now time.Time, up bool) int32 {
	sel := *r.SelectPolicy
	if sel == autoscalingv2.DisabledPolicySelect {
		return current
	}
	// The largest change up is the highest size; the largest change down the lowest.
	highest := up == (sel != autoscalingv2.MinChangePolicySelect)
	result := int32(math.MaxInt32)
	if highest {
		result = math.MinInt32
	}
	for _, p := range r.Policies {
		start := current - changeInPeriod(h.ScaleUps, now, p.PeriodSeconds) + changeInPeriod(h.ScaleDowns, now, p.PeriodSeconds)
		var proposed int32
		switch {
		case p.Type == autoscalingv2.PodsScalingPolicy && up:
			proposed = start + p.Value
		case p.Type == autoscalingv2.PodsScalingPolicy:
			proposed = start - p.Value
		case p.Type == autoscalingv2.PercentScalingPolicy && up:
			// Rounded up, or a small workload could never grow.
			proposed = int32(math.Ceil(float64(start) * (1 + float64(p.Value)/100)))
		case p.Type == autoscalingv2.PercentScalingPolicy:
			proposed = int32(float64(start) * (1 - float64(p.Value)/100))
		default:
			continue
		}
		if highest {
			result = max(result, proposed)
		} else {
			result = min(result, proposed)
		}
	}
	return result
}

// withDefaults returns a copy of b with the autoscaling/v2 defaults filled in
// field by field (pkg/apis/autoscaling/v2/defaults.go), and the scale-down
// window from the flag when unset, as the HPA controller does.
func withDefaults(b *v1alpha1.MemHpaBehavior, downWindow time.Duration) *v1alpha1.MemHpaBehavior {
	out := b.DeepCopy()
	maxSel := autoscalingv2.MaxChangePolicySelect
	if out.ScaleUp == nil {
		out.ScaleUp = &v1alpha1.MemHpaScalingRules{}
	}
	if out.ScaleUp.StabilizationWindowSeconds == nil {
		out.ScaleUp.StabilizationWindowSeconds = new(int32(0))
	}
	if out.ScaleUp.SelectPolicy == nil {
		out.ScaleUp.SelectPolicy = &maxSel
	}
	if len(out.ScaleUp.Policies) == 0 {
		out.ScaleUp.Policies = []v1alpha1.MemHpaScalingPolicy{
			{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
		}
	}
	if out.ScaleDown == nil {
		out.ScaleDown = &v1alpha1.MemHpaScalingRules{}
	}
	if out.ScaleDown.StabilizationWindowSeconds == nil {
		out.ScaleDown.StabilizationWindowSeconds = new(int32(downWindow / time.Second))
	}
	if out.ScaleDown.SelectPolicy == nil {
		out.ScaleDown.SelectPolicy = &maxSel
	}
	if len(out.ScaleDown.Policies) == 0 {
		out.ScaleDown.Policies = []v1alpha1.MemHpaScalingPolicy{
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
		}
	}
	return out
}
