package validation_test

import (
	"strings"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/validation"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

var (
	spec     = field.NewPath("spec")
	ref      = spec.Child("scaleTargetRef")
	behavior = spec.Child("behavior")
	up       = behavior.Child("scaleUp")
	down     = behavior.Child("scaleDown")
)

var (
	selectPolicies = []autoscalingv2.ScalingPolicySelect{"Disabled", "Max", "Min"}
	policyTypes    = []autoscalingv2.HPAScalingPolicyType{"Percent", "Pods"}
)

// dnsLabelMsg is what validation says of a container name that is no DNS label.
const dnsLabelMsg = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"

func TestValidate(t *testing.T) {
	pods := memhpagen.Policy(autoscalingv2.PodsScalingPolicy, 4, 15)
	tests := []struct {
		name string
		obj  *v1alpha1.MemHpa
		want field.ErrorList
	}{
		{name: "minimal", obj: memhpagen.MemHpa("web")},
		{name: "defaulted", obj: memhpagen.Defaulted(memhpagen.MemHpa("web"))},
		{name: "all fields at their bounds", obj: memhpagen.MemHpa("web", memhpagen.WithMin(1), memhpagen.WithMax(1), memhpagen.WithTarget(100),
			memhpagen.WithBehavior(
				memhpagen.Rules(memhpagen.Window(0), memhpagen.Select(autoscalingv2.MaxChangePolicySelect), memhpagen.Policies(memhpagen.Policy(autoscalingv2.PercentScalingPolicy, 1, 1800)), memhpagen.Tolerance("0")),
				memhpagen.Rules(memhpagen.Window(3600), memhpagen.Select(autoscalingv2.DisabledPolicySelect), memhpagen.Policies(memhpagen.Policy(autoscalingv2.PodsScalingPolicy, 1, 1)))))},
		{name: "target at 1", obj: memhpagen.MemHpa("web", memhpagen.WithTarget(1))},
		{name: "min equal to max", obj: memhpagen.MemHpa("web", memhpagen.WithMin(5), memhpagen.WithMax(5))},

		// metadata
		{name: "name not a DNS subdomain", obj: memhpagen.MemHpa("Web_1"),
			want: field.ErrorList{field.Invalid(field.NewPath("metadata", "name"), "Web_1",
				"a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")}},
		{name: "no name", obj: memhpagen.MemHpa(""),
			want: field.ErrorList{field.Required(field.NewPath("metadata", "name"), "name or generateName is required"),
				field.Required(ref.Child("name"), "")}},
		// The apiserver generates the name before validating admission.
		{name: "generateName with its generated name", obj: memhpagen.MemHpa("web-x7k2p", memhpagen.WithGenerateName("web-"), func(m *v1alpha1.MemHpa) { m.Name = "web-x7k2p" })},
		{name: "generateName not a DNS subdomain prefix", obj: memhpagen.MemHpa("web-x7k2p", memhpagen.WithGenerateName("Web_"), func(m *v1alpha1.MemHpa) { m.Name = "web-x7k2p" }),
			want: field.ErrorList{field.Invalid(field.NewPath("metadata", "generateName"), "Web_",
				"a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")}},

		// replicas
		{name: "min 0", obj: memhpagen.MemHpa("web", memhpagen.WithMin(0)),
			want: field.ErrorList{field.Invalid(spec.Child("minReplicas"), int32(0), "must be greater than or equal to 1")}},
		{name: "min negative", obj: memhpagen.MemHpa("web", memhpagen.WithMin(-3)),
			want: field.ErrorList{field.Invalid(spec.Child("minReplicas"), int32(-3), "must be greater than or equal to 1")}},
		{name: "max 0 with min unset", obj: memhpagen.MemHpa("web", memhpagen.WithMax(0)),
			want: field.ErrorList{field.Invalid(spec.Child("maxReplicas"), int32(0), "must be greater than or equal to 1")}},
		{name: "max below min", obj: memhpagen.MemHpa("web", memhpagen.WithMin(5), memhpagen.WithMax(3)),
			want: field.ErrorList{field.Invalid(spec.Child("maxReplicas"), int32(3), "must be greater than or equal to minReplicas (5)")}},
		{name: "min 0 and max 0 report each once", obj: memhpagen.MemHpa("web", memhpagen.WithMin(0), memhpagen.WithMax(0)),
			want: field.ErrorList{
				field.Invalid(spec.Child("minReplicas"), int32(0), "must be greater than or equal to 1"),
				field.Invalid(spec.Child("maxReplicas"), int32(0), "must be greater than or equal to 1")}},

		// mode
		{name: "mode Scale", obj: memhpagen.MemHpa("web", memhpagen.WithMode(v1alpha1.ScalingModeScale))},
		{name: "mode DryRun", obj: memhpagen.MemHpa("web", memhpagen.DryRun())},
		{name: "mode unknown", obj: memhpagen.MemHpa("web", memhpagen.WithMode("Shadow")),
			want: field.ErrorList{field.NotSupported(spec.Child("mode"), v1alpha1.ScalingMode("Shadow"), []v1alpha1.ScalingMode{"Scale", "DryRun"})}},
		{name: "mode in the wrong case", obj: memhpagen.MemHpa("web", memhpagen.WithMode("dryrun")),
			want: field.ErrorList{field.NotSupported(spec.Child("mode"), v1alpha1.ScalingMode("dryrun"), []v1alpha1.ScalingMode{"Scale", "DryRun"})}},

		// target
		{name: "target 0", obj: memhpagen.MemHpa("web", memhpagen.WithTarget(0)),
			want: field.ErrorList{field.Invalid(spec.Child("targetUtilizationPercentage"), int32(0), "must be between 1 and 100, inclusive")}},
		{name: "target 101", obj: memhpagen.MemHpa("web", memhpagen.WithTarget(101)),
			want: field.ErrorList{field.Invalid(spec.Child("targetUtilizationPercentage"), int32(101), "must be between 1 and 100, inclusive")}},

		// cpuTargetUtilizationPercentage
		{name: "cpu target at 1", obj: memhpagen.MemHpa("web", memhpagen.WithCPUTarget(1))},
		{name: "cpu target above 100, as the HPA allows", obj: memhpagen.MemHpa("web", memhpagen.WithCPUTarget(250))},
		{name: "cpu target 0", obj: memhpagen.MemHpa("web", memhpagen.WithCPUTarget(0)),
			want: field.ErrorList{field.Invalid(spec.Child("cpuTargetUtilizationPercentage"), int32(0), "must be greater than or equal to 1")}},
		{name: "cpu target negative, beside a bad memory target", obj: memhpagen.MemHpa("web", memhpagen.WithCPUTarget(-5), memhpagen.WithTarget(0)),
			want: field.ErrorList{
				field.Invalid(spec.Child("targetUtilizationPercentage"), int32(0), "must be between 1 and 100, inclusive"),
				field.Invalid(spec.Child("cpuTargetUtilizationPercentage"), int32(-5), "must be greater than or equal to 1")}},

		// scaleTargetRef
		{name: "kind and name missing", obj: memhpagen.MemHpa("web", memhpagen.WithRef("apps/v1", "", "")),
			want: field.ErrorList{field.Required(ref.Child("kind"), ""), field.Required(ref.Child("name"), "")}},
		{name: "kind and name not path segments", obj: memhpagen.MemHpa("web", memhpagen.WithRef("apps/v1", "..", "a/b")),
			want: field.ErrorList{field.Invalid(ref.Child("kind"), "..", "may not be '..'"),
				field.Invalid(ref.Child("name"), "a/b", "may not contain '/'")}},
		{name: "apiVersion empty for a Deployment is the default", obj: memhpagen.MemHpa("web", memhpagen.WithRef("", "Deployment", "web"))},
		{name: "apiVersion empty for StatefulSet and ReplicaSet too", obj: memhpagen.MemHpa("web", memhpagen.WithRef("", "ReplicaSet", "web"))},
		{name: "apiVersion empty for a custom kind", obj: memhpagen.MemHpa("web", memhpagen.WithRef("", "Rollout", "web")),
			want: field.ErrorList{field.Required(ref.Child("apiVersion"), `must be set for kind "Rollout", for example apps/v1`)}},
		{name: "apiVersion of a custom resource", obj: memhpagen.MemHpa("web", memhpagen.WithRef("argoproj.io/v1alpha1", "Rollout", "web"))},
		{name: "apiVersion of the core group", obj: memhpagen.MemHpa("web", memhpagen.WithRef("v1", "ReplicationController", "web"))},
		{name: "apiVersion with too many slashes", obj: memhpagen.MemHpa("web", memhpagen.WithRef("apps/v1/x", "Deployment", "web")),
			want: field.ErrorList{field.Invalid(ref.Child("apiVersion"), "apps/v1/x", "must be a group/version such as apps/v1")}},
		{name: "apiVersion without version", obj: memhpagen.MemHpa("web", memhpagen.WithRef("apps/", "Deployment", "web")),
			want: field.ErrorList{field.Invalid(ref.Child("apiVersion"), "apps/", "must be a group/version such as apps/v1")}},
		{name: "apiVersion with a bad group", obj: memhpagen.MemHpa("web", memhpagen.WithRef("Apps_/v1", "Deployment", "web")),
			want: field.ErrorList{field.Invalid(ref.Child("apiVersion"), "Apps_/v1", "must be a group/version such as apps/v1, with a group that is a DNS subdomain")}},
		{name: "apiVersion with a bad version", obj: memhpagen.MemHpa("web", memhpagen.WithRef("apps/V1", "Deployment", "web")),
			want: field.ErrorList{field.Invalid(ref.Child("apiVersion"), "apps/V1", "must be a group/version such as apps/v1, with a version that is a DNS label")}},

		// behavior, as the apiserver checks an HPA's
		{name: "behavior empty", obj: memhpagen.MemHpa("web", memhpagen.WithBehavior(nil, nil))},
		{name: "rules with policies unset take the HPA defaults", obj: memhpagen.MemHpa("web", memhpagen.WithBehavior(memhpagen.Rules(memhpagen.Window(60)), memhpagen.Rules()))},
		{name: "policies empty", obj: memhpagen.MemHpa("web", memhpagen.WithBehavior(memhpagen.Rules(memhpagen.Policies()), memhpagen.Rules(memhpagen.Policies()))),
			want: field.ErrorList{field.Required(up.Child("policies"), "must have at least one policy"),
				field.Required(down.Child("policies"), "must have at least one policy")}},
		{name: "window negative", obj: memhpagen.MemHpa("web", memhpagen.WithBehavior(memhpagen.Rules(memhpagen.Window(-1)), nil)),
			want: field.ErrorList{field.Invalid(up.Child("stabilizationWindowSeconds"), int32(-1), "must be greater than or equal to 0")}},
		{name: "window over an hour", obj: memhpagen.MemHpa("web", memhpagen.WithBehavior(nil, memhpagen.Rules(memhpagen.Window(3601)))),
			want: field.ErrorList{field.Invalid(down.Child("stabilizationWindowSeconds"), int32(3601), "must be less than or equal to 3600")}},
		{name: "select policy unknown", obj: memhpagen.MemHpa("web", memhpagen.WithBehavior(memhpagen.Rules(memhpagen.Select("max")), nil)),
			want: field.ErrorList{field.NotSupported(up.Child("selectPolicy"), autoscalingv2.ScalingPolicySelect("max"), selectPolicies)}},
		{name: "policy with every field wrong", obj: memhpagen.MemHpa("web", memhpagen.WithBehavior(nil, memhpagen.Rules(memhpagen.Policies(pods, memhpagen.Policy("Replicas", 0, 0))))),
			want: field.ErrorList{
				field.NotSupported(down.Child("policies").Index(1).Child("type"), autoscalingv2.HPAScalingPolicyType("Replicas"), policyTypes),
				field.Invalid(down.Child("policies").Index(1).Child("value"), int32(0), "must be greater than 0"),
				field.Invalid(down.Child("policies").Index(1).Child("periodSeconds"), int32(0), "must be greater than 0")}},
		{name: "policy value negative and period over 30 minutes", obj: memhpagen.MemHpa("web", memhpagen.WithBehavior(memhpagen.Rules(memhpagen.Policies(memhpagen.Policy(autoscalingv2.PercentScalingPolicy, -5, 1801))), nil)),
			want: field.ErrorList{
				field.Invalid(up.Child("policies").Index(0).Child("value"), int32(-5), "must be greater than 0"),
				field.Invalid(up.Child("policies").Index(0).Child("periodSeconds"), int32(1801), "must be less than or equal to 1800")}},
		{name: "tolerance negative", obj: memhpagen.MemHpa("web", memhpagen.WithBehavior(memhpagen.Rules(memhpagen.Tolerance("-0.1")), nil)),
			want: field.ErrorList{field.Invalid(up.Child("tolerance"), "-100m", "must be greater than or equal to 0")}},

		{name: "container unset", obj: memhpagen.MemHpa("web")},
		{name: "container a DNS label", obj: memhpagen.MemHpa("web", memhpagen.WithContainer("app"))},
		{name: "container of 63 characters", obj: memhpagen.MemHpa("web", memhpagen.WithContainer(strings.Repeat("a", 63)))},
		{name: "container in upper case", obj: memhpagen.MemHpa("web", memhpagen.WithContainer("App")),
			want: field.ErrorList{field.Invalid(spec.Child("container"), "App", dnsLabelMsg)}},
		{name: "container with a dot", obj: memhpagen.MemHpa("web", memhpagen.WithContainer("app.v1")),
			want: field.ErrorList{field.Invalid(spec.Child("container"), "app.v1", "must not contain dots")}},
		{name: "container of 64 characters", obj: memhpagen.MemHpa("web", memhpagen.WithContainer(strings.Repeat("a", 64))),
			want: field.ErrorList{field.Invalid(spec.Child("container"), strings.Repeat("a", 64), "must be no more than 63 characters")}},
		{name: "a bad container beside another bad field, both reported", obj: memhpagen.MemHpa("web", memhpagen.WithContainer("-app"), memhpagen.WithMin(0)),
			want: field.ErrorList{
				field.Invalid(spec.Child("minReplicas"), int32(0), "must be greater than or equal to 1"),
				field.Invalid(spec.Child("container"), "-app", dnsLabelMsg),
			}},
		// the hot-container guard
		{name: "guard at the target", obj: memhpagen.MemHpa("web", memhpagen.WithTarget(70), memhpagen.WithMaxContainerUtilization(70))},
		{name: "guard at 100", obj: memhpagen.MemHpa("web", memhpagen.WithMaxContainerUtilization(100))},
		{name: "guard 0", obj: memhpagen.MemHpa("web", memhpagen.WithTarget(1), memhpagen.WithMaxContainerUtilization(0)),
			want: field.ErrorList{field.Invalid(spec.Child("maxContainerUtilizationPercentage"), int32(0), "must be between 1 and 100, inclusive")}},
		{name: "guard 101", obj: memhpagen.MemHpa("web", memhpagen.WithMaxContainerUtilization(101)),
			want: field.ErrorList{field.Invalid(spec.Child("maxContainerUtilizationPercentage"), int32(101), "must be between 1 and 100, inclusive")}},
		{name: "guard below the target", obj: memhpagen.MemHpa("web", memhpagen.WithTarget(70), memhpagen.WithMaxContainerUtilization(69)),
			want: field.ErrorList{field.Invalid(spec.Child("maxContainerUtilizationPercentage"), int32(69), "must be greater than or equal to targetUtilizationPercentage (70)")}},
		{name: "guard below the default target (80)", obj: memhpagen.MemHpa("web", memhpagen.WithMaxContainerUtilization(75)),
			want: field.ErrorList{field.Invalid(spec.Child("maxContainerUtilizationPercentage"), int32(75), "must be greater than or equal to targetUtilizationPercentage (80)")}},
		{name: "a bad target is not compared with the guard", obj: memhpagen.MemHpa("web", memhpagen.WithTarget(150), memhpagen.WithMaxContainerUtilization(90)),
			want: field.ErrorList{field.Invalid(spec.Child("targetUtilizationPercentage"), int32(150), "must be between 1 and 100, inclusive")}},
		{name: "guard out of range beside a bad target: both, once each", obj: memhpagen.MemHpa("web", memhpagen.WithTarget(0), memhpagen.WithMaxContainerUtilization(-1)),
			want: field.ErrorList{
				field.Invalid(spec.Child("targetUtilizationPercentage"), int32(0), "must be between 1 and 100, inclusive"),
				field.Invalid(spec.Child("maxContainerUtilizationPercentage"), int32(-1), "must be between 1 and 100, inclusive")}},

		{name: "three bad fields give three errors", obj: memhpagen.MemHpa("web", memhpagen.WithMin(0), memhpagen.WithTarget(150), memhpagen.WithRef("apps/v1", "Deployment", "")),
			want: field.ErrorList{
				field.Required(ref.Child("name"), ""),
				field.Invalid(spec.Child("minReplicas"), int32(0), "must be greater than or equal to 1"),
				field.Invalid(spec.Child("targetUtilizationPercentage"), int32(150), "must be between 1 and 100, inclusive")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertErrors(t, validation.Validate(tt.obj), tt.want)
			assertErrors(t, validation.ValidateWithoutMetadata(tt.obj), notUnder("metadata", tt.want))
			// Validation judges an unset field as its default would be.
			assertErrors(t, validation.Validate(memhpagen.Defaulted(tt.obj)), tt.want)
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	old := memhpagen.MemHpa("web", memhpagen.WithResourceVersion("7"), memhpagen.WithUID("u1"))
	// Stored before a rule existed (or with the webhook down): invalid already.
	oldInvalid := memhpagen.MemHpa("web", memhpagen.WithResourceVersion("7"), memhpagen.WithUID("u1"), memhpagen.WithTarget(150))
	tests := []struct {
		name     string
		new, old *v1alpha1.MemHpa
		want     field.ErrorList
	}{
		{name: "valid change", new: memhpagen.MemHpa("web", memhpagen.WithResourceVersion("7"), memhpagen.WithUID("u1"), memhpagen.WithMax(20)), old: old},
		{name: "invalid change", new: memhpagen.MemHpa("web", memhpagen.WithResourceVersion("7"), memhpagen.WithUID("u1"), memhpagen.WithMin(30)), old: old,
			want: field.ErrorList{field.Invalid(spec.Child("maxReplicas"), int32(10), "must be greater than or equal to minReplicas (30)")}},
		{name: "unchanged invalid spec is not judged again",
			new: memhpagen.MemHpa("web", memhpagen.WithResourceVersion("7"), memhpagen.WithUID("u1"), memhpagen.WithTarget(150), memhpagen.WithFinalizers()), old: oldInvalid},
		{name: "changing an invalid spec judges all of it",
			new: memhpagen.MemHpa("web", memhpagen.WithResourceVersion("7"), memhpagen.WithUID("u1"), memhpagen.WithTarget(150), memhpagen.WithMax(20)), old: oldInvalid,
			want: field.ErrorList{field.Invalid(spec.Child("targetUtilizationPercentage"), int32(150), "must be between 1 and 100, inclusive")}},
		{name: "name is immutable", new: memhpagen.MemHpa("web2", memhpagen.WithResourceVersion("7"), memhpagen.WithUID("u1")), old: old,
			want: field.ErrorList{field.Invalid(field.NewPath("metadata", "name"), "web2", "field is immutable")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertErrors(t, validation.ValidateUpdate(tt.new, tt.old), tt.want)
			assertErrors(t, validation.ValidateUpdateWithoutMetadata(tt.new, tt.old), notUnder("metadata", tt.want))
		})
	}
}

func TestValidateStatusUpdate(t *testing.T) {
	old := memhpagen.MemHpa("web", memhpagen.WithResourceVersion("7"))
	cond := metav1.Condition{Type: "AbleToScale", Status: metav1.ConditionTrue, Reason: "SucceededRescale",
		Message: "the scaler was able to update the target scale", LastTransitionTime: metav1.Unix(1e9, 0)}
	tests := []struct {
		name   string
		status v1alpha1.MemHpaStatus
		want   field.ErrorList
	}{
		{name: "valid", status: v1alpha1.MemHpaStatus{ObservedGeneration: ptr64(3), CurrentReplicas: 2, DesiredReplicas: 3,
			CurrentUtilizationPercentage: ptr32(120), Conditions: []metav1.Condition{cond}}},
		{name: "negative counts", status: v1alpha1.MemHpaStatus{ObservedGeneration: ptr64(-1), CurrentReplicas: -1, DesiredReplicas: -2,
			CurrentUtilizationPercentage: ptr32(-5)},
			want: field.ErrorList{
				field.Invalid(field.NewPath("status", "observedGeneration"), int64(-1), "must be greater than or equal to 0"),
				field.Invalid(field.NewPath("status", "currentReplicas"), int32(-1), "must be greater than or equal to 0"),
				field.Invalid(field.NewPath("status", "desiredReplicas"), int32(-2), "must be greater than or equal to 0"),
				field.Invalid(field.NewPath("status", "currentUtilizationPercentage"), int32(-5), "must be greater than or equal to 0")}},
		{name: "condition without a reason", status: v1alpha1.MemHpaStatus{Conditions: []metav1.Condition{{Type: "AbleToScale", Status: metav1.ConditionTrue, LastTransitionTime: metav1.Unix(1e9, 0)}}},
			want: field.ErrorList{field.Required(field.NewPath("status", "conditions").Index(0).Child("reason"), "")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := memhpagen.MemHpa("web", memhpagen.WithResourceVersion("7"), memhpagen.WithStatus(tt.status))
			assertErrors(t, validation.ValidateStatusUpdate(obj, old), tt.want)
			assertErrors(t, validation.ValidateStatusUpdateWithoutMetadata(obj, old), notUnder("metadata", tt.want))
		})
	}
}

// matcher compares what a user sees of an error: its type, path, value and
// message.
var matcher = field.ErrorMatcher{}.ByType().ByField().ByValue().ByDetailExact()

func assertErrors(t *testing.T, got, want field.ErrorList) {
	t.Helper()
	matcher.Test(t, want, got)
}

func ptr32(v int32) *int32 { return &v }
func ptr64(v int64) *int64 { return &v }

func TestAnnotationWarnings(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		want        []string
	}{
		{name: "none"},
		{name: "other prefixes are not ours", annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}", "memhpa.io/paused": "yes"}},
		{name: "each pause annotation with true or false", annotations: map[string]string{
			v1alpha1.AnnotationPaused: "false", v1alpha1.AnnotationPausedScaleIn: "true", v1alpha1.AnnotationPausedScaleOut: "false"}},
		{name: "a value that is neither true nor false", annotations: map[string]string{v1alpha1.AnnotationPaused: "True", v1alpha1.AnnotationPausedScaleIn: ""},
			want: []string{
				`metadata.annotations[autoscaling.memhpa.io/paused]: "True" is read as "false" (nothing paused); must be "true" or "false"`,
				`metadata.annotations[autoscaling.memhpa.io/paused-scale-in]: "" is read as "false" (nothing paused); must be "true" or "false"`}},
		{name: "an unknown annotation of ours", annotations: map[string]string{"autoscaling.memhpa.io/pause": "true"},
			want: []string{"metadata.annotations[autoscaling.memhpa.io/pause]: unknown annotation, ignored; known: " +
				"autoscaling.memhpa.io/paused, autoscaling.memhpa.io/paused-scale-in, autoscaling.memhpa.io/paused-scale-out"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := validation.AnnotationWarnings(tt.annotations)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("warnings:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// notUnder is errs without those at path or below it.
func notUnder(path string, errs field.ErrorList) field.ErrorList {
	var out field.ErrorList
	for _, e := range errs {
		if e.Field != path && !strings.HasPrefix(e.Field, path+".") {
			out = append(out, e)
		}
	}
	return out
}
