// Package calc decides how many replicas a MemHpa's target should have. It is
// pure: pods, memory samples, the spec, the recommendation history and a clock
// go in; a recommendation with its conditions, warnings and the next history
// comes out. No clients, no logs, no time.Now().
//
// The rules are the Kubernetes HorizontalPodAutoscaler's for a Resource
// Utilization metric (kubernetes/kubernetes pkg/controller/podautoscaler,
// replica_calculator.go and horizontal.go), with two differences that memory
// calls for:
//
//   - the denominator is the pods' memory limits, not their requests: the limit
//     is what gets a container killed. A container without a limit counts with
//     its request; a container with neither makes the pod uncountable, and a
//     MemHpa with an uncountable pod does not scale (reason MissingMemoryLimit),
//     as the HPA does not scale when a request is missing.
//   - pods that have Succeeded are ignored like Failed ones: they hold no memory
//     and will not come back.
//   - a limit is the one that applies: the smaller of the spec's and the one
//     the pod's status reports (limits.go says why the smaller is safe).
//
// With spec.container, only that container's working set and limit count, as
// for the HPA's ContainerResource metric; a pod without it is missing.
//
// A counted container OOM-killed within Config.OOMKillWindow counts at 100 %
// of its limit whatever its sample, and while there is one the MemHpa does
// not scale down (oom.go).
// With spec.maxContainerUtilizationPercentage, one counted container above
// that share of its own limit asks for a replica more (guard.go), which an
// average would hide. Every decision says in Recommendation.Decision
// (status.lastDecision) which step last changed memory's own count.
//
// Like the HPA for every metric but CPU, readiness is not consulted: a Running
// pod that is not Ready still holds its memory, and that memory is what the
// limit kills on. Pending pods are "unready": left out, or counted at 0 % on a
// scale-up.
//
// With spec.cpuTargetUtilizationPercentage, CPU is a second metric with the
// HPA's CPU rules, readiness included, and the larger recommendation applies
// (cpu.go).
package calc

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	v1alpha1 "github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
)

// Config holds the scaler-wide settings (flags).
type Config struct {
	// Tolerance is the default tolerance on the usage ratio in both
	// directions (the HPA's --horizontal-pod-autoscaler-tolerance, 0.1).
	Tolerance float64
	// DownscaleStabilization is the scale-down window used when a MemHpa has
	// no behavior, or a behavior without scaleDown.stabilizationWindowSeconds
	// (the HPA's default is 5 minutes).
	DownscaleStabilization time.Duration
	// CPUInitializationPeriod and InitialReadinessDelay are the HPA's CPU
	// readiness rules (cpu.go), kube-controller-manager's
	// --horizontal-pod-autoscaler-cpu-initialization-period and
	// --horizontal-pod-autoscaler-initial-readiness-delay.
	CPUInitializationPeriod time.Duration
	InitialReadinessDelay   time.Duration
	// SyncPeriod is the period of the max(2×, 4) scale-up cap of a MemHpa
	// without behavior: however many decisions a period holds (a create, an
	// edit, retries), the target grows at most that much from its size at the
	// period's start, as the HPA, which decides once a period, does. Zero
	// means every decision is its own period.
	SyncPeriod time.Duration
	// OOMKillWindow is how long an OOM kill counts (--oom-kill-window): a
	// counted container whose last termination was an OOM kill that
	// finished within it counts at 100 % of its limit, and the MemHpa does
	// not scale down (oom.go). Zero turns the rule off.
	OOMKillWindow time.Duration
}

// DefaultConfig is the HPA's configuration, and the scaler's default
// OOM-kill window (the HPA has no such rule).
func DefaultConfig() Config {
	return Config{Tolerance: 0.1, DownscaleStabilization: 5 * time.Minute, SyncPeriod: 30 * time.Second,
		CPUInitializationPeriod: DefaultCPUInitializationPeriod, InitialReadinessDelay: DefaultInitialReadinessDelay, OOMKillWindow: DefaultOOMKillWindow}
}

// Input is everything one decision needs, gathered by the controller.
type Input struct {
	Spec v1alpha1.MemHpaSpec
	// CurrentReplicas is the target's scale.spec.replicas.
	CurrentReplicas int32
	// Pods are the pods selected by the scale's status.selector.
	Pods []*corev1.Pod
	// Usage is the memory working set in bytes of each pod, by pod name. A pod
	// without an entry has no usable sample. Decide only reads it: the
	// controller hands the same map to every MemHpa of a namespace.
	Usage map[string]int64
	// ContainerUsage is the working set in bytes of each container with a
	// usable sample, by pod and container name; read when the spec names a
	// container, and for the containers of a pod OOM-killed recently. Only
	// read, like Usage.
	ContainerUsage map[string]map[string]int64
	// Duplicated lists, by pod name, the containers that more than one
	// Prometheus series reported; their usage above counts each once, at its
	// largest figure. Only read, like Usage.
	Duplicated map[string][]string
	// UsageErr is set when the samples could not be fetched at all.
	UsageErr error
	// CPU is what Prometheus said of the pods' CPU use; read only when the
	// spec sets a CPU target.
	CPU CPUSamples
	// History is what earlier decisions for this MemHpa left behind.
	History History
	Config  Config
	// Pause holds the directions of change the MemHpa's pause annotations
	// stop (v1alpha1.PausedDirections); the zero value holds none.
	Pause Pause
}

// Pause says which directions of change are held. A held change is still
// decided, through the same history, and reported: only its write is left out.
type Pause struct {
	ScaleUp, ScaleDown bool
}

// Condition is one status condition proposed by the decision.
type Condition struct {
	Type    string
	Status  metav1.ConditionStatus
	Reason  string
	Message string
}

// Warning is a problem to report as a Warning event.
type Warning struct {
	Reason  string
	Message string
}

// PodCount tells which pods the decision used and why the others were left out.
type PodCount struct {
	// Selected is the number of pods given.
	Selected int
	// Counted pods had a sample and a limit and entered the average.
	Counted int
	// Missing pods are running but had no usable sample.
	Missing int
	// Pending pods have not started.
	Pending int
	// Ignored pods are being deleted, or have failed or succeeded.
	Ignored int
	// RequestAsLimit lists "pod/container" whose request stood in for a
	// missing limit.
	RequestAsLimit []string
	// DuplicateSeries lists "pod/container" that more than one Prometheus
	// series reported (counted once, at the largest figure).
	DuplicateSeries []string
}

// Recommendation is the outcome of one decision.
type Recommendation struct {
	CurrentReplicas int32
	// DesiredReplicas is what the target should be scaled to; equal to
	// CurrentReplicas when nothing should change.
	DesiredReplicas int32
	// Rescale is true when DesiredReplicas differs from CurrentReplicas.
	Rescale bool
	// Recommended is false when no replica count could be computed (memory
	// could not be measured): the status then keeps the last desired
	// replicas, as the HPA's does.
	Recommended bool
	// RescaleReason is the "reason:" of the rescale event.
	RescaleReason string
	// MetricReplicas is the replica count memory alone asks for, before
	// stabilisation and limits; 0 when it was not computed.
	MetricReplicas int32
	// StabilizedReplicas is MetricReplicas after the stabilisation window.
	StabilizedReplicas int32
	// Utilization is the average usage as an integer percentage of the
	// limits, nil when it could not be measured.
	Utilization *int32
	// AverageBytes is the average working set of the counted pods.
	AverageBytes int64
	Pods         PodCount
	// Conditions to set on the status, in order.
	Conditions []Condition
	// Warnings to report as events.
	Warnings []Warning
	// OOMKills names the counted containers OOM-killed within
	// Config.OOMKillWindow (the controller reports each kill once, as an
	// event).
	OOMKills []OOMKill
	// HeldByOOMKill is true when such a kill held a scale-down back:
	// DesiredReplicas is then CurrentReplicas, and ScalingLimited is True
	// with reason RecentOOMKill. The history still holds the raw
	// recommendation.
	HeldByOOMKill bool
	// Decision explains the decision, for status.lastDecision; nil when no
	// pod was examined (Prometheus failed, no pods, or the target at zero or
	// outside its bounds).
	Decision *v1alpha1.MemHpaDecision
	// CPU is what CPU said, beside memory; nil without a CPU target.
	CPU *CPURecommendation
	// History to keep for the next decision. Scale events are added by
	// RecordRescale once the rescale has been written.
	History History
	// Held is true when Input.Pause held the change: DesiredReplicas is the
	// size that would be set, and Rescale is false.
	Held bool
}

// Sample is one past recommendation.
type Sample struct {
	Replicas int32
	At       time.Time
}

// Change is one past rescale: how many replicas were added or removed.
type Change struct {
	Replicas int32
	At       time.Time
}

// History is what the HPA keeps in memory per autoscaler: the recent raw
// recommendations (for stabilisation) and, when a behavior is set, the recent
// rescales in each direction (for the rate policies). The zero value is the
// history of a MemHpa never seen before.
type History struct {
	Recommendations []Sample
	ScaleUps        []Change
	ScaleDowns      []Change
}

// errCalc is a failure to compute a replica count from memory, with the
// condition and event reason that reports it.
type errCalc struct {
	reason string
	msg    string
}

func (e *errCalc) Error() string { return e.msg }

func failedMetric(format string, args ...any) error {
	return &errCalc{reason: ReasonFailedGetMemoryMetric, msg: fmt.Sprintf(format, args...)}
}

// Decide computes the recommendation for one MemHpa, then holds a change in
// a paused direction.
func Decide(in Input, clk clock.PassiveClock) Recommendation {
	rec := decide(in, clk)
	hold(&rec, in.Pause)
	return rec
}

func decide(in Input, clk clock.PassiveClock) Recommendation {
	now := clk.Now()
	spec := in.Spec
	// v1alpha1's defaults, so that an object the webhook never saw means
	// the same thing.
	minReplicas := v1alpha1.EffectiveMinReplicas(&spec)
	current := in.CurrentReplicas
	rec := Recommendation{
		CurrentReplicas: current,
		DesiredReplicas: current,
		Pods:            PodCount{Selected: len(in.Pods)},
		History:         in.History.clone(),
	}
	// The HPA seeds the history with the current size the first time it sees
	// an autoscaler, so that the window also holds back the first scale-down
	// (after a restart, or a create, or an edit that made the key new).
	if len(rec.History.Recommendations) == 0 {
		rec.History.Recommendations = []Sample{{Replicas: current, At: now}}
	}

	switch {
	case current == 0:
		rec.Conditions = append(rec.Conditions, Condition{ConditionScalingActive, metav1.ConditionFalse, ReasonScalingDisabled,
			"scaling is disabled since the replica count of the target is zero"})
		rec.Recommended = true
		return rec
	case current > spec.MaxReplicas:
		// The HPA sets no ScalingLimited here: the bound is not a limit on a
		// recommendation, none was computed.
		rec.DesiredReplicas, rec.RescaleReason = spec.MaxReplicas, RescaleAboveMax
		rec.Rescale, rec.Recommended = true, true
		return rec
	case current < minReplicas:
		rec.DesiredReplicas, rec.RescaleReason = minReplicas, RescaleBelowMin
		rec.Rescale, rec.Recommended = true, true
		return rec
	}

	target := v1alpha1.EffectiveTargetUtilizationPercentage(&spec)
	tol := tolerancesOf(spec.Behavior, in.Config.Tolerance)
	metric, err := metricReplicas(in, target, tol, now, &rec)
	if in.Spec.CPUTargetUtilizationPercentage != nil {
		// A second metric: the HPA's rules for several (cpu.go).
		metric, err = withCPU(in, now, tol, metric, err, &rec)
		if err == nil && (rec.Decision == nil || rec.CPU.Decisive) {
			// CPU decided, or memory failed and CPU alone holds or scales
			// up: lastDecision's raw count is the one that applies.
			if rec.Decision == nil {
				rec.Decision = &v1alpha1.MemHpaDecision{}
			}
			raw := metric
			rec.Decision.RawReplicas, rec.Decision.LimitedBy = &raw, v1alpha1.LimitedByNone
		}
	}
	if errors.Is(err, errReported) {
		warnDuplicates(&rec)
		return rec
	}
	if err != nil {
		reason := ReasonFailedGetMemoryMetric
		var ce *errCalc
		if errors.As(err, &ce) {
			reason = ce.reason
		}
		msg := "failed to get " + MetricName + ": " + err.Error()
		rec.Conditions = append(rec.Conditions, Condition{ConditionScalingActive, metav1.ConditionFalse, reason,
			"the MemHpa was unable to compute the replica count: " + msg})
		rec.Warnings = append(rec.Warnings,
			Warning{reason, msg},
			Warning{EventFailedComputeMetricsReplicas, "invalid metrics (1 invalid out of 1), first error is: " + msg})
		warnDuplicates(&rec)
		return rec
	}
	rec.MetricReplicas = metric
	rec.Conditions = append(rec.Conditions, Condition{ConditionScalingActive, metav1.ConditionTrue, ReasonValidMetricFound,
		"the MemHpa was able to successfully calculate a replica count from " + rec.metricSource()})
	if n := len(rec.Pods.RequestAsLimit); n > 0 {
		rec.Warnings = append(rec.Warnings, Warning{ReasonMemoryRequestAsLimit, fmt.Sprintf(
			"%d container(s) have no memory limit, their memory request was used instead: %s", n, shortList(rec.Pods.RequestAsLimit))})
	}
	warnDuplicates(&rec)

	rec.Recommended = true
	var desired int32
	// The cap and the guard count from the size at the start of the sync period.
	periodStart := current - changeInPeriod(rec.History.ScaleUps, now, int32(in.Config.SyncPeriod/time.Second))
	g := guardOf(&spec, rec.Decision.Hottest, current, periodStart)
	if spec.Behavior == nil {
		desired = normalize(&rec, now, in.Config.DownscaleStabilization, periodStart, current, metric, g, minReplicas, spec.MaxReplicas)
	} else {
		b := withDefaults(spec.Behavior, in.Config.DownscaleStabilization)
		desired = normalizeWithBehavior(&rec, now, b, current, metric, g, minReplicas, spec.MaxReplicas)
	}
	desired = holdForOOMKills(&rec, in.Config.OOMKillWindow, current, desired)
	if rec.HeldByOOMKill {
		rec.Decision.LimitedBy = v1alpha1.LimitedByRecentOOMKill
	}
	rec.DesiredReplicas = desired
	rec.Rescale = desired != current
	switch {
	case desired > current:
		rec.RescaleReason = rec.aboveTarget()
	case desired < current:
		rec.RescaleReason = RescaleBelowTarget
	}
	return rec
}

// hold applies the pause: a change in a held direction is not made, and
// AbleToScale says so (the last condition of its type wins). With both
// directions held the condition is set even when no change is due, so that a
// paused MemHpa always says it is.
func hold(rec *Recommendation, p Pause) {
	up, down := rec.DesiredReplicas > rec.CurrentReplicas, rec.DesiredReplicas < rec.CurrentReplicas
	var what string
	switch {
	case p.ScaleUp && p.ScaleDown:
		what = "scaling is paused (annotation " + v1alpha1.AnnotationPaused + ")"
	case p.ScaleDown && down:
		what = "scale-downs are paused (annotation " + v1alpha1.AnnotationPausedScaleIn + ")"
	case p.ScaleUp && up:
		what = "scale-ups are paused (annotation " + v1alpha1.AnnotationPausedScaleOut + ")"
	default:
		return
	}
	msg := fmt.Sprintf("%s: the replicas stay at %d", what, rec.CurrentReplicas)
	if rec.Rescale {
		msg += fmt.Sprintf(", the MemHpa would set %d", rec.DesiredReplicas)
		rec.Rescale, rec.Held = false, true
	}
	rec.Conditions = append(rec.Conditions, Condition{ConditionAbleToScale, metav1.ConditionFalse, ReasonScalingPaused, msg})
}

// warnDuplicates says which containers more than one series reported: not
// counted twice, but a sign of a scrape set-up that --memory-metric-selector
// should narrow.
func warnDuplicates(rec *Recommendation) {
	if n := len(rec.Pods.DuplicateSeries); n > 0 {
		rec.Warnings = append(rec.Warnings, Warning{ReasonDuplicateMemorySeries, fmt.Sprintf(
			"%d container(s) are reported by more than one Prometheus series, each was counted once at its largest figure: %s",
			n, shortList(rec.Pods.DuplicateSeries))})
	}
}

// RecordRescale returns the history after a rescale from one size to another
// was written. With a behavior, events feed its rate policies, and both
// directions' policies read both lists (a scale-down limit starts from the
// size at the start of its period, scale-ups included), so events are kept as
// long as the longest policy period of either direction, and at least one
// sync period, which the hot-container guard counts from. Without one, only
// scale-ups are kept, for one sync period: they hold the max(2×, 4) cap to the
// period (Config.SyncPeriod).
func RecordRescale(h History, behavior *v1alpha1.MemHpaBehavior, cfg Config, now time.Time, from, to int32) History {
	h = h.clone()
	if from == to {
		return h
	}
	if behavior == nil {
		if to > from && cfg.SyncPeriod > 0 {
			h.ScaleUps = append(keepRecent(h.ScaleUps, now, cfg.SyncPeriod), Change{Replicas: to - from, At: now})
		}
		return h
	}
	b := withDefaults(behavior, cfg.DownscaleStabilization)
	keep := max(longestPeriod(b.ScaleUp), longestPeriod(b.ScaleDown), cfg.SyncPeriod)
	h.ScaleUps, h.ScaleDowns = keepRecent(h.ScaleUps, now, keep), keepRecent(h.ScaleDowns, now, keep)
	if to > from {
		h.ScaleUps = append(h.ScaleUps, Change{Replicas: to - from, At: now})
	} else {
		h.ScaleDowns = append(h.ScaleDowns, Change{Replicas: from - to, At: now})
	}
	return h
}

func (h History) clone() History {
	return History{
		Recommendations: append([]Sample(nil), h.Recommendations...),
		ScaleUps:        append([]Change(nil), h.ScaleUps...),
		ScaleDowns:      append([]Change(nil), h.ScaleDowns...),
	}
}

func keepRecent(changes []Change, now time.Time, period time.Duration) []Change {
	cutoff := now.Add(-period)
	kept := changes[:0]
	for _, c := range changes {
		if c.At.After(cutoff) {
			kept = append(kept, c)
		}
	}
	return kept
}

func longestPeriod(r *v1alpha1.MemHpaScalingRules) time.Duration {
	var longest int32
	for _, p := range r.Policies {
		longest = max(longest, p.PeriodSeconds)
	}
	return time.Duration(longest) * time.Second
}

func shortList(items []string) string {
	const shown = 3
	if len(items) <= shown {
		return fmt.Sprint(items)
	}
	return fmt.Sprintf("%v and %d more", items[:shown], len(items)-shown)
}

// tolerances is the HPA's pair of tolerances around a usage ratio of 1.
type tolerances struct{ down, up float64 }

func (t tolerances) within(ratio float64) bool {
	return 1-t.down <= ratio && ratio <= 1+t.up
}

func tolerancesOf(b *v1alpha1.MemHpaBehavior, def float64) tolerances {
	t := tolerances{down: def, up: def}
	if b == nil {
		return t
	}
	if b.ScaleDown != nil && b.ScaleDown.Tolerance != nil {
		t.down = b.ScaleDown.Tolerance.AsApproximateFloat64()
	}
	if b.ScaleUp != nil && b.ScaleUp.Tolerance != nil {
		t.up = b.ScaleUp.Tolerance.AsApproximateFloat64()
	}
	return t
}

// metricReplicas is the HPA's GetResourceReplicas with limits in place of
// requests. It fills rec's pod counts, utilization and average.
func metricReplicas(in Input, target int32, tol tolerances, now time.Time, rec *Recommendation) (int32, error) {
	if in.UsageErr != nil {
		return 0, in.UsageErr
	}
	if len(in.Pods) == 0 {
		return 0, failedMetric("no pods returned by selector while calculating replica count")
	}
	g, err := groupPods(in.Pods, in.Spec.Container, podUsage{all: in.Usage, containers: in.ContainerUsage, duplicated: in.Duplicated},
		oomRule{now: now, window: in.Config.OOMKillWindow})
	rec.OOMKills = g.oomKills
	rec.Pods.Counted, rec.Pods.Missing = len(g.usage), len(g.missing)
	rec.Pods.Pending, rec.Pods.Ignored = len(g.pending), g.ignored
	rec.Pods.RequestAsLimit, rec.Pods.DuplicateSeries = g.requestAsLimit, g.duplicates
	rec.Decision = decisionOf(g)
	rec.Decision.OOMKilledRecently = int32(len(g.oomKills))
	rec.Decision.Hottest = hottestContainer(in.Pods, g, in.Spec.Container, podUsage{containers: in.ContainerUsage})
	if err != nil {
		return 0, err
	}
	if len(g.usage) == 0 {
		return 0, failedMetric("did not receive metrics for targeted pods (pods might be unready)")
	}
	ratio, util, avg, err := utilizationRatio(g.usage, g.limits, target)
	if err != nil {
		return 0, err
	}
	rec.Utilization, rec.AverageBytes = &util, avg
	return rebalanced(g, ratio, target, tol, in.CurrentReplicas, rec.Decision)
}

// rebalanced is the end of the HPA's GetResourceReplicas once the pods are
// grouped, for memory and CPU (whose requests stand in g.limits, its unready
// pods in g.pending) alike. Without missing pods, and unless pending pods
// could damp a scale-up, it is ceil(ratio × counted pods); otherwise the pods
// that could not be measured are filled in the direction that dampens the
// change, and the direction must still hold. d, when not nil, records the
// raw count and which of these rules changed it (status.lastDecision).
func rebalanced(g groups, ratio float64, target int32, tol tolerances, current int32, d *v1alpha1.MemHpaDecision) (int32, error) {
	raw := ceilReplicas(ratio, len(g.usage))
	if d != nil {
		d.RawReplicas, d.LimitedBy = &raw, v1alpha1.LimitedByNone
	}
	// Within the tolerance, missing pods cannot turn the decision (they
	// only dampen it): the tolerance kept the size.
	byMissing := v1alpha1.LimitedByMissingPods
	if tol.within(ratio) {
		byMissing = v1alpha1.LimitedByTolerance
	}
	scaleUpWithPending := len(g.pending) > 0 && ratio > 1
	if !scaleUpWithPending && len(g.missing) == 0 {
		if tol.within(ratio) {
			step(d, raw, current, v1alpha1.LimitedByTolerance)
			return current, nil
		}
		return raw, nil
	}

	// Rebalance: fill in the pods we could not measure in the direction that
	// dampens the change, then check the direction still holds.
	filled := make(map[string]int64, len(g.usage)+len(g.missing)+len(g.pending))
	for name, v := range g.usage {
		filled[name] = v
	}
	switch {
	case ratio < 1:
		// A missing pod is taken to use all of its limit (or the target, when
		// the target is above 100 %: kubernetes/kubernetes#111433).
		fallback := int64(max(100, target))
		for _, name := range g.missing {
			filled[name] = g.limits[name] * fallback / 100
		}
	case ratio > 1:
		for _, name := range g.missing {
			filled[name] = 0
		}
	}
	if scaleUpWithPending {
		for _, name := range g.pending {
			filled[name] = 0
		}
	}
	newRatio, _, _, err := utilizationRatio(filled, g.limits, target)
	if err != nil {
		return 0, err
	}
	if tol.within(newRatio) || (ratio < 1 && newRatio > 1) || (ratio > 1 && newRatio < 1) {
		step(d, raw, current, byMissing)
		return current, nil
	}
	replicas := ceilReplicas(newRatio, len(filled))
	if (newRatio < 1 && replicas > current) || (newRatio > 1 && replicas < current) {
		replicas = current
	}
	step(d, raw, replicas, byMissing)
	return replicas, nil
}

func ceilReplicas(ratio float64, pods int) int32 {
	return int32(math.Ceil(ratio * float64(pods)))
}

type groups struct {
	usage          map[string]int64 // counted pods: running with a sample
	limits         map[string]int64 // every pod not ignored
	missing        []string
	pending        []string
	ignored        int // deleting + finished
	deleting       int
	finished       int // Failed or Succeeded
	noLimit        int // a counted container with neither limit nor request
	requestAsLimit []string
	duplicates     []string
	oomKills       []OOMKill
}

// podUsage is what Prometheus said of the pods: their working sets, those of
// their containers, and the containers more than one series reported.
type podUsage struct {
	all        map[string]int64
	containers map[string]map[string]int64
	duplicated map[string][]string
}

// of is the usage that counts for a pod: the whole pod's, or only that of
// container when it is not empty.
func (u podUsage) of(pod, container string) (int64, bool) {
	if container == "" {
		v, ok := u.all[pod]
		return v, ok
	}
	v, ok := u.containers[pod][container]
	return v, ok
}

func groupPods(pods []*corev1.Pod, container string, usage podUsage, oom oomRule) (groups, error) {
	g := groups{usage: map[string]int64{}, limits: map[string]int64{}}
	var firstMissingLimit error
	for _, p := range pods {
		phase := p.Status.Phase
		if p.DeletionTimestamp != nil || phase == corev1.PodFailed || phase == corev1.PodSucceeded {
			g.ignored++
			if p.DeletionTimestamp != nil {
				g.deleting++
			} else {
				g.finished++
			}
			continue
		}
		for _, c := range usage.duplicated[p.Name] {
			if container == "" || c == container {
				g.duplicates = append(g.duplicates, p.Name+"/"+c)
			}
		}
		limit := memoryLimit(p, container)
		for _, c := range limit.fromRequest {
			g.requestAsLimit = append(g.requestAsLimit, p.Name+"/"+c)
		}
		if limit.missing != "" {
			g.noLimit++
			if firstMissingLimit == nil {
				firstMissingLimit = &errCalc{reason: ReasonMissingMemoryLimit, msg: fmt.Sprintf(
					"container %q of pod %q has neither a memory limit nor a memory request", limit.missing, p.Name)}
			}
			continue
		}
		// A pod without the container has a limit of 0, as the HPA's
		// request of an absent container is: it is counted among the pods
		// but adds nothing to the limits.
		g.limits[p.Name] = limit.bytes
		if phase == corev1.PodPending {
			g.pending = append(g.pending, p.Name)
			continue
		}
		if kills := oom.recentKills(p, container); len(kills) > 0 {
			g.oomKills = append(g.oomKills, kills...)
			g.usage[p.Name] = oomUsage(p, container, limit, kills, usage)
			continue
		}
		v, ok := usage.of(p.Name, container)
		if !ok || limit.absent {
			g.missing = append(g.missing, p.Name)
			continue
		}
		g.usage[p.Name] = v
	}
	return g, firstMissingLimit
}

// utilizationRatio is the HPA's GetResourceUtilizationRatio: integer percent
// of the summed usage over the summed limits of the same pods, then its ratio
// to the target. Sums are exact (big integers) so that no pod count overflows.
func utilizationRatio(usage, limits map[string]int64, target int32) (float64, int32, int64, error) {
	used, limit := new(big.Int), new(big.Int)
	n := 0
	for name, v := range usage {
		l, ok := limits[name]
		if !ok {
			continue
		}
		used.Add(used, big.NewInt(v))
		limit.Add(limit, big.NewInt(l))
		n++
	}
	if n == 0 || limit.Sign() <= 0 {
		return 0, 0, 0, failedMetric("no metrics returned matched known pods")
	}
	avg := new(big.Int).Quo(used, big.NewInt(int64(n)))
	util := new(big.Int).Quo(new(big.Int).Mul(used, big.NewInt(100)), limit)
	if !util.IsInt64() || util.Int64() > math.MaxInt32 {
		return 0, 0, 0, failedMetric("utilization %s%% is outside the int32 range", util)
	}
	u := int32(util.Int64())
	return float64(u) / float64(target), u, avg.Int64(), nil
}
