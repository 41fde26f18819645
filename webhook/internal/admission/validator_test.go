package admission

import (
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

var refPath = field.NewPath("spec", "scaleTargetRef")

// limited is the template of a Deployment whose container has a memory limit.
var limited = memhpagen.PodTemplate(memhpagen.Container("app", "512Mi", ""))

func TestValidator(t *testing.T) {
	other := memhpagen.MemHpa("other", memhpagen.WithRef("apps/v1", "Deployment", "web"))
	// The apiserver sends an update with the stored resourceVersion.
	rv := memhpagen.WithResourceVersion("7")
	tests := []struct {
		name   string
		body   []byte
		lookup *FakeLookup
		// wantCauses are the field errors of an Invalid refusal, nil when admitted.
		wantCauses field.ErrorList
		// wantWarnings are substrings, one per warning expected.
		wantWarnings []string
		// wantReads are the Lookup methods called, nil for none.
		wantReads []string
	}{
		{name: "valid create", body: reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web"), nil),
			lookup:    &FakeLookup{Templates: workload("web", limited)},
			wantReads: []string{"HorizontalPodAutoscalers", "MemHpas", "PodTemplate"}},
		{name: "three bad fields give three causes and no reads",
			body:   reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web", memhpagen.WithMin(0), memhpagen.WithTarget(150), memhpagen.WithRef("apps/v1", "Deployment", "")), nil),
			lookup: &FakeLookup{},
			wantCauses: field.ErrorList{
				field.Required(refPath.Child("name"), ""),
				field.Invalid(field.NewPath("spec", "minReplicas"), int32(0), "must be greater than or equal to 1"),
				field.Invalid(field.NewPath("spec", "targetUtilizationPercentage"), int32(150), "must be between 1 and 100, inclusive")}},
		// The apiserver validates the metadata before it calls validating webhooks.
		{name: "metadata is the apiserver's to judge: a name it would refuse is not judged again",
			body:      reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("Web_1", memhpagen.WithRef("apps/v1", "Deployment", "web")), nil),
			lookup:    &FakeLookup{Templates: workload("web", limited)},
			wantReads: []string{"HorizontalPodAutoscalers", "MemHpas", "PodTemplate"}},
		{name: "metadata is the apiserver's to judge: an update that renames is not judged again",
			body:   reviewJSON(t, admissionv1.Update, memhpagen.MemHpa("web2", rv, memhpagen.WithRef("apps/v1", "Deployment", "web")), memhpagen.MemHpa("web", rv)),
			lookup: &FakeLookup{}},
		{name: "field errors and an owner conflict are reported together",
			body:   reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web", memhpagen.WithMax(0)), nil),
			lookup: &FakeLookup{MemHpaItems: []v1alpha1.MemHpa{*other}, Templates: workload("web", limited)},
			wantCauses: field.ErrorList{
				field.Invalid(field.NewPath("spec", "maxReplicas"), int32(0), "must be greater than or equal to 1"),
				field.Forbidden(refPath, `must not point at Deployment.apps "web", which MemHpa "other" already scales`)},
			wantReads: []string{"HorizontalPodAutoscalers", "MemHpas", "PodTemplate"}},
		{name: "undefaulted object is judged as defaulted",
			body:      reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web", memhpagen.WithRef("", "Deployment", "web"), memhpagen.WithMax(1)), nil),
			lookup:    &FakeLookup{Templates: workload("web", limited)},
			wantReads: []string{"HorizontalPodAutoscalers", "MemHpas", "PodTemplate"}},
		{name: "second MemHpa on the same workload",
			body:       reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web"), nil),
			lookup:     &FakeLookup{MemHpaItems: []v1alpha1.MemHpa{*other}, Templates: workload("web", limited)},
			wantCauses: field.ErrorList{field.Forbidden(refPath, `must not point at Deployment.apps "web", which MemHpa "other" already scales`)},
			wantReads:  []string{"HorizontalPodAutoscalers", "MemHpas", "PodTemplate"}},
		{name: "same workload written without apiVersion and in another version",
			body: reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web", memhpagen.WithRef("", "Deployment", "web")), nil),
			lookup: &FakeLookup{MemHpaItems: []v1alpha1.MemHpa{*memhpagen.MemHpa("other", memhpagen.WithRef("apps/v1beta2", "Deployment", "web"))},
				Templates: workload("web", limited)},
			wantCauses: field.ErrorList{field.Forbidden(refPath, `must not point at Deployment.apps "web", which MemHpa "other" already scales`)},
			wantReads:  []string{"HorizontalPodAutoscalers", "MemHpas", "PodTemplate"}},
		{name: "same name in another group, kind or namespace is no conflict",
			body: reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web"), nil),
			lookup: &FakeLookup{MemHpaItems: []v1alpha1.MemHpa{
				*memhpagen.MemHpa("a", memhpagen.WithRef("argoproj.io/v1alpha1", "Deployment", "web")),
				*memhpagen.MemHpa("b", memhpagen.WithRef("apps/v1", "StatefulSet", "web")),
				*memhpagen.MemHpa("c", memhpagen.WithNamespace("prod")),
				*memhpagen.MemHpa("d", memhpagen.WithRef("apps/v1", "Deployment", "web"), memhpagen.Deleting()),
			}, Templates: workload("web", limited)},
			wantReads: []string{"HorizontalPodAutoscalers", "MemHpas", "PodTemplate"}},
		{name: "update that keeps its target does not look for other autoscalers",
			body: reviewJSON(t, admissionv1.Update, memhpagen.MemHpa("web", rv, memhpagen.WithMax(20)), memhpagen.MemHpa("web", rv)),
			lookup: &FakeLookup{MemHpaItems: []v1alpha1.MemHpa{*memhpagen.MemHpa("web"), *other},
				HPAItems: []autoscalingv2.HorizontalPodAutoscaler{*memhpagen.HPA("web-hpa", "apps/v1", "Deployment", "web")}, Templates: workload("web", limited)},
			wantReads: []string{"PodTemplate"}},
		{name: "create under the name of a stored MemHpa is left to the apiserver (AlreadyExists)",
			body:      reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web"), nil),
			lookup:    &FakeLookup{MemHpaItems: []v1alpha1.MemHpa{*memhpagen.MemHpa("web")}, Templates: workload("web", limited)},
			wantReads: []string{"HorizontalPodAutoscalers", "MemHpas", "PodTemplate"}},
		{name: "update that moves onto an owned workload",
			body: reviewJSON(t, admissionv1.Update, memhpagen.MemHpa("api", rv, memhpagen.WithRef("apps/v1", "Deployment", "web")), memhpagen.MemHpa("api", rv)),
			lookup: &FakeLookup{MemHpaItems: []v1alpha1.MemHpa{*memhpagen.MemHpa("api"), *other},
				Templates: workload("web", limited)},
			wantCauses: field.ErrorList{field.Forbidden(refPath, `must not point at Deployment.apps "web", which MemHpa "other" already scales`)},
			wantReads:  []string{"HorizontalPodAutoscalers", "MemHpas", "PodTemplate"}},
		{name: "update that leaves an invalid spec as it was is admitted without reads",
			body:   reviewJSON(t, admissionv1.Update, memhpagen.MemHpa("web", rv, memhpagen.WithTarget(150), memhpagen.WithLabels(map[string]string{"a": "b"})), memhpagen.MemHpa("web", rv, memhpagen.WithTarget(150))),
			lookup: &FakeLookup{MemHpaItems: []v1alpha1.MemHpa{*other}}},
		{name: "HorizontalPodAutoscaler on the same workload",
			body:       reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web"), nil),
			lookup:     &FakeLookup{HPAItems: []autoscalingv2.HorizontalPodAutoscaler{*memhpagen.HPA("web-hpa", "apps/v1", "Deployment", "web")}, Templates: workload("web", limited)},
			wantCauses: field.ErrorList{field.Forbidden(refPath, `must not point at Deployment.apps "web", which HorizontalPodAutoscaler "web-hpa" already scales (two autoscalers would fight over its replicas)`)},
			wantReads:  []string{"HorizontalPodAutoscalers", "MemHpas", "PodTemplate"}},
		{name: "HorizontalPodAutoscaler on another workload",
			body: reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web"), nil),
			lookup: &FakeLookup{HPAItems: []autoscalingv2.HorizontalPodAutoscaler{
				*memhpagen.HPA("a", "apps/v1", "Deployment", "api"), *memhpagen.HPA("b", "apps/v1", "StatefulSet", "web")}, Templates: workload("web", limited)},
			wantReads: []string{"HorizontalPodAutoscalers", "MemHpas", "PodTemplate"}},
		// mode DryRun: the one-autoscaler rule ignores it both ways.
		{name: "DryRun beside a HorizontalPodAutoscaler is admitted with a warning",
			body: reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web", memhpagen.DryRun()), nil),
			lookup: &FakeLookup{HPAItems: []autoscalingv2.HorizontalPodAutoscaler{*memhpagen.HPA("web-hpa", "apps/v1", "Deployment", "web")},
				Templates: workload("web", limited)},
			wantWarnings: []string{`HorizontalPodAutoscaler "web-hpa" already scales Deployment.apps "web": mode DryRun only reports what it would set, and switching to mode Scale is refused while it does`},
			wantReads:    []string{"HorizontalPodAutoscalers", "MemHpas", "PodTemplate"}},
		{name: "DryRun beside a MemHpa is admitted with a warning",
			body:         reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web", memhpagen.DryRun()), nil),
			lookup:       &FakeLookup{MemHpaItems: []v1alpha1.MemHpa{*other}, Templates: workload("web", limited)},
			wantWarnings: []string{`MemHpa "other" already scales Deployment.apps "web": mode DryRun`},
			wantReads:    []string{"HorizontalPodAutoscalers", "MemHpas", "PodTemplate"}},
		{name: "a DryRun MemHpa does not keep a Scale one off its target",
			body: reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web"), nil),
			lookup: &FakeLookup{MemHpaItems: []v1alpha1.MemHpa{*memhpagen.MemHpa("shadow", memhpagen.WithRef("apps/v1", "Deployment", "web"), memhpagen.DryRun())},
				Templates: workload("web", limited)},
			wantReads: []string{"HorizontalPodAutoscalers", "MemHpas", "PodTemplate"}},
		{name: "switching DryRun to Scale beside a HorizontalPodAutoscaler is refused",
			body: reviewJSON(t, admissionv1.Update, memhpagen.MemHpa("web", rv, memhpagen.WithMode(v1alpha1.ScalingModeScale)), memhpagen.MemHpa("web", rv, memhpagen.DryRun())),
			lookup: &FakeLookup{HPAItems: []autoscalingv2.HorizontalPodAutoscaler{*memhpagen.HPA("web-hpa", "apps/v1", "Deployment", "web")},
				Templates: workload("web", limited)},
			wantCauses: field.ErrorList{field.Forbidden(refPath, `must not point at Deployment.apps "web", which HorizontalPodAutoscaler "web-hpa" already scales (two autoscalers would fight over its replicas)`)},
			wantReads:  []string{"HorizontalPodAutoscalers", "MemHpas", "PodTemplate"}},
		{name: "switching DryRun to Scale (mode unset) beside a MemHpa is refused",
			body:       reviewJSON(t, admissionv1.Update, memhpagen.MemHpa("web", rv), memhpagen.MemHpa("web", rv, memhpagen.DryRun())),
			lookup:     &FakeLookup{MemHpaItems: []v1alpha1.MemHpa{*other}, Templates: workload("web", limited)},
			wantCauses: field.ErrorList{field.Forbidden(refPath, `must not point at Deployment.apps "web", which MemHpa "other" already scales`)},
			wantReads:  []string{"HorizontalPodAutoscalers", "MemHpas", "PodTemplate"}},
		{name: "switching DryRun to Scale alone on its target is admitted",
			body:      reviewJSON(t, admissionv1.Update, memhpagen.MemHpa("web", rv, memhpagen.WithMode(v1alpha1.ScalingModeScale)), memhpagen.MemHpa("web", rv, memhpagen.DryRun())),
			lookup:    &FakeLookup{Templates: workload("web", limited)},
			wantReads: []string{"HorizontalPodAutoscalers", "MemHpas", "PodTemplate"}},
		{name: "switching Scale to DryRun does not look for other autoscalers",
			body: reviewJSON(t, admissionv1.Update, memhpagen.MemHpa("web", rv, memhpagen.DryRun()), memhpagen.MemHpa("web", rv, memhpagen.WithMode(v1alpha1.ScalingModeScale))),
			lookup: &FakeLookup{HPAItems: []autoscalingv2.HorizontalPodAutoscaler{*memhpagen.HPA("web-hpa", "apps/v1", "Deployment", "web")},
				Templates: workload("web", limited)},
			wantReads: []string{"PodTemplate"}},
		{name: "unknown mode is refused at spec.mode",
			body:       reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web", memhpagen.WithMode("Shadow")), nil),
			lookup:     &FakeLookup{Templates: workload("web", limited)},
			wantCauses: field.ErrorList{field.NotSupported(field.NewPath("spec", "mode"), v1alpha1.ScalingMode("Shadow"), []v1alpha1.ScalingMode{"Scale", "DryRun"})},
			wantReads:  []string{"HorizontalPodAutoscalers", "MemHpas", "PodTemplate"}},

		// annotations
		{name: "a pause annotation that is not true or false is a warning",
			body:         reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web", memhpagen.WithAnnotations(map[string]string{v1alpha1.AnnotationPaused: "yes"})), nil),
			lookup:       &FakeLookup{Templates: workload("web", limited)},
			wantWarnings: []string{`metadata.annotations[autoscaling.memhpa.io/paused]: "yes" is read as "false"`},
			wantReads:    []string{"HorizontalPodAutoscalers", "MemHpas", "PodTemplate"}},
		{name: "an update that only adds an unknown annotation of ours is warned, without reads",
			body: reviewJSON(t, admissionv1.Update, memhpagen.MemHpa("web", rv, memhpagen.WithAnnotations(map[string]string{"autoscaling.memhpa.io/pause": "true"})),
				memhpagen.MemHpa("web", rv)),
			lookup:       &FakeLookup{},
			wantWarnings: []string{`metadata.annotations[autoscaling.memhpa.io/pause]: unknown annotation, ignored`}},
		{name: "pause annotations set to true are not warned",
			body: reviewJSON(t, admissionv1.Update, memhpagen.MemHpa("web", rv, memhpagen.WithAnnotations(map[string]string{v1alpha1.AnnotationPausedScaleIn: "true"})),
				memhpagen.MemHpa("web", rv)),
			lookup: &FakeLookup{}},
		{name: "missing workload is a warning",
			body:         reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web"), nil),
			lookup:       &FakeLookup{},
			wantWarnings: []string{`Deployment.apps "web" was not found in namespace "default": MemHpa "web" does nothing until it exists`},
			wantReads:    []string{"HorizontalPodAutoscalers", "MemHpas", "PodTemplate"}},
		{name: "containers without a memory limit are a warning",
			body: reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web"), nil),
			lookup: &FakeLookup{Templates: workload("web", memhpagen.PodTemplate(
				memhpagen.Container("app", "1Gi", ""), memhpagen.Container("proxy", "", ""), memhpagen.Container("log", "0", "")))},
			wantWarnings: []string{`containers "proxy", "log" of Deployment.apps "web" have no memory limit`},
			wantReads:    []string{"HorizontalPodAutoscalers", "LimitRanges", "MemHpas", "PodTemplate"}},
		{name: "a sidecar without a memory limit is a warning",
			body: reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web"), nil),
			lookup: &FakeLookup{Templates: workload("web", func() *corev1.PodTemplateSpec {
				tpl := memhpagen.PodTemplate(memhpagen.Container("app", "1Gi", ""))
				tpl.Spec.InitContainers = []corev1.Container{memhpagen.Container("init", "", ""), memhpagen.Sidecar("mesh", "")}
				return tpl
			}())},
			wantWarnings: []string{`container "mesh" of Deployment.apps "web" has no memory limit`},
			wantReads:    []string{"HorizontalPodAutoscalers", "LimitRanges", "MemHpas", "PodTemplate"}},
		{name: "a LimitRange default limit covers containers without one",
			body: reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web"), nil),
			lookup: &FakeLookup{Templates: workload("web", memhpagen.PodTemplate(memhpagen.Container("app", "", ""))),
				LimitRangeItems: []corev1.LimitRange{*memhpagen.MemoryLimitRange("mem", "256Mi")}},
			wantReads: []string{"HorizontalPodAutoscalers", "LimitRanges", "MemHpas", "PodTemplate"}},
		{name: "custom workload kinds are not read",
			body:      reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web", memhpagen.WithRef("argoproj.io/v1alpha1", "Rollout", "web")), nil),
			lookup:    &FakeLookup{},
			wantReads: []string{"HorizontalPodAutoscalers", "MemHpas", "PodTemplate"}},
		{name: "failed reads admit with warnings",
			body: reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web"), nil),
			lookup: &FakeLookup{MemHpaItems: []v1alpha1.MemHpa{*other}, Errs: map[string]error{
				"MemHpas": errors.New("connection refused"), "HorizontalPodAutoscalers": errors.New("forbidden"), "PodTemplate": errors.New("EOF")}},
			wantWarnings: []string{
				`could not check that no other MemHpa scales Deployment.apps "web" (connection refused): admitted without this check`,
				`could not check that no HorizontalPodAutoscaler scales Deployment.apps "web" (forbidden): admitted without this check`,
				`could not read Deployment.apps "web" (EOF): its memory limits were not checked`},
			wantReads: []string{"HorizontalPodAutoscalers", "MemHpas", "PodTemplate"}},
		{name: "dry run is checked like the real thing",
			body:       reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web"), nil, dryRun()),
			lookup:     &FakeLookup{MemHpaItems: []v1alpha1.MemHpa{*other}, Templates: workload("web", limited)},
			wantCauses: field.ErrorList{field.Forbidden(refPath, `must not point at Deployment.apps "web", which MemHpa "other" already scales`)},
			wantReads:  []string{"HorizontalPodAutoscalers", "MemHpas", "PodTemplate"}},
		{name: "delete is never blocked", body: reviewJSON(t, admissionv1.Delete, nil, memhpagen.MemHpa("web", memhpagen.WithMin(0))),
			lookup: &FakeLookup{}},
		{name: "status update is never blocked, its problems are warnings",
			body: reviewJSON(t, admissionv1.Update, memhpagen.MemHpa("web", rv, memhpagen.WithMin(0), memhpagen.WithStatus(v1alpha1.MemHpaStatus{CurrentReplicas: -1})),
				memhpagen.MemHpa("web", rv, memhpagen.WithMin(0)), subresource("status")),
			lookup:       &FakeLookup{MemHpaItems: []v1alpha1.MemHpa{*other}},
			wantWarnings: []string{"status.currentReplicas: Invalid value: -1: must be greater than or equal to 0"}},
		{name: "other subresources pass", body: reviewJSON(t, admissionv1.Update, memhpagen.MemHpa("web", memhpagen.WithMin(0)), memhpagen.MemHpa("web"), subresource("scale")),
			lookup: &FakeLookup{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := review(t, NewValidator(tt.lookup, time.Second), tt.body)
			rev, _ := DecodeReview(tt.body)
			assertCauses(t, resp, rev.Request.Name, tt.wantCauses)
			assertWarnings(t, resp.Warnings, tt.wantWarnings)
			reads := tt.lookup.Calls()
			slices.Sort(reads)
			if !reflect.DeepEqual(reads, tt.wantReads) {
				t.Errorf("reads = %q, want %q", reads, tt.wantReads)
			}
		})
	}
}

// assertCauses checks that resp admits (want nil) or refuses with the Invalid
// status that makes kubectl print `The MemHpa "name" is invalid:` and then one
// line per cause.
func assertCauses(t *testing.T, resp *admissionv1.AdmissionResponse, name string, want field.ErrorList) {
	t.Helper()
	if want == nil {
		if !resp.Allowed {
			t.Fatalf("refused, want admitted: %+v", resp.Result)
		}
		return
	}
	if resp.Allowed || resp.Result == nil {
		t.Fatalf("admitted, want refused with %v", want)
	}
	st := resp.Result
	if st.Status != metav1.StatusFailure || st.Code != http.StatusUnprocessableEntity || st.Reason != metav1.StatusReasonInvalid {
		t.Errorf("status = %s %d %s, want Failure 422 Invalid", st.Status, st.Code, st.Reason)
	}
	if d := st.Details; d == nil || d.Kind != "MemHpa" || d.Group != v1alpha1.GroupName || d.Name != name {
		t.Fatalf("details = %+v, want kind MemHpa, group %s, name %s", st.Details, v1alpha1.GroupName, name)
	}
	if !strings.HasPrefix(st.Message, `MemHpa.autoscaling.memhpa.io "`+name+`" is invalid: `) {
		t.Errorf("message = %q", st.Message)
	}
	var wantCauses []metav1.StatusCause
	for _, e := range want {
		wantCauses = append(wantCauses, metav1.StatusCause{Type: metav1.CauseType(e.Type), Message: e.ErrorBody(), Field: e.Field})
	}
	if !reflect.DeepEqual(st.Details.Causes, wantCauses) {
		t.Errorf("causes\n got %+v\nwant %+v", st.Details.Causes, wantCauses)
	}
}

func assertWarnings(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("warnings = %q, want %d like %q", got, len(want), want)
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("warning %d = %q, want it to contain %q", i, got[i], want[i])
		}
	}
}

func TestValidatorTimeout(t *testing.T) {
	tests := []struct {
		name   string
		lookup *FakeLookup
	}{
		{name: "lookup that ignores its context", lookup: &FakeLookup{Hang: make(chan struct{})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer close(tt.lookup.Hang)
			const timeout = 100 * time.Millisecond
			start := time.Now()
			resp := review(t, NewValidator(tt.lookup, timeout), reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web"), nil))
			elapsed := time.Since(start)
			if elapsed > timeout+time.Second {
				t.Errorf("review took %v with a %v timeout", elapsed, timeout)
			}
			if !resp.Allowed {
				t.Fatalf("refused after a timeout: %+v", resp.Result)
			}
			if len(resp.Warnings) != 3 || !strings.Contains(resp.Warnings[0], "did not finish in time") {
				t.Errorf("warnings = %q, want three about reads that did not finish", resp.Warnings)
			}
		})
	}
}

func TestValidatorWithoutLookup(t *testing.T) {
	resp := review(t, NewValidator(nil, 0), reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web"), nil))
	if !resp.Allowed || len(resp.Warnings) != 0 {
		t.Fatalf("response = %+v, want admitted without warnings", resp)
	}
}

func TestValidatorRefusesUnreadableObjects(t *testing.T) {
	tests := []struct {
		name string
		body []byte
	}{
		{name: "object of the wrong shape", body: reviewJSON(t, admissionv1.Create, `{"spec":{"maxReplicas":"ten"}}`, nil)},
		{name: "create without an object", body: reviewJSON(t, admissionv1.Create, nil, nil)},
		{name: "update without the old object", body: reviewJSON(t, admissionv1.Update, memhpagen.MemHpa("web"), nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := review(t, NewValidator(&FakeLookup{}, time.Second), tt.body)
			if resp.Allowed || resp.Result == nil || resp.Result.Code != http.StatusBadRequest {
				t.Fatalf("response = %+v, want a 400 refusal", resp)
			}
		})
	}
}
