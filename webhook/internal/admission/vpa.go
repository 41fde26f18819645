package admission

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
)

// VPAResource is the VerticalPodAutoscaler API the webhook reads, when the
// cluster serves it (the VPA's CRD is installed).
var VPAResource = schema.GroupVersionResource{Group: "autoscaling.k8s.io", Version: "v1", Resource: "verticalpodautoscalers"}

// The VPA's update modes and values that the rule reads
// (kubernetes/autoscaler, vertical-pod-autoscaler/pkg/apis/autoscaling.k8s.io/v1/types.go).
const (
	vpaModeOff          = "Off"
	vpaModeAuto         = "Auto" // an unset updateMode
	vpaRequestsOnly     = "RequestsOnly"
	vpaDefaultContainer = "*"
)

// VerticalPodAutoscaler is the part of an autoscaling.k8s.io/v1
// VerticalPodAutoscaler that the webhook reads: which workload it targets,
// whether it updates pods, and which containers' memory it sets. Its own
// type, decoded from the unstructured object, so that the webhook does not
// depend on the VPA's Go module.
type VerticalPodAutoscaler struct {
	Namespace         string
	Name              string
	DeletionTimestamp *metav1.Time
	Spec              VPASpec
}

// VPASpec is the read part of a VerticalPodAutoscaler's spec.
type VPASpec struct {
	TargetRef      *VPATargetRef      `json:"targetRef,omitempty"`
	UpdatePolicy   *VPAUpdatePolicy   `json:"updatePolicy,omitempty"`
	ResourcePolicy *VPAResourcePolicy `json:"resourcePolicy,omitempty"`
}

// VPATargetRef is spec.targetRef (an autoscaling/v1 CrossVersionObjectReference).
type VPATargetRef struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
}

// VPAUpdatePolicy is spec.updatePolicy.
type VPAUpdatePolicy struct {
	UpdateMode string `json:"updateMode,omitempty"`
}

// VPAResourcePolicy is spec.resourcePolicy.
type VPAResourcePolicy struct {
	ContainerPolicies []VPAContainerPolicy `json:"containerPolicies,omitempty"`
}

// VPAContainerPolicy is one of spec.resourcePolicy.containerPolicies.
// ControlledResources is nil when absent (the VPA's default: cpu and memory).
type VPAContainerPolicy struct {
	ContainerName       string                 `json:"containerName,omitempty"`
	Mode                string                 `json:"mode,omitempty"`
	ControlledResources *[]corev1.ResourceName `json:"controlledResources,omitempty"`
	ControlledValues    string                 `json:"controlledValues,omitempty"`
}

// VPALookup is implemented by a Lookup that can also read
// VerticalPodAutoscalers; the validator warns about them only then.
type VPALookup interface {
	// VerticalPodAutoscalers returns the VerticalPodAutoscalers of namespace
	// that may target a workload named targetName (callers match the
	// target); none when the cluster does not serve the VPA API.
	VerticalPodAutoscalers(ctx context.Context, namespace, targetName string) ([]VerticalPodAutoscaler, error)
}

// withVPAs is a Lookup that reads VerticalPodAutoscalers through vpas.
type withVPAs struct {
	Lookup
	vpas VPALookup
}

// WithVPAs returns lookup, reading VerticalPodAutoscalers through vpas too.
func WithVPAs(lookup Lookup, vpas VPALookup) Lookup { return withVPAs{Lookup: lookup, vpas: vpas} }

// InMemory implements InMemoryLookup: when both the Lookup and the
// VPALookup answer from memory.
func (w withVPAs) InMemory(namespace string, gk schema.GroupKind, name string) bool {
	for _, l := range []any{w.Lookup, w.vpas} {
		if m, ok := l.(InMemoryLookup); !ok || !m.InMemory(namespace, gk, name) {
			return false
		}
	}
	return true
}

func (w withVPAs) VerticalPodAutoscalers(ctx context.Context, namespace, targetName string) ([]VerticalPodAutoscaler, error) {
	return w.vpas.VerticalPodAutoscalers(ctx, namespace, targetName)
}

// vpaFromUnstructured decodes the read part of u.
func vpaFromUnstructured(u *unstructured.Unstructured) (VerticalPodAutoscaler, error) {
	v := VerticalPodAutoscaler{Namespace: u.GetNamespace(), Name: u.GetName(), DeletionTimestamp: u.GetDeletionTimestamp()}
	if spec, ok := u.Object["spec"].(map[string]any); ok {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(spec, &v.Spec); err != nil {
			return v, fmt.Errorf("decode VerticalPodAutoscaler %s/%s: %w", v.Namespace, v.Name, err)
		}
	}
	return v, nil
}

// updatesPods tells whether the VPA changes pods' resources at all: every
// update mode but Off does (Initial at pod creation, which a scale-up is).
func (v *VerticalPodAutoscaler) updatesPods() (mode string, updates bool) {
	mode = vpaModeAuto
	if v.Spec.UpdatePolicy != nil && v.Spec.UpdatePolicy.UpdateMode != "" {
		mode = v.Spec.UpdatePolicy.UpdateMode
	}
	return mode, mode != vpaModeOff
}

// policyFor is the container policy that applies to container: its own, else
// the "*" one, else none (the VPA's defaults).
func (v *VerticalPodAutoscaler) policyFor(container string) *VPAContainerPolicy {
	if v.Spec.ResourcePolicy == nil {
		return nil
	}
	var fallback *VPAContainerPolicy
	for i := range v.Spec.ResourcePolicy.ContainerPolicies {
		p := &v.Spec.ResourcePolicy.ContainerPolicies[i]
		switch p.ContainerName {
		case container:
			return p
		case vpaDefaultContainer:
			fallback = p
		}
	}
	return fallback
}

// movesDenominator tells whether policy p lets the VPA change the figure
// memhpa divides a container's memory by: its memory limit, or its memory
// request when it has no limit (limited tells which). Unknown (the template
// could not be read): assume the worse.
func movesDenominator(p *VPAContainerPolicy, limited, known bool) bool {
	if p == nil {
		return true // the VPA's defaults: cpu and memory, requests and limits
	}
	if p.Mode == vpaModeOff {
		return false
	}
	if p.ControlledResources != nil && !slices.Contains(*p.ControlledResources, corev1.ResourceMemory) {
		return false
	}
	// RequestsOnly leaves limits alone: only a container without a memory
	// limit, whose request stands in for one, is moved.
	return p.ControlledValues != vpaRequestsOnly || !limited || !known
}

// vpaWarnings warns about each VerticalPodAutoscaler of vpas that targets
// obj's workload, updates pods and sets the memory memhpa divides by, in at
// least one container that counts (spec.container alone when set). template
// is the target's pod template, nil when it could not be read: then every
// container policy of the VPA is considered. It is pure.
func vpaWarnings(obj *v1alpha1.MemHpa, template *corev1.PodTemplateSpec, vpas []VerticalPodAutoscaler) []string {
	ref := obj.Spec.ScaleTargetRef
	gk := v1alpha1.TargetGroupKind(ref)
	var warnings []string
	for _, v := range sortedByName(vpas, func(v VerticalPodAutoscaler) string { return v.Name }) {
		t := v.Spec.TargetRef
		if v.Namespace != obj.Namespace || v.DeletionTimestamp != nil || t == nil || t.Name != ref.Name ||
			v1alpha1.TargetGroupKind(v1alpha1.CrossVersionObjectReference{APIVersion: t.APIVersion, Kind: t.Kind, Name: t.Name}) != gk {
			continue
		}
		mode, updates := v.updatesPods()
		if !updates {
			continue
		}
		which := "the memory of the pods"
		if template != nil {
			var moved []string
			for _, c := range runningContainers(template) {
				if obj.Spec.Container != "" && c.Name != obj.Spec.Container {
					continue
				}
				_, limited := c.Resources.Limits[corev1.ResourceMemory]
				if movesDenominator(v.policyFor(c.Name), limited, true) {
					moved = append(moved, c.Name)
				}
			}
			if len(moved) == 0 {
				continue
			}
			which = "the memory of " + quotedList("container", moved)
		} else if !v.movesAnyMemory(obj.Spec.Container) {
			continue
		}
		warnings = append(warnings, fmt.Sprintf(
			"VerticalPodAutoscaler %q (updateMode %s) also sets %s of %s %q: it moves the memory limits (or requests, where there is no limit) that this MemHpa divides by, so the two work against each other; set its updateMode to Off, or leave memory out of its controlledResources",
			v.Name, mode, which, gk, ref.Name))
	}
	return warnings
}

// movesAnyMemory is the rule without a pod template: only container (when
// set) or any container could be one the VPA moves.
func (v *VerticalPodAutoscaler) movesAnyMemory(container string) bool {
	if container != "" {
		return movesDenominator(v.policyFor(container), false, false)
	}
	if movesDenominator(v.policyFor(vpaDefaultContainer), false, false) {
		return true // every container without a policy of its own
	}
	for _, p := range v.Spec.ResourcePolicy.ContainerPolicies {
		if movesDenominator(&p, false, false) {
			return true
		}
	}
	return false
}

// judgeVPAs is the VPA part of judgeCrossObjects.
func judgeVPAs(obj *v1alpha1.MemHpa, r *crossObjectReads) []string {
	ref := obj.Spec.ScaleTargetRef
	if r.vpasErr != nil {
		return []string{fmt.Sprintf("could not check that no VerticalPodAutoscaler sets the memory of %s %q (%v): admitted without this check",
			v1alpha1.TargetGroupKind(ref), ref.Name, r.vpasErr)}
	}
	template := r.template
	if r.templateErr != nil {
		template = nil
	}
	return vpaWarnings(obj, template, r.vpas)
}
