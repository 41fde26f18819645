package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

// Defaults of the MemHpa spec, applied by the mutating webhook and assumed by
// every reader of an object the webhook never saw (its failure policy may let
// an object through undefaulted).
const (
	// DefaultMinReplicas is spec.minReplicas when unset.
	DefaultMinReplicas int32 = 1
	// DefaultTargetUtilizationPercentage is spec.targetUtilizationPercentage
	// when unset: the HPA's default CPU target and the original MemHpa's.
	DefaultTargetUtilizationPercentage int32 = 80
	// DefaultWorkloadAPIVersion is scaleTargetRef.apiVersion when unset and the
	// kind is one of the apps/v1 workloads.
	DefaultWorkloadAPIVersion = "apps/v1"
)

// SetDefaults fills the unset fields of obj that have a default. It changes obj
// in place and is idempotent. It leaves behavior alone: an unset behavior, or
// unset parts of it, mean the HorizontalPodAutoscaler's defaults.
func SetDefaults(obj *MemHpa) {
	spec := &obj.Spec
	if spec.MinReplicas == nil {
		spec.MinReplicas = ptr.To(DefaultMinReplicas)
	}
	if spec.TargetUtilizationPercentage == nil {
		spec.TargetUtilizationPercentage = ptr.To(DefaultTargetUtilizationPercentage)
	}
	if spec.ScaleTargetRef.APIVersion == "" {
		spec.ScaleTargetRef.APIVersion = DefaultAPIVersion(spec.ScaleTargetRef.Kind)
	}
	if spec.Mode == "" {
		spec.Mode = ScalingModeScale
	}
}

// DefaultAPIVersion is the apiVersion that an empty scaleTargetRef.apiVersion
// stands for with the given kind: apps/v1 for Deployment, StatefulSet and
// ReplicaSet, and "" (no default) for any other kind.
func DefaultAPIVersion(kind string) string {
	switch kind {
	case "Deployment", "StatefulSet", "ReplicaSet":
		return DefaultWorkloadAPIVersion
	}
	return ""
}

// TargetAPIVersion is the apiVersion of ref as the defaulter would set it: the
// one written, or DefaultAPIVersion of its kind when empty. Readers of objects
// that may not have been defaulted use it instead of ref.APIVersion.
func TargetAPIVersion(ref CrossVersionObjectReference) string {
	if ref.APIVersion != "" {
		return ref.APIVersion
	}
	return DefaultAPIVersion(ref.Kind)
}

// TargetGroupKind is the group and kind of ref, with an empty apiVersion read
// as TargetAPIVersion does. Two references name the same workload when their
// GroupKinds and names are equal: the version plays no part. An apiVersion that
// cannot be parsed stands for itself as the group, so it only matches the same
// text (why: a typo must not match a real group, and admission must not fail
// on it).
func TargetGroupKind(ref CrossVersionObjectReference) schema.GroupKind {
	apiVersion := TargetAPIVersion(ref)
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return schema.GroupKind{Group: apiVersion, Kind: ref.Kind}
	}
	return schema.GroupKind{Group: gv.Group, Kind: ref.Kind}
}

// EffectiveMinReplicas is spec.minReplicas, or its default when unset.
func EffectiveMinReplicas(spec *MemHpaSpec) int32 {
	return ptr.Deref(spec.MinReplicas, DefaultMinReplicas)
}

// IsDryRun tells whether spec is in mode DryRun; an unset mode is Scale.
func IsDryRun(spec *MemHpaSpec) bool { return spec.Mode == ScalingModeDryRun }

// EffectiveTargetUtilizationPercentage is spec.targetUtilizationPercentage, or
// its default when unset.
func EffectiveTargetUtilizationPercentage(spec *MemHpaSpec) int32 {
	return ptr.Deref(spec.TargetUtilizationPercentage, DefaultTargetUtilizationPercentage)
}
