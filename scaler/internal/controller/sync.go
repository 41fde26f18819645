package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/memhpa/memhpa/scaler/internal/calc"
	"github.com/memhpa/memhpa/scaler/internal/promquery"
	v1alpha1 "github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
)

// specError marks an error the user must fix in the MemHpa or its target, as
// the HPA's errSpec does; the others are internal (API, Prometheus). Its text
// is the wrapped error's, so events read the same either way.
type specError struct{ error }

func (e specError) Unwrap() error { return e.error }

func isSpecError(err error) bool {
	var s specError
	return errors.As(err, &s)
}

// errNotLeading refuses a write after leadership was lost.
var errNotLeading = errors.New("not leading any more: the write was not made")

// conflictsReported is how many scale writes in a row must be refused with a
// conflict before they are reported as a failed rescale (event and
// condition). One conflict is ordinary (another writer, a handover); a run of
// them means a writer that fights ours.
const conflictsReported = 3

// errScaleConflict is returned after a scale write was refused with a
// conflict, so that the work queue retries with its exponential backoff.
type errScaleConflict struct{ error }

func (e errScaleConflict) Unwrap() error { return e.error }

// sync reconciles one MemHpa: gather, decide, write the scale, write the
// status, emit events. It returns the first error, reported by the caller.
// ctx is the leadership: every write checks it first.
func (c *Controller) sync(ctx context.Context, key string) (err error) {
	start := c.clock.Now()
	action := ActionNone
	defer func() {
		errLabel := ErrorNone
		switch {
		case isSpecError(err):
			errLabel = ErrorSpec
		case err != nil:
			errLabel = ErrorInternal
		}
		c.monitor.observeReconcile(action, errLabel, c.clock.Since(start))
	}()

	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return fmt.Errorf("split key %q: %w", key, err)
	}
	shared, err := c.memhpas.MemHpas(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.dropState(key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("get MemHpa %s: %w", key, err)
	}
	// Never mutate the cache: work on a copy, compare with the original.
	h := shared.DeepCopy()
	original := shared.Status.DeepCopy()
	logger := klog.LoggerWithValues(klog.FromContext(ctx), "memHpa", klog.KObj(h))
	ctx = klog.NewContext(ctx, logger)
	events := leaderEvents{ctx: ctx, recorder: c.recorder}
	now := c.clock.Now()

	ref := h.Spec.ScaleTargetRef
	h.Status.Reference = ref.Kind + "/" + ref.Name
	h.Status.ObservedGeneration = &h.Generation
	h.Status.CurrentUtilizationPercentage = nil
	h.Status.CurrentCPUUtilizationPercentage = nil
	target := v1alpha1.EffectiveTargetUtilizationPercentage(&h.Spec)
	// The per-MemHpa series say what the status says, however sync returns.
	defer func() {
		c.monitor.setStatus(h.Namespace, h.Name, &h.Status, target, h.Spec.CPUTargetUtilizationPercentage)
	}()

	sc, gr, err := c.getScale(ctx, h)
	if err != nil {
		events.Event(h, corev1.EventTypeWarning, EventFailedGetScale, err.Error())
		c.setCondition(h, now, calc.ConditionAbleToScale, metav1.ConditionFalse, ReasonFailedGetScale,
			"the MemHpa controller was unable to get the target's current scale: "+err.Error())
		h.Status.Targets = targetsOf(&h.Spec, nil, nil)
		return errors.Join(err, c.updateStatus(ctx, original, h))
	}
	c.setCondition(h, now, calc.ConditionAbleToScale, metav1.ConditionTrue, ReasonSucceededGetScale,
		"the MemHpa controller was able to get the target's current scale")
	current := sc.Spec.Replicas
	// Until a decision is made, the status keeps the last recommendation,
	// as the HPA's does.
	h.Status.CurrentReplicas = current

	st := c.stateOf(key, h.UID)
	in := calc.Input{Spec: h.Spec, CurrentReplicas: current, History: st.history, Config: c.config.Calc}
	in.Pause.ScaleUp, in.Pause.ScaleDown = v1alpha1.PausedDirections(h.Annotations)
	var rejected map[string]string
	measured := needsMetrics(h.Spec, current)
	if measured {
		var selector labels.Selector
		in.Pods, selector, err = c.selectPods(ctx, h, sc, events)
		if err != nil {
			h.Status.Targets = targetsOf(&h.Spec, nil, nil)
			return errors.Join(err, c.updateStatus(ctx, original, h))
		}
		c.setSelector(key, h.UID, selector)
		if others := c.otherAutoscalers(h, in.Pods); len(others) > 0 {
			// Two autoscalers would fight over these pods: neither scales
			// until a user resolves it (the HPA's AmbiguousSelector).
			msg := fmt.Sprintf("pods by selector %v are controlled by multiple autoscalers: %v", selector, others)
			events.Event(h, corev1.EventTypeWarning, EventAmbiguousSelector, msg)
			c.setCondition(h, now, calc.ConditionScalingActive, metav1.ConditionFalse, ReasonAmbiguousSelector,
				"the MemHpa's target is also scaled by another autoscaler: "+msg)
			h.Status.Targets = targetsOf(&h.Spec, nil, nil)
			return c.updateStatus(ctx, original, h)
		}
		var samples promquery.NamespaceSamples
		samples, in.UsageErr = c.sampler.forMemHpa(ctx, ns, in.Pods, c.namespacesInPlay)
		in.Usage, rejected, in.Duplicated = samples.Bytes, samples.Rejected, samples.Duplicated
		in.ContainerUsage = samples.Containers
		if h.Spec.CPUTargetUtilizationPercentage != nil {
			in.CPU = c.cpuSamples(ctx, ns)
		}
	}

	rec := calc.Decide(in, c.clock)
	if measured {
		c.monitor.setDuplicates(h.Namespace, h.Name, len(rec.Pods.DuplicateSeries))
	}
	c.setHistory(key, h.UID, rec.History)
	for _, cond := range rec.Conditions {
		c.setCondition(h, now, cond.Type, cond.Status, cond.Reason, cond.Message)
	}
	for _, w := range rec.Warnings {
		events.Event(h, corev1.EventTypeWarning, w.Reason, w.Message)
	}
	if measured && rec.Recommended {
		// Without a decision the kills are unknown, not gone: what was
		// reported stays remembered.
		for _, k := range c.newOOMKills(key, h.UID, rec.OOMKills) {
			events.Eventf(h, corev1.EventTypeWarning, EventOOMKilled,
				"container %s of pod %s was OOM-killed at %s (restart count %d): it counts at 100 %% of its limit, and the MemHpa does not scale down until %s",
				k.Container, k.Pod, k.FinishedAt.UTC().Format(time.RFC3339), k.RestartCount,
				k.FinishedAt.Add(c.config.Calc.OOMKillWindow).UTC().Format(time.RFC3339))
		}
	}
	logDecision(logger, h, rec, target, rejected)

	h.Status.CurrentUtilizationPercentage = rec.Utilization
	h.Status.CurrentCPUUtilizationPercentage = cpuUtilization(rec)
	h.Status.Targets = targetsOf(&h.Spec, rec.Utilization, cpuUtilization(rec))
	if rec.Decision != nil {
		h.Status.LastDecision = rec.Decision
	}
	if !rec.Recommended {
		return c.updateStatus(ctx, original, h)
	}
	// A failed write keeps the last desired size in the status, as the
	// HPA's setCurrentReplicasAndMetricsInStatus does.
	desired := rec.DesiredReplicas
	if rec.Rescale && v1alpha1.IsDryRun(&h.Spec) {
		c.dryRunRescale(h, rec, now, events)
	} else if rec.Rescale {
		action = ActionScaleUp
		if desired < current {
			action = ActionScaleDown
		}
		if err := c.rescale(ctx, key, h, sc, gr, rec, now, events); err != nil {
			action = ActionNone
			return errors.Join(err, c.updateStatus(ctx, original, h))
		}
		c.setHistory(key, h.UID, calc.RecordRescale(rec.History, h.Spec.Behavior, c.config.Calc, now, current, desired))
		c.monitor.countRescale(h.Namespace, h.Name, current, desired)
		h.Status.LastScaleTime = &metav1.Time{Time: now}
	}
	h.Status.DesiredReplicas = desired
	c.monitor.setDesired(h.Namespace, h.Name, h.Spec.Mode, desired)
	return c.updateStatus(ctx, original, h)
}

// dryRunRescale reports the rescale a DryRun MemHpa would make, instead of
// making it. Only the recommendations enter its history (calc.Decide keeps
// them): the would-be rescale is not recorded, because the next decision
// starts from the target's real replicas again, and rate limits counted from
// a size that was never reached would hold the next would-be size back
// (docs/decisions.md). lastScaleTime stays: nothing was scaled.
func (c *Controller) dryRunRescale(h *v1alpha1.MemHpa, rec calc.Recommendation, now time.Time, events leaderEvents) {
	c.setCondition(h, now, calc.ConditionAbleToScale, metav1.ConditionTrue, ReasonDryRunRescale,
		fmt.Sprintf("the MemHpa is in mode DryRun: it would set the target's scale to %d and did not write it", rec.DesiredReplicas))
	events.Eventf(h, corev1.EventTypeNormal, ReasonDryRunRescale, "Would set size %d; reason: %s", rec.DesiredReplicas, rec.RescaleReason)
}

// needsMetrics tells whether calc will look at pods and samples: not when the
// target is at zero or outside [min, max] (clamped without metrics).
func needsMetrics(spec v1alpha1.MemHpaSpec, current int32) bool {
	return current != 0 && current <= spec.MaxReplicas && current >= v1alpha1.EffectiveMinReplicas(&spec)
}

// getScale reads the target's scale through every REST mapping of its kind:
// from the informer of its kind when there is one, it has synced and it
// holds the target; else with a GET of /scale (a kind without informer, a
// target created a moment ago, or one that does not exist).
func (c *Controller) getScale(ctx context.Context, h *v1alpha1.MemHpa) (*autoscalingv1.Scale, schema.GroupResource, error) {
	ref := h.Spec.ScaleTargetRef
	// An unparsable apiVersion is a group no RESTMapper knows, so it fails
	// here as an unknown kind does (the webhook refuses it in the first place).
	gk := v1alpha1.TargetGroupKind(ref)
	mappings, err := c.mapper.RESTMappings(gk)
	if err != nil {
		if r, ok := c.mapper.(meta.ResettableRESTMapper); ok {
			// A kind installed since the last discovery (a new CRD) shows up
			// on the next attempt.
			r.Reset()
		}
		return nil, schema.GroupResource{}, specError{fmt.Errorf("unable to determine the resource for kind %s: %w", gk, err)}
	}
	var firstErr error
	for _, m := range mappings {
		gr := m.Resource.GroupResource()
		if sc, ok := c.cachedScaleOf(gr, h.Namespace, ref.Name); ok {
			return sc, gr, nil
		}
		sc, err := c.scales.Scales(h.Namespace).Get(ctx, gr, ref.Name, metav1.GetOptions{})
		if err == nil {
			return sc, gr, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr == nil {
		return nil, schema.GroupResource{}, specError{fmt.Errorf("unrecognized resource for kind %s", gk)}
	}
	if apierrors.IsNotFound(firstErr) {
		return nil, schema.GroupResource{}, specError{fmt.Errorf("get scale of %s %s: %w", ref.Kind, ref.Name, firstErr)}
	}
	return nil, schema.GroupResource{}, fmt.Errorf("get scale of %s %s: %w", ref.Kind, ref.Name, firstErr)
}

// selectPods parses the scale's selector and lists its pods, reporting a
// missing or invalid selector as the HPA does.
func (c *Controller) selectPods(ctx context.Context, h *v1alpha1.MemHpa, sc *autoscalingv1.Scale, events leaderEvents) ([]*corev1.Pod, labels.Selector, error) {
	now := c.clock.Now()
	if sc.Status.Selector == "" {
		events.Event(h, corev1.EventTypeWarning, EventSelectorRequired, "selector is required")
		c.setCondition(h, now, calc.ConditionScalingActive, metav1.ConditionFalse, ReasonInvalidSelector,
			"the MemHpa target's scale is missing a selector")
		return nil, nil, specError{fmt.Errorf("the scale of %s has no selector", h.Status.Reference)}
	}
	selector, err := labels.Parse(sc.Status.Selector)
	if err != nil {
		events.Event(h, corev1.EventTypeWarning, EventInvalidSelector,
			"couldn't convert selector into a corresponding internal selector object: "+err.Error())
		c.setCondition(h, now, calc.ConditionScalingActive, metav1.ConditionFalse, ReasonInvalidSelector,
			"the MemHpa target's selector could not be parsed: "+err.Error())
		return nil, nil, specError{fmt.Errorf("parse selector %q: %w", sc.Status.Selector, err)}
	}
	pods, err := c.podsOf(h.Namespace, selector)
	return pods, selector, err
}

// rescale writes the new size. The scale carries the resourceVersion it was
// read with, so a concurrent change (another writer, a second leader during a
// handover) fails with a conflict instead of being overwritten; the work
// queue then retries with exponential backoff, recomputing from fresh data,
// and a run of conflicts is reported as a failed rescale.
func (c *Controller) rescale(ctx context.Context, key string, h *v1alpha1.MemHpa, sc *autoscalingv1.Scale, gr schema.GroupResource, rec calc.Recommendation, now time.Time, events leaderEvents) error {
	logger := klog.FromContext(ctx)
	if ctx.Err() != nil {
		return errNotLeading
	}
	update := sc.DeepCopy()
	update.Spec.Replicas = rec.DesiredReplicas
	_, err := c.scales.Scales(h.Namespace).Update(ctx, gr, update, metav1.UpdateOptions{FieldManager: FieldManager})
	if apierrors.IsConflict(err) {
		n := c.noteConflict(key, h.UID)
		logger.Info("Scale changed since it was read, recomputing", "resourceVersion", sc.ResourceVersion, "conflictsInARow", n)
		if n >= conflictsReported {
			events.Eventf(h, corev1.EventTypeWarning, EventFailedRescale, "New size: %d; reason: %s; error: %v (%d conflicts in a row)",
				rec.DesiredReplicas, rec.RescaleReason, err, n)
			c.setCondition(h, now, calc.ConditionAbleToScale, metav1.ConditionFalse, ReasonFailedUpdateScale,
				fmt.Sprintf("the MemHpa controller was unable to update the target scale: %d conflicting writes in a row: %v", n, err))
		}
		return errScaleConflict{fmt.Errorf("rescale %s to %d: %w", h.Status.Reference, rec.DesiredReplicas, err)}
	}
	if err != nil {
		events.Eventf(h, corev1.EventTypeWarning, EventFailedRescale, "New size: %d; reason: %s; error: %v",
			rec.DesiredReplicas, rec.RescaleReason, err)
		c.setCondition(h, now, calc.ConditionAbleToScale, metav1.ConditionFalse, ReasonFailedUpdateScale,
			"the MemHpa controller was unable to update the target scale: "+err.Error())
		return fmt.Errorf("rescale %s to %d: %w", h.Status.Reference, rec.DesiredReplicas, err)
	}
	c.clearConflicts(key, h.UID)
	c.setCondition(h, now, calc.ConditionAbleToScale, metav1.ConditionTrue, ReasonSucceededRescale,
		fmt.Sprintf("the MemHpa controller was able to update the target scale to %d", rec.DesiredReplicas))
	events.Eventf(h, corev1.EventTypeNormal, EventSuccessfulRescale, "New size: %d; reason: %s", rec.DesiredReplicas, rec.RescaleReason)
	logger.Info("Rescaled", "target", h.Status.Reference, "oldReplicas", rec.CurrentReplicas, "newReplicas", rec.DesiredReplicas, "reason", rec.RescaleReason)
	return nil
}

// updateStatus writes the status only when it changed (kubernetes/kubernetes#47077).
func (c *Controller) updateStatus(ctx context.Context, original *v1alpha1.MemHpaStatus, h *v1alpha1.MemHpa) error {
	if equality.Semantic.DeepEqual(original, &h.Status) {
		return nil
	}
	if ctx.Err() != nil {
		return errNotLeading
	}
	_, err := c.client.AutoscalingV1alpha1().MemHpas(h.Namespace).UpdateStatus(ctx, h, metav1.UpdateOptions{FieldManager: FieldManager})
	if apierrors.IsConflict(err) {
		// The MemHpa changed under us; the update event queues it again.
		return fmt.Errorf("update status: %w", err)
	}
	if err != nil {
		leaderEvents{ctx: ctx, recorder: c.recorder}.Event(h, corev1.EventTypeWarning, EventFailedUpdateStatus, err.Error())
		return fmt.Errorf("update status: %w", err)
	}
	return nil
}

// setCondition sets one condition, keeping its transition time when its
// status did not change.
func (c *Controller) setCondition(h *v1alpha1.MemHpa, now time.Time, typ string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&h.Status.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: msg,
		ObservedGeneration: h.Generation, LastTransitionTime: metav1.Time{Time: now},
	})
}

// targets is the display column: "45%/80%", or "<unknown>/80%".
func targets(util *int32, target int32) string {
	if util == nil {
		return fmt.Sprintf("<unknown>/%d%%", target)
	}
	return fmt.Sprintf("%d%%/%d%%", *util, target)
}

// stateOf is what is remembered of the MemHpa with this key and UID: the
// zero state for a MemHpa never seen, or one that replaced a deleted
// namesake.
func (c *Controller) stateOf(key string, uid types.UID) memHpaState {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.state[key]
	if !ok || st.uid != uid {
		return memHpaState{uid: uid}
	}
	return st
}

// update changes the state of key for uid, starting afresh when the entry
// belongs to another UID.
func (c *Controller) update(key string, uid types.UID, change func(*memHpaState)) memHpaState {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.state[key]
	if !ok || st.uid != uid {
		st = memHpaState{uid: uid}
	}
	change(&st)
	c.state[key] = st
	return st
}

func (c *Controller) setHistory(key string, uid types.UID, h calc.History) {
	c.update(key, uid, func(st *memHpaState) { st.history = h })
}

func (c *Controller) setSelector(key string, uid types.UID, sel labels.Selector) {
	c.update(key, uid, func(st *memHpaState) { st.selector = sel })
	ns, _, _ := cache.SplitMetaNamespaceKey(key)
	c.selectors.set(key, ns, sel)
}

func (c *Controller) noteConflict(key string, uid types.UID) int {
	return c.update(key, uid, func(st *memHpaState) { st.conflicts++ }).conflicts
}

func (c *Controller) clearConflicts(key string, uid types.UID) {
	c.update(key, uid, func(st *memHpaState) { st.conflicts = 0 })
}

// newOOMKills returns those of kills (a decision's recent OOM kills) not
// reported yet: a container not seen killed before, or killed again since
// (another restart count). The state then holds exactly kills, so that a
// kill that has left the window is forgotten.
func (c *Controller) newOOMKills(key string, uid types.UID, kills []calc.OOMKill) []calc.OOMKill {
	var fresh []calc.OOMKill
	c.update(key, uid, func(st *memHpaState) {
		reported := make(map[oomKey]int32, len(kills))
		for _, k := range kills {
			id := oomKey{pod: k.Pod, uid: k.PodUID, container: k.Container}
			if n, ok := st.oomReported[id]; !ok || n != k.RestartCount {
				fresh = append(fresh, k)
			}
			reported[id] = k.RestartCount
		}
		st.oomReported = reported
	})
	return fresh
}

// logDecision writes the one line per decision, with its inputs.
func logDecision(logger klog.Logger, h *v1alpha1.MemHpa, rec calc.Recommendation, target int32, rejected map[string]string) {
	level := 2
	if rec.Rescale {
		level = 0
	}
	util := "<unknown>"
	if rec.Utilization != nil {
		util = fmt.Sprintf("%d%%", *rec.Utilization)
	}
	limit := ""
	for _, cond := range rec.Conditions {
		if cond.Type == calc.ConditionScalingLimited {
			limit = cond.Reason
		}
	}
	var decision v1alpha1.MemHpaDecision
	if rec.Decision != nil {
		decision = *rec.Decision
	}
	hottest, hottestUtil := "", ""
	if hot := decision.Hottest; hot != nil {
		hottest, hottestUtil = hot.Pod+"/"+hot.Container, fmt.Sprintf("%d%%", hot.UtilizationPercentage)
	}
	logger.V(level).Info("Decided replicas",
		"target", h.Status.Reference,
		"container", h.Spec.Container,
		"currentReplicas", rec.CurrentReplicas,
		"metricReplicas", rec.MetricReplicas,
		"stabilizedReplicas", rec.StabilizedReplicas,
		"desiredReplicas", rec.DesiredReplicas,
		"utilization", util,
		"targetUtilization", target,
		"averageBytes", rec.AverageBytes,
		"podsSelected", rec.Pods.Selected,
		"podsCounted", rec.Pods.Counted,
		"podsMissing", rec.Pods.Missing,
		"podsPending", rec.Pods.Pending,
		"podsIgnored", rec.Pods.Ignored,
		"rejectedSamples", rejected,
		"requestAsLimit", rec.Pods.RequestAsLimit,
		"duplicateSeries", rec.Pods.DuplicateSeries,
		"oomKilledRecently", len(rec.OOMKills),
		"scalingLimited", limit,
		"limitedBy", decision.LimitedBy,
		"hottest", hottest,
		"hottestUtilization", hottestUtil,
		"cpu", rec.CPU,
		"reason", rec.RescaleReason,
	)
}

// leaderEvents records events only while ctx (the leadership) is live: an
// event is a write too.
type leaderEvents struct {
	ctx      context.Context
	recorder record.EventRecorder
}

func (e leaderEvents) Event(obj runtime.Object, eventType, reason, msg string) {
	if e.ctx.Err() == nil {
		e.recorder.Event(obj, eventType, reason, msg)
	}
}

func (e leaderEvents) Eventf(obj runtime.Object, eventType, reason, format string, args ...any) {
	if e.ctx.Err() == nil {
		e.recorder.Eventf(obj, eventType, reason, format, args...)
	}
}

// otherAutoscalers names the other autoscalers that claim pods of h (the
// HPA's AmbiguousSelector, which the webhook cannot rule out: it admits on a
// failed read and cannot see an object created within the watch delay):
// MemHpas of the namespace on the same target, or whose target's selector
// (as last read) matches one of pods, and HorizontalPodAutoscalers on the
// same target. An HPA's selector is not in its object, so an HPA is caught
// only on the same target (docs/decisions.md). DryRun MemHpas are left out.
func (c *Controller) otherAutoscalers(h *v1alpha1.MemHpa, pods []*corev1.Pod) []string {
	// A DryRun MemHpa writes no scale: it fights no one, either way.
	if v1alpha1.IsDryRun(&h.Spec) {
		return nil
	}
	mine := targetOf(h.Spec.ScaleTargetRef)
	claimed := map[string]bool{}
	claim := func(o *v1alpha1.MemHpa) {
		if o != nil && o.Name != h.Name && !v1alpha1.IsDryRun(&o.Spec) {
			claimed["MemHpa/"+o.Name] = true
		}
	}
	// Through indexes, not by trying every MemHpa of the namespace.
	for _, o := range c.memhpasOnTarget(h.Namespace, mine) {
		claim(o)
	}
	for _, key := range c.selectors.candidates(h.Namespace, pods) {
		if o := c.memhpaByKey(key); o != nil && c.selectsAny(o, pods) {
			claim(o)
		}
	}
	out := slices.Collect(maps.Keys(claimed))
	if c.hpas != nil {
		hpas, _ := c.hpas.HorizontalPodAutoscalers(h.Namespace).List(labels.Everything())
		for _, a := range hpas {
			r := a.Spec.ScaleTargetRef
			if targetOf(v1alpha1.CrossVersionObjectReference{APIVersion: r.APIVersion, Kind: r.Kind, Name: r.Name}) == mine {
				out = append(out, "HorizontalPodAutoscaler/"+a.Name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// selectsAny tells whether the last selector read for MemHpa o matches one
// of pods.
func (c *Controller) selectsAny(o *v1alpha1.MemHpa, pods []*corev1.Pod) bool {
	key, err := cache.MetaNamespaceKeyFunc(o)
	if err != nil {
		return false
	}
	st := c.stateOf(key, o.UID)
	if st.selector == nil || st.selector.Empty() {
		return false
	}
	for _, p := range pods {
		if st.selector.Matches(labels.Set(p.Labels)) {
			return true
		}
	}
	return false
}

// workload is a scale target as group, kind and name.
type workload struct {
	groupKind schema.GroupKind
	name      string
}

// targetOf is the workload ref names: two references that differ only in the
// version name one workload.
func targetOf(ref v1alpha1.CrossVersionObjectReference) workload {
	return workload{groupKind: v1alpha1.TargetGroupKind(ref), name: ref.Name}
}
