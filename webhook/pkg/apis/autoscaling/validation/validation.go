// Package validation checks MemHpa objects: pure functions of the objects that
// return every problem at once as a field.ErrorList with real field paths, as
// the Kubernetes apiserver validates its own types. Validation copes with
// objects the defaulter never saw: an unset field that has a default is judged
// as its default.
package validation

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/validate/content"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
)

// Bounds of the fields, the same as the HorizontalPodAutoscaler's where the
// field has the same meaning (k8s.io/kubernetes pkg/apis/autoscaling/validation).
const (
	// MinTargetUtilizationPercentage is the lowest target.
	MinTargetUtilizationPercentage = 1
	// MaxTargetUtilizationPercentage is the highest target: the limit is what
	// gets a container killed, so a target above it could never be reached.
	MaxTargetUtilizationPercentage = 100
	// MinCPUTargetUtilizationPercentage is the lowest CPU target; there is no
	// highest, as for the HPA's (a container may use more CPU than it
	// requests).
	MinCPUTargetUtilizationPercentage = 1
	// MaxStabilizationWindowSeconds bounds behavior.*.stabilizationWindowSeconds.
	MaxStabilizationWindowSeconds = 3600
	// MaxPeriodSeconds bounds behavior.*.policies[*].periodSeconds.
	MaxPeriodSeconds = 1800
)

var (
	validSelectPolicies = []autoscalingv2.ScalingPolicySelect{
		autoscalingv2.DisabledPolicySelect, autoscalingv2.MaxChangePolicySelect, autoscalingv2.MinChangePolicySelect,
	}
	validPolicyTypes = []autoscalingv2.HPAScalingPolicyType{
		autoscalingv2.PercentScalingPolicy, autoscalingv2.PodsScalingPolicy,
	}
	validModes = []v1alpha1.ScalingMode{v1alpha1.ScalingModeScale, v1alpha1.ScalingModeDryRun}
)

// Validate checks a MemHpa as it is created.
func Validate(obj *v1alpha1.MemHpa) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&obj.ObjectMeta, true,
		apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, ValidateWithoutMetadata(obj)...)
}

// ValidateWithoutMetadata is Validate without the object metadata (name,
// generateName, namespace, labels, annotations, owner references,
// finalizers), for a validating webhook: the apiserver has validated the
// metadata before it calls one (k8s.io/apiserver pkg/registry/rest,
// BeforeCreate and BeforeUpdate, run before the validating admission), and
// checking it again cost a review 8 % of its CPU (issue 15).
func ValidateWithoutMetadata(obj *v1alpha1.MemHpa) field.ErrorList {
	return ValidateSpec(&obj.Spec, field.NewPath("spec"))
}

// ValidateUpdate checks a change of a MemHpa's metadata and spec. A spec left
// as it was is not judged again, so that an object stored before a rule was
// tightened can still have its labels or finalizers changed and be deleted.
func ValidateUpdate(newObj, oldObj *v1alpha1.MemHpa) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&newObj.ObjectMeta, &oldObj.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, ValidateUpdateWithoutMetadata(newObj, oldObj)...)
}

// ValidateUpdateWithoutMetadata is ValidateUpdate without the metadata, for a
// validating webhook (see ValidateWithoutMetadata).
func ValidateUpdateWithoutMetadata(newObj, oldObj *v1alpha1.MemHpa) field.ErrorList {
	if !SpecChanged(newObj, oldObj) {
		return nil
	}
	return ValidateSpec(&newObj.Spec, field.NewPath("spec"))
}

// SpecChanged tells whether an update changes the spec, so that it needs the
// spec rules and the checks against other objects again.
func SpecChanged(newObj, oldObj *v1alpha1.MemHpa) bool {
	return !apiequality.Semantic.DeepEqual(newObj.Spec, oldObj.Spec)
}

// ValidateStatusUpdate checks a change of a MemHpa's status, as the scaler
// writes it.
func ValidateStatusUpdate(newObj, oldObj *v1alpha1.MemHpa) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&newObj.ObjectMeta, &oldObj.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, ValidateStatusUpdateWithoutMetadata(newObj, oldObj)...)
}

// ValidateStatusUpdateWithoutMetadata is ValidateStatusUpdate without the
// metadata, for a validating webhook (see ValidateWithoutMetadata).
func ValidateStatusUpdateWithoutMetadata(newObj, _ *v1alpha1.MemHpa) field.ErrorList {
	return ValidateStatus(&newObj.Status, field.NewPath("status"))
}

// ValidateSpec checks a MemHpa spec at fldPath.
func ValidateSpec(spec *v1alpha1.MemHpaSpec, fldPath *field.Path) field.ErrorList {
	allErrs := ValidateScaleTargetRef(spec.ScaleTargetRef, fldPath.Child("scaleTargetRef"))

	minOK := true
	if spec.MinReplicas != nil && *spec.MinReplicas < 1 {
		minOK = false
		allErrs = append(allErrs, field.Invalid(fldPath.Child("minReplicas"), *spec.MinReplicas, "must be greater than or equal to 1"))
	}
	maxPath := fldPath.Child("maxReplicas")
	switch {
	case spec.MaxReplicas < 1:
		allErrs = append(allErrs, field.Invalid(maxPath, spec.MaxReplicas, "must be greater than or equal to 1"))
	case minOK && spec.MaxReplicas < v1alpha1.EffectiveMinReplicas(spec):
		// Only compared when both bounds are valid on their own, so one mistake
		// is reported once.
		allErrs = append(allErrs, field.Invalid(maxPath, spec.MaxReplicas,
			fmt.Sprintf("must be greater than or equal to minReplicas (%d)", v1alpha1.EffectiveMinReplicas(spec))))
	}
	targetOK := true
	if t := spec.TargetUtilizationPercentage; t != nil && (*t < MinTargetUtilizationPercentage || *t > MaxTargetUtilizationPercentage) {
		targetOK = false
		allErrs = append(allErrs, field.Invalid(fldPath.Child("targetUtilizationPercentage"), *t,
			fmt.Sprintf("must be between %d and %d, inclusive", MinTargetUtilizationPercentage, MaxTargetUtilizationPercentage)))
	}
	if g := spec.MaxContainerUtilizationPercentage; g != nil {
		guardPath := fldPath.Child("maxContainerUtilizationPercentage")
		target := v1alpha1.EffectiveTargetUtilizationPercentage(spec)
		switch {
		case *g < MinTargetUtilizationPercentage || *g > MaxTargetUtilizationPercentage:
			allErrs = append(allErrs, field.Invalid(guardPath, *g,
				fmt.Sprintf("must be between %d and %d, inclusive", MinTargetUtilizationPercentage, MaxTargetUtilizationPercentage)))
		case targetOK && *g < target:
			// Below the target, the guard would fire at the target's own
			// utilization and grow the workload to its maximum.
			allErrs = append(allErrs, field.Invalid(guardPath, *g,
				fmt.Sprintf("must be greater than or equal to targetUtilizationPercentage (%d)", target)))
		}
	}
	if t := spec.CPUTargetUtilizationPercentage; t != nil && *t < MinCPUTargetUtilizationPercentage {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("cpuTargetUtilizationPercentage"), *t,
			fmt.Sprintf("must be greater than or equal to %d", MinCPUTargetUtilizationPercentage)))
	}
	if spec.Container != "" {
		// The HPA's ContainerResource names its container by the same rule
		// (kubernetes pkg/apis/autoscaling/validation).
		for _, msg := range validation.IsDNS1123Label(spec.Container) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("container"), spec.Container, msg))
		}
	}
	// An unset mode is Scale (the defaulter's and the CRD's default).
	if spec.Mode != "" && !oneOf(spec.Mode, validModes) {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("mode"), spec.Mode, validModes))
	}
	return append(allErrs, ValidateBehavior(spec.Behavior, fldPath.Child("behavior"))...)
}

// pauseAnnotations are the annotations of ours that a user may set.
var pauseAnnotations = []string{v1alpha1.AnnotationPaused, v1alpha1.AnnotationPausedScaleIn, v1alpha1.AnnotationPausedScaleOut}

// AnnotationWarnings names the annotations under autoscaling.memhpa.io/ that
// the scaler does not know, and the pause annotations whose value is neither
// "true" nor "false" (read as not paused). They are warnings, not errors: an
// annotation is metadata, and a typo must not block a kubectl apply.
func AnnotationWarnings(annotations map[string]string) []string {
	var warnings []string
	for _, key := range slices.Sorted(maps.Keys(annotations)) {
		if !strings.HasPrefix(key, v1alpha1.AnnotationPrefix) {
			continue
		}
		value := annotations[key]
		switch {
		case !slices.Contains(pauseAnnotations, key):
			warnings = append(warnings, fmt.Sprintf("metadata.annotations[%s]: unknown annotation, ignored; known: %s",
				key, strings.Join(pauseAnnotations, ", ")))
		case value != "true" && value != "false":
			warnings = append(warnings, fmt.Sprintf(`metadata.annotations[%s]: %q is read as "false" (nothing paused); must be "true" or "false"`,
				key, value))
		}
	}
	return warnings
}

// ValidateScaleTargetRef checks the reference to the scaled workload. An empty
// apiVersion is accepted where the defaulter would fill it in.
func ValidateScaleTargetRef(ref v1alpha1.CrossVersionObjectReference, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	allErrs = append(allErrs, validatePathSegment(ref.Kind, fldPath.Child("kind"))...)
	allErrs = append(allErrs, validatePathSegment(ref.Name, fldPath.Child("name"))...)

	apiVersionPath := fldPath.Child("apiVersion")
	apiVersion := v1alpha1.TargetAPIVersion(ref)
	if apiVersion == "" {
		return append(allErrs, field.Required(apiVersionPath, "must be set for kind "+quoteOrEmpty(ref.Kind)+", for example apps/v1"))
	}
	if msg := groupVersionProblem(apiVersion); msg != "" {
		allErrs = append(allErrs, field.Invalid(apiVersionPath, ref.APIVersion, msg))
	}
	return allErrs
}

func validatePathSegment(value string, fldPath *field.Path) field.ErrorList {
	if value == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	allErrs := field.ErrorList{}
	for _, msg := range content.IsPathSegmentName(value) {
		allErrs = append(allErrs, field.Invalid(fldPath, value, msg))
	}
	return allErrs
}

// groupVersionProblem explains why s is not a group/version such as apps/v1
// or v1, or returns "".
func groupVersionProblem(s string) string {
	const want = "must be a group/version such as apps/v1"
	gv, err := schema.ParseGroupVersion(s)
	if err != nil || gv.Version == "" {
		return want
	}
	if gv.Group != "" && len(validation.IsDNS1123Subdomain(gv.Group)) > 0 {
		return want + ", with a group that is a DNS subdomain"
	}
	if len(validation.IsDNS1035Label(gv.Version)) > 0 {
		return want + ", with a version that is a DNS label"
	}
	return ""
}

func quoteOrEmpty(s string) string {
	if s == "" {
		return `""`
	}
	return fmt.Sprintf("%q", s)
}

// ValidateBehavior checks a behavior exactly as the Kubernetes apiserver checks
// a HorizontalPodAutoscaler's. Unset rules, windows, select policies and
// policies mean the HPA's defaults; a policies list that is present must not
// be empty.
func ValidateBehavior(behavior *v1alpha1.MemHpaBehavior, fldPath *field.Path) field.ErrorList {
	if behavior == nil {
		return nil
	}
	allErrs := validateScalingRules(behavior.ScaleUp, fldPath.Child("scaleUp"))
	return append(allErrs, validateScalingRules(behavior.ScaleDown, fldPath.Child("scaleDown"))...)
}

func validateScalingRules(rules *v1alpha1.MemHpaScalingRules, fldPath *field.Path) field.ErrorList {
	if rules == nil {
		return nil
	}
	allErrs := field.ErrorList{}
	if w := rules.StabilizationWindowSeconds; w != nil {
		if *w < 0 {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("stabilizationWindowSeconds"), *w, "must be greater than or equal to 0"))
		} else if *w > MaxStabilizationWindowSeconds {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("stabilizationWindowSeconds"), *w,
				fmt.Sprintf("must be less than or equal to %d", MaxStabilizationWindowSeconds)))
		}
	}
	if p := rules.SelectPolicy; p != nil && !oneOf(*p, validSelectPolicies) {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("selectPolicy"), *p, validSelectPolicies))
	}
	policiesPath := fldPath.Child("policies")
	// nil is "unset" (the HPA's default policies); an explicit [] is an error,
	// as the apiserver sees the two after its defaulting.
	if rules.Policies != nil && len(rules.Policies) == 0 {
		allErrs = append(allErrs, field.Required(policiesPath, "must have at least one policy"))
	}
	for i, policy := range rules.Policies {
		allErrs = append(allErrs, validateScalingPolicy(policy, policiesPath.Index(i))...)
	}
	if t := rules.Tolerance; t != nil && t.Sign() < 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("tolerance"), t.String(), "must be greater than or equal to 0"))
	}
	return allErrs
}

func validateScalingPolicy(policy v1alpha1.MemHpaScalingPolicy, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	if !oneOf(policy.Type, validPolicyTypes) {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("type"), policy.Type, validPolicyTypes))
	}
	if policy.Value <= 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("value"), policy.Value, "must be greater than 0"))
	}
	switch {
	case policy.PeriodSeconds <= 0:
		allErrs = append(allErrs, field.Invalid(fldPath.Child("periodSeconds"), policy.PeriodSeconds, "must be greater than 0"))
	case policy.PeriodSeconds > MaxPeriodSeconds:
		allErrs = append(allErrs, field.Invalid(fldPath.Child("periodSeconds"), policy.PeriodSeconds,
			fmt.Sprintf("must be less than or equal to %d", MaxPeriodSeconds)))
	}
	return allErrs
}

// ValidateStatus checks a MemHpa status at fldPath.
func ValidateStatus(status *v1alpha1.MemHpaStatus, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	if g := status.ObservedGeneration; g != nil && *g < 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("observedGeneration"), *g, "must be greater than or equal to 0"))
	}
	if status.CurrentReplicas < 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("currentReplicas"), status.CurrentReplicas, "must be greater than or equal to 0"))
	}
	if status.DesiredReplicas < 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("desiredReplicas"), status.DesiredReplicas, "must be greater than or equal to 0"))
	}
	if u := status.CurrentUtilizationPercentage; u != nil && *u < 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("currentUtilizationPercentage"), *u, "must be greater than or equal to 0"))
	}
	return append(allErrs, metav1validation.ValidateConditions(status.Conditions, fldPath.Child("conditions"))...)
}

func oneOf[T comparable](v T, valid []T) bool {
	for _, x := range valid {
		if v == x {
			return true
		}
	}
	return false
}
