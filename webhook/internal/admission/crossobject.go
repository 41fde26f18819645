package admission

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
)

// crossObjectReads is what the cross-object checks read about the objects
// around one MemHpa: the other autoscalers of its target, the target's pod
// template and the namespace's LimitRanges. Each part is there, or its read error is (a part never read is
// empty, with no error).
type crossObjectReads struct {
	memHpas         []v1alpha1.MemHpa
	memHpasErr      error
	hpas            []autoscalingv2.HorizontalPodAutoscaler
	hpasErr         error
	template        *corev1.PodTemplateSpec
	templateErr     error
	limitRanges     []corev1.LimitRange
	limitRangesErr  error
	limitRangesRead bool
	vpas            []VerticalPodAutoscaler
	vpasErr         error
}

// readErrors are the failed reads, for the log.
func (r *crossObjectReads) readErrors() []error {
	var errs []error
	for _, err := range []error{r.memHpasErr, r.hpasErr, r.limitRangesErr, r.vpasErr} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if r.templateErr != nil && !apierrors.IsNotFound(r.templateErr) && !errors.Is(r.templateErr, ErrUnsupportedKind) {
		errs = append(errs, r.templateErr)
	}
	return errs
}

// InMemoryLookup is implemented by a Lookup that can tell, before the reads
// of one review, that it answers all of them from memory (its caches) and
// none from the apiserver.
type InMemoryLookup interface {
	// InMemory reports whether the reads of the checks of a MemHpa in
	// namespace whose target is gk/name are answered from memory now.
	InMemory(namespace string, gk schema.GroupKind, name string) bool
}

// readCrossObjects reads, each bounded by ctx, what the checks need: the
// other autoscalers when owners is set, and the target. When lookup answers
// from memory (InMemoryLookup) the reads are made one after the other in the
// caller's goroutine: each is a map read, and a goroutine and a channel per
// read cost more than the reads (docs/performance.md, section 1). Otherwise
// they run in parallel, each in a goroutine that ctx's end abandons, so that
// a slow apiserver, or a Lookup that ignores its context, holds the review no
// longer than ctx.
func readCrossObjects(ctx context.Context, lookup Lookup, obj *v1alpha1.MemHpa, owners bool) *crossObjectReads {
	ns, ref := obj.Namespace, obj.Spec.ScaleTargetRef
	gk := v1alpha1.TargetGroupKind(ref)
	m, ok := lookup.(InMemoryLookup)
	inline := ok && m.InMemory(ns, gk, ref.Name)
	r := &crossObjectReads{}
	var wg sync.WaitGroup
	start := func(read func()) {
		if inline {
			read()
			return
		}
		wg.Go(read)
	}
	if owners {
		start(func() {
			r.memHpas, r.memHpasErr = readWith(ctx, inline, func(ctx context.Context) ([]v1alpha1.MemHpa, error) {
				return lookup.MemHpas(ctx, ns, ref.Name)
			})
		})
		start(func() {
			r.hpas, r.hpasErr = readWith(ctx, inline, func(ctx context.Context) ([]autoscalingv2.HorizontalPodAutoscaler, error) {
				return lookup.HorizontalPodAutoscalers(ctx, ns, ref.Name)
			})
		})
	}
	if vpas, ok := lookup.(VPALookup); ok {
		start(func() {
			r.vpas, r.vpasErr = readWith(ctx, inline, func(ctx context.Context) ([]VerticalPodAutoscaler, error) {
				return vpas.VerticalPodAutoscalers(ctx, ns, ref.Name)
			})
		})
	}
	start(func() {
		r.template, r.templateErr = readWith(ctx, inline, func(ctx context.Context) (*corev1.PodTemplateSpec, error) {
			return lookup.PodTemplate(ctx, ns, gk, ref.Name)
		})
		if r.templateErr == nil && len(containersWithoutMemoryLimit(r.template, obj.Spec.Container)) > 0 {
			r.limitRangesRead = true
			r.limitRanges, r.limitRangesErr = readWith(ctx, inline, func(ctx context.Context) ([]corev1.LimitRange, error) {
				return lookup.LimitRanges(ctx, ns)
			})
		}
	})
	wg.Wait()
	return r
}

// readWith makes read in the caller's goroutine when inline, else bounded by
// ctx; a panic in read becomes its error either way.
func readWith[T any](ctx context.Context, inline bool, read func(context.Context) (T, error)) (T, error) {
	if inline {
		return recovered(ctx, read)
	}
	return bounded(ctx, read)
}

// recovered calls read, turning a panic into its error.
func recovered[T any](ctx context.Context, read func(context.Context) (T, error)) (value T, err error) {
	defer func() {
		if r := recover(); r != nil {
			var zero T
			value, err = zero, fmt.Errorf("read panicked: %v", r)
		}
	}()
	return read(ctx)
}

// bounded returns when read does or when ctx ends, whichever is first, so a
// Lookup that ignores its context cannot hold an admission past the deadline.
// A panic in read becomes its error.
func bounded[T any](ctx context.Context, read func(context.Context) (T, error)) (T, error) {
	type result struct {
		value T
		err   error
	}
	done := make(chan result, 1)
	go func() {
		v, err := recovered(ctx, read)
		done <- result{value: v, err: err}
	}()
	select {
	case r := <-done:
		return r.value, r.err
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("read did not finish in time: %w", context.Cause(ctx))
	}
}

// judgeCrossObjects turns what was read into errors (another autoscaler owns the target)
// and warnings (the target is missing, containers have no memory limit, a
// read failed). It is pure. The one-autoscaler rule ignores DryRun MemHpas
// both ways: they never write a scale. A DryRun MemHpa's owners are warnings.
func judgeCrossObjects(obj *v1alpha1.MemHpa, r *crossObjectReads) (field.ErrorList, []string) {
	ref := obj.Spec.ScaleTargetRef
	gk := v1alpha1.TargetGroupKind(ref)
	target := fmt.Sprintf("%s %q", gk, ref.Name)
	refPath := field.NewPath("spec", "scaleTargetRef")
	var errs field.ErrorList
	var warnings []string
	// owner reports an autoscaler that already scales the target: refused,
	// or only a warning for a DryRun MemHpa, which writes nothing.
	owner := func(who, why string) {
		if v1alpha1.IsDryRun(&obj.Spec) {
			warnings = append(warnings, fmt.Sprintf("%s already scales %s: mode DryRun only reports what it would set, and switching to mode Scale is refused while it does", who, target))
			return
		}
		errs = append(errs, field.Forbidden(refPath, fmt.Sprintf("must not point at %s, which %s already scales%s", target, who, why)))
	}

	if r.memHpasErr != nil {
		warnings = append(warnings, fmt.Sprintf("could not check that no other MemHpa scales %s (%v): admitted without this check", target, r.memHpasErr))
	}
	for _, other := range sortedByName(r.memHpas, func(m v1alpha1.MemHpa) string { return m.Name }) {
		if other.Name == obj.Name || other.Namespace != obj.Namespace || other.DeletionTimestamp != nil || v1alpha1.IsDryRun(&other.Spec) {
			continue
		}
		if other.Spec.ScaleTargetRef.Name == ref.Name && v1alpha1.TargetGroupKind(other.Spec.ScaleTargetRef) == gk {
			owner(fmt.Sprintf("MemHpa %q", other.Name), "")
		}
	}

	if r.hpasErr != nil {
		warnings = append(warnings, fmt.Sprintf("could not check that no HorizontalPodAutoscaler scales %s (%v): admitted without this check", target, r.hpasErr))
	}
	for _, hpa := range sortedByName(r.hpas, func(h autoscalingv2.HorizontalPodAutoscaler) string { return h.Name }) {
		if hpa.Namespace != obj.Namespace || hpa.DeletionTimestamp != nil {
			continue
		}
		if hpaTarget := hpaTargetRef(hpa); hpaTarget.Name == ref.Name && v1alpha1.TargetGroupKind(hpaTarget) == gk {
			owner(fmt.Sprintf("HorizontalPodAutoscaler %q", hpa.Name), " (two autoscalers would fight over its replicas)")
		}
	}

	switch {
	case r.templateErr == nil:
		if others, missing := missingContainer(r.template, obj.Spec.Container); missing {
			// A warning, not a refusal: the template may be about to change,
			// and the HPA admits a ContainerResource metric of any container too.
			warnings = append(warnings, fmt.Sprintf("container %q is not in the pod template of %s (which has %s): every pod counts as missing and the MemHpa does not scale",
				obj.Spec.Container, target, quotedList("container", others)))
		}
		if missing := containersWithoutMemoryLimit(r.template, obj.Spec.Container); len(missing) > 0 && !(r.limitRangesRead && r.limitRangesErr == nil && defaultsMemoryLimit(r.limitRanges)) {
			verb := "have"
			if len(missing) == 1 {
				verb = "has"
			}
			warnings = append(warnings, fmt.Sprintf("%s of %s %s no memory limit: MemHpa measures memory use as a share of the limits",
				quotedList("container", missing), target, verb))
		}
	case apierrors.IsNotFound(r.templateErr):
		warnings = append(warnings, fmt.Sprintf("%s was not found in namespace %q: MemHpa %q does nothing until it exists", target, obj.Namespace, obj.Name))
	case errors.Is(r.templateErr, ErrUnsupportedKind):
		// A custom workload: its pod template is not known to us.
	default:
		warnings = append(warnings, fmt.Sprintf("could not read %s (%v): its memory limits were not checked", target, r.templateErr))
	}
	warnings = append(warnings, judgeVPAs(obj, r)...)
	return errs, warnings
}

// target is a scale target as the owner checks compare it.
type target struct {
	gk   schema.GroupKind
	name string
}

func targetOf(obj *v1alpha1.MemHpa) target {
	ref := obj.Spec.ScaleTargetRef
	return target{gk: v1alpha1.TargetGroupKind(ref), name: ref.Name}
}

// hpaTargetRef is the scale target of hpa as a MemHpa reference, so that both
// are read by the same rules (an empty apiVersion of an apps kind is apps/v1).
func hpaTargetRef(hpa autoscalingv2.HorizontalPodAutoscaler) v1alpha1.CrossVersionObjectReference {
	r := hpa.Spec.ScaleTargetRef
	return v1alpha1.CrossVersionObjectReference{APIVersion: r.APIVersion, Kind: r.Kind, Name: r.Name}
}

// runningContainers are the containers of template that run as long as its
// pods: sidecars (restartable init containers) and containers. Other init
// containers have finished before the pods' memory is measured.
func runningContainers(template *corev1.PodTemplateSpec) []corev1.Container {
	if template == nil {
		return nil
	}
	var cs []corev1.Container
	for _, c := range template.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			cs = append(cs, c)
		}
	}
	return append(cs, template.Spec.Containers...)
}

// containersWithoutMemoryLimit names the running containers of template that
// have no memory limit; only the one named only when it is not empty (a
// MemHpa's spec.container: the others' limits do not count).
func containersWithoutMemoryLimit(template *corev1.PodTemplateSpec, only string) []string {
	var names []string
	for _, c := range runningContainers(template) {
		if only != "" && c.Name != only {
			continue
		}
		if limit, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok || limit.Sign() <= 0 {
			names = append(names, c.Name)
		}
	}
	return names
}

// missingContainer returns the running containers' names when template has
// none named name, nil when it has one or name is empty.
func missingContainer(template *corev1.PodTemplateSpec, name string) (others []string, missing bool) {
	if name == "" || template == nil {
		return nil, false
	}
	for _, c := range runningContainers(template) {
		if c.Name == name {
			return nil, false
		}
		others = append(others, c.Name)
	}
	return others, true
}

// defaultsMemoryLimit tells whether a LimitRange gives containers without a
// memory limit a default one.
func defaultsMemoryLimit(ranges []corev1.LimitRange) bool {
	for _, lr := range ranges {
		for _, item := range lr.Spec.Limits {
			if limit, ok := item.Default[corev1.ResourceMemory]; ok && item.Type == corev1.LimitTypeContainer && limit.Sign() > 0 {
				return true
			}
		}
	}
	return false
}

func quotedList(noun string, names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = fmt.Sprintf("%q", n)
	}
	if len(names) > 1 {
		noun += "s"
	}
	return noun + " " + strings.Join(quoted, ", ")
}

func sortedByName[T any](items []T, name func(T) string) []T {
	out := append([]T(nil), items...)
	sort.SliceStable(out, func(i, j int) bool { return name(out[i]) < name(out[j]) })
	return out
}
