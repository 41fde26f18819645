package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
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

// sync reconciles one MemHpa: gather, decide, write the scale, write the
// status, emit events. It returns the first error, reported by the caller.
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
		c.metrics.observeReconcile(action, errLabel, c.clock.Since(start))
	}()

	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return fmt.Errorf("split key %q: %w", key, err)
	}
	shared, err := c.memhpas.MemHpas(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.dropHistory(key)
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
	now := c.clock.Now()

	ref := h.Spec.ScaleTargetRef
	h.Status.Reference = ref.Kind + "/" + ref.Name
	h.Status.ObservedGeneration = &h.Generation
	h.Status.CurrentUtilizationPercentage = nil
	target := calc.DefaultTargetUtilization
	if h.Spec.TargetUtilizationPercentage != nil {
		target = *h.Spec.TargetUtilizationPercentage
	}

	sc, gr, err := c.getScale(ctx, h)
	if err != nil {
		c.recorder.Event(h, corev1.EventTypeWarning, calc.EventFailedGetScale, err.Error())
		c.setCondition(h, now, calc.ConditionAbleToScale, metav1.ConditionFalse, calc.ReasonFailedGetScale,
			"the MemHpa controller was unable to get the target's current scale: "+err.Error())
		h.Status.Targets = targets(nil, target)
		return errors.Join(err, c.updateStatus(ctx, original, h))
	}
	c.setCondition(h, now, calc.ConditionAbleToScale, metav1.ConditionTrue, calc.ReasonSucceededGetScale,
		"the MemHpa controller was able to get the target's current scale")
	current := sc.Spec.Replicas

	in := calc.Input{Spec: h.Spec, CurrentReplicas: current, History: c.historyOf(key), Config: c.config.Calc}
	var rejected map[string]string
	measured := needsMetrics(h.Spec, current)
	if measured {
		in.Pods, err = c.selectPods(ctx, h, sc)
		if err != nil {
			h.Status.CurrentReplicas, h.Status.DesiredReplicas = current, current
			h.Status.Targets = targets(nil, target)
			return errors.Join(err, c.updateStatus(ctx, original, h))
		}
		var samples promquery.NamespaceSamples
		samples, in.UsageErr = c.sampler.forMemHpa(ctx, ns, in.Pods, c.namespacesInPlay)
		in.Usage, rejected, in.Duplicated = samples.Bytes, samples.Rejected, samples.Duplicated
	}

	rec := calc.Decide(in, c.clock)
	if measured {
		c.metrics.duplicates.WithLabelValues(h.Namespace, h.Name).Set(float64(len(rec.Pods.DuplicateSeries)))
	}
	c.setHistory(key, rec.History)
	for _, cond := range rec.Conditions {
		c.setCondition(h, now, cond.Type, cond.Status, cond.Reason, cond.Message)
	}
	for _, w := range rec.Warnings {
		c.recorder.Event(h, corev1.EventTypeWarning, w.Reason, w.Message)
	}
	logDecision(logger, h, rec, target, rejected)

	h.Status.CurrentReplicas = current
	h.Status.CurrentUtilizationPercentage = rec.Utilization
	h.Status.Targets = targets(rec.Utilization, target)
	desired := rec.DesiredReplicas
	if rec.Rescale {
		action = ActionScaleUp
		if desired < current {
			action = ActionScaleDown
		}
		done, err := c.rescale(ctx, key, h, sc, gr, rec, now)
		if !done {
			action = ActionNone
			h.Status.DesiredReplicas = current
			return errors.Join(err, c.updateStatus(ctx, original, h))
		}
		c.setHistory(key, calc.RecordRescale(rec.History, h.Spec.Behavior, c.config.Calc.DownscaleStabilization, now, current, desired))
		h.Status.LastScaleTime = &metav1.Time{Time: now}
	}
	h.Status.DesiredReplicas = desired
	c.metrics.desired.WithLabelValues(h.Namespace, h.Name).Set(float64(desired))
	return c.updateStatus(ctx, original, h)
}

// needsMetrics tells whether calc will look at pods and samples: not when the
// target is at zero or outside [min, max] (clamped without metrics).
func needsMetrics(spec v1alpha1.MemHpaSpec, current int32) bool {
	minReplicas := calc.DefaultMinReplicas
	if spec.MinReplicas != nil {
		minReplicas = *spec.MinReplicas
	}
	return current != 0 && current <= spec.MaxReplicas && current >= minReplicas
}

// getScale reads the target's /scale through every REST mapping of its kind.
func (c *Controller) getScale(ctx context.Context, h *v1alpha1.MemHpa) (*autoscalingv1.Scale, schema.GroupResource, error) {
	ref := h.Spec.ScaleTargetRef
	apiVersion := ref.APIVersion
	if apiVersion == "" {
		apiVersion = "apps/v1"
	}
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return nil, schema.GroupResource{}, specError{fmt.Errorf("invalid API version %q in scale target reference: %w", apiVersion, err)}
	}
	gk := schema.GroupKind{Group: gv.Group, Kind: ref.Kind}
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
func (c *Controller) selectPods(ctx context.Context, h *v1alpha1.MemHpa, sc *autoscalingv1.Scale) ([]*corev1.Pod, error) {
	now := c.clock.Now()
	if sc.Status.Selector == "" {
		c.recorder.Event(h, corev1.EventTypeWarning, calc.EventSelectorRequired, "selector is required")
		c.setCondition(h, now, calc.ConditionScalingActive, metav1.ConditionFalse, calc.ReasonInvalidSelector,
			"the MemHpa target's scale is missing a selector")
		return nil, specError{fmt.Errorf("the scale of %s has no selector", h.Status.Reference)}
	}
	selector, err := labels.Parse(sc.Status.Selector)
	if err != nil {
		c.recorder.Event(h, corev1.EventTypeWarning, calc.EventInvalidSelector,
			"couldn't convert selector into a corresponding internal selector object: "+err.Error())
		c.setCondition(h, now, calc.ConditionScalingActive, metav1.ConditionFalse, calc.ReasonInvalidSelector,
			"the MemHpa target's selector could not be parsed: "+err.Error())
		return nil, specError{fmt.Errorf("parse selector %q: %w", sc.Status.Selector, err)}
	}
	return c.podsOf(h.Namespace, selector)
}

// rescale writes the new size. The scale carries the resourceVersion it was
// read with, so a concurrent change (another writer, a second leader during a
// handover) fails with a conflict instead of being overwritten; the next
// round recomputes from fresh data. It tells whether the scale was written.
func (c *Controller) rescale(ctx context.Context, key string, h *v1alpha1.MemHpa, sc *autoscalingv1.Scale, gr schema.GroupResource, rec calc.Recommendation, now time.Time) (bool, error) {
	logger := klog.FromContext(ctx)
	update := sc.DeepCopy()
	update.Spec.Replicas = rec.DesiredReplicas
	_, err := c.scales.Scales(h.Namespace).Update(ctx, gr, update, metav1.UpdateOptions{FieldManager: FieldManager})
	if apierrors.IsConflict(err) {
		logger.Info("Scale changed since it was read, recomputing next round", "resourceVersion", sc.ResourceVersion)
		c.queue.AddAfter(key, time.Second)
		return false, nil
	}
	if err != nil {
		c.recorder.Eventf(h, corev1.EventTypeWarning, calc.EventFailedRescale, "New size: %d; reason: %s; error: %v",
			rec.DesiredReplicas, rec.RescaleReason, err)
		c.setCondition(h, now, calc.ConditionAbleToScale, metav1.ConditionFalse, calc.ReasonFailedUpdateScale,
			"the MemHpa controller was unable to update the target scale: "+err.Error())
		return false, fmt.Errorf("rescale %s to %d: %w", h.Status.Reference, rec.DesiredReplicas, err)
	}
	c.setCondition(h, now, calc.ConditionAbleToScale, metav1.ConditionTrue, calc.ReasonSucceededRescale,
		fmt.Sprintf("the MemHpa controller was able to update the target scale to %d", rec.DesiredReplicas))
	c.recorder.Eventf(h, corev1.EventTypeNormal, calc.EventSuccessfulRescale, "New size: %d; reason: %s", rec.DesiredReplicas, rec.RescaleReason)
	logger.Info("Rescaled", "target", h.Status.Reference, "oldReplicas", rec.CurrentReplicas, "newReplicas", rec.DesiredReplicas, "reason", rec.RescaleReason)
	return true, nil
}

// updateStatus writes the status only when it changed (kubernetes/kubernetes#47077).
func (c *Controller) updateStatus(ctx context.Context, original *v1alpha1.MemHpaStatus, h *v1alpha1.MemHpa) error {
	if equality.Semantic.DeepEqual(original, &h.Status) {
		return nil
	}
	_, err := c.client.AutoscalingV1alpha1().MemHpas(h.Namespace).UpdateStatus(ctx, h, metav1.UpdateOptions{FieldManager: FieldManager})
	if apierrors.IsConflict(err) {
		// The MemHpa changed under us; the update event queues it again.
		return fmt.Errorf("update status: %w", err)
	}
	if err != nil {
		c.recorder.Event(h, corev1.EventTypeWarning, calc.EventFailedUpdateStatus, err.Error())
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

func (c *Controller) historyOf(key string) calc.History {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.history[key]
}

func (c *Controller) setHistory(key string, h calc.History) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.history[key] = h
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
	logger.V(level).Info("Decided replicas",
		"target", h.Status.Reference,
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
		"limitedBy", limit,
		"reason", rec.RescaleReason,
	)
}
