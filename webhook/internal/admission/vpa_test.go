package admission

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

type vpaOption func(*VerticalPodAutoscaler)

// vpa returns a VerticalPodAutoscaler of memhpagen.Namespace on Deployment
// "web", with no updatePolicy (Auto) and no resourcePolicy, then opts.
func vpa(name string, opts ...vpaOption) VerticalPodAutoscaler {
	v := VerticalPodAutoscaler{Namespace: memhpagen.Namespace, Name: name,
		Spec: VPASpec{TargetRef: &VPATargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}}}
	for _, o := range opts {
		o(&v)
	}
	return v
}

func updateMode(m string) vpaOption {
	return func(v *VerticalPodAutoscaler) { v.Spec.UpdatePolicy = &VPAUpdatePolicy{UpdateMode: m} }
}

func vpaTarget(apiVersion, kind, name string) vpaOption {
	return func(v *VerticalPodAutoscaler) {
		v.Spec.TargetRef = &VPATargetRef{APIVersion: apiVersion, Kind: kind, Name: name}
	}
}

// containerPolicy adds a policy; resources nil leaves controlledResources absent.
func containerPolicy(container, mode, values string, resources ...corev1.ResourceName) vpaOption {
	return func(v *VerticalPodAutoscaler) {
		p := VPAContainerPolicy{ContainerName: container, Mode: mode, ControlledValues: values}
		if resources != nil {
			p.ControlledResources = &resources
		}
		if v.Spec.ResourcePolicy == nil {
			v.Spec.ResourcePolicy = &VPAResourcePolicy{}
		}
		v.Spec.ResourcePolicy.ContainerPolicies = append(v.Spec.ResourcePolicy.ContainerPolicies, p)
	}
}

// warnAbout is the start of the warning about VPA name moving containers.
func warnAbout(name, mode, containers string) string {
	return `VerticalPodAutoscaler "` + name + `" (updateMode ` + mode + `) also sets the memory of ` + containers + ` of Deployment.apps "web":`
}

func TestVPAWarnings(t *testing.T) {
	appAndLog := memhpagen.PodTemplate(memhpagen.Container("app", "512Mi", ""), memhpagen.Container("log", "64Mi", ""))
	requestOnly := memhpagen.PodTemplate(memhpagen.Container("app", "", "256Mi"))
	withSidecar := limited.DeepCopy()
	withSidecar.Spec.InitContainers = []corev1.Container{memhpagen.Sidecar("proxy", "64Mi"), memhpagen.Container("init", "", "")}
	deleting := vpa("v", func(v *VerticalPodAutoscaler) { v.DeletionTimestamp = &metav1.Time{} })
	otherNS := vpa("v", func(v *VerticalPodAutoscaler) { v.Namespace = "prod" })
	none := []string(nil)
	tests := []struct {
		name      string
		container string // the MemHpa's spec.container
		template  *corev1.PodTemplateSpec
		vpas      []VerticalPodAutoscaler
		want      []string // prefixes, one per warning
	}{
		{name: "no VPA", template: limited, want: none},
		{name: "updatePolicy absent is Auto", template: limited, vpas: []VerticalPodAutoscaler{vpa("v")},
			want: []string{warnAbout("v", "Auto", `container "app"`)}},
		{name: "Auto", template: limited, vpas: []VerticalPodAutoscaler{vpa("v", updateMode("Auto"))},
			want: []string{warnAbout("v", "Auto", `container "app"`)}},
		{name: "Recreate", template: limited, vpas: []VerticalPodAutoscaler{vpa("v", updateMode("Recreate"))},
			want: []string{warnAbout("v", "Recreate", `container "app"`)}},
		{name: "InPlaceOrRecreate", template: limited, vpas: []VerticalPodAutoscaler{vpa("v", updateMode("InPlaceOrRecreate"))},
			want: []string{warnAbout("v", "InPlaceOrRecreate", `container "app"`)}},
		{name: "Initial sets new pods, which a scale-up makes", template: limited, vpas: []VerticalPodAutoscaler{vpa("v", updateMode("Initial"))},
			want: []string{warnAbout("v", "Initial", `container "app"`)}},
		{name: "Off only recommends", template: limited, vpas: []VerticalPodAutoscaler{vpa("v", updateMode("Off"))}, want: none},
		{name: "another workload", template: limited, vpas: []VerticalPodAutoscaler{
			vpa("name", vpaTarget("apps/v1", "Deployment", "api")),
			vpa("kind", vpaTarget("apps/v1", "StatefulSet", "web")),
			vpa("group", vpaTarget("argoproj.io/v1alpha1", "Deployment", "web")),
			vpa("no-target", func(v *VerticalPodAutoscaler) { v.Spec.TargetRef = nil }),
			otherNS, deleting,
		}, want: none},
		{name: "the same workload in another version", template: limited, vpas: []VerticalPodAutoscaler{vpa("v", vpaTarget("apps/v1beta2", "Deployment", "web"))},
			want: []string{warnAbout("v", "Auto", `container "app"`)}},
		{name: "controlledResources without memory", template: limited,
			vpas: []VerticalPodAutoscaler{vpa("v", containerPolicy("*", "", "", corev1.ResourceCPU))}, want: none},
		{name: "controlledResources with memory", template: limited,
			vpas: []VerticalPodAutoscaler{vpa("v", containerPolicy("app", "", "", corev1.ResourceMemory))},
			want: []string{warnAbout("v", "Auto", `container "app"`)}},
		{name: "controlledResources empty", template: limited,
			vpas: []VerticalPodAutoscaler{vpa("v", containerPolicy("app", "", "", []corev1.ResourceName{}...))}, want: none},
		{name: "the container's policy is Off", template: limited,
			vpas: []VerticalPodAutoscaler{vpa("v", containerPolicy("app", "Off", ""))}, want: none},
		{name: "the container's own policy wins over *", template: appAndLog,
			vpas: []VerticalPodAutoscaler{vpa("v", containerPolicy("*", "Off", ""), containerPolicy("log", "Auto", ""))},
			want: []string{warnAbout("v", "Auto", `container "log"`)}},
		{name: "a container without a policy gets the defaults", template: appAndLog,
			vpas: []VerticalPodAutoscaler{vpa("v", containerPolicy("app", "Off", ""))},
			want: []string{warnAbout("v", "Auto", `container "log"`)}},
		{name: "several containers", template: appAndLog, vpas: []VerticalPodAutoscaler{vpa("v")},
			want: []string{warnAbout("v", "Auto", `containers "app", "log"`)}},
		{name: "spec.container: only that container counts", container: "app", template: appAndLog,
			vpas: []VerticalPodAutoscaler{vpa("v", containerPolicy("app", "Off", ""))}, want: none},
		{name: "spec.container moved", container: "log", template: appAndLog,
			vpas: []VerticalPodAutoscaler{vpa("v", containerPolicy("app", "Off", ""))},
			want: []string{warnAbout("v", "Auto", `container "log"`)}},
		{name: "RequestsOnly leaves a memory limit alone", template: limited,
			vpas: []VerticalPodAutoscaler{vpa("v", containerPolicy("*", "", "RequestsOnly"))}, want: none},
		{name: "RequestsOnly moves a request that stands in for a limit", template: requestOnly,
			vpas: []VerticalPodAutoscaler{vpa("v", containerPolicy("*", "", "RequestsOnly"))},
			want: []string{warnAbout("v", "Auto", `container "app"`)}},
		{name: "RequestsAndLimits", template: limited,
			vpas: []VerticalPodAutoscaler{vpa("v", containerPolicy("*", "", "RequestsAndLimits"))},
			want: []string{warnAbout("v", "Auto", `container "app"`)}},
		{name: "a native sidecar counts, an init container does not", template: withSidecar,
			vpas: []VerticalPodAutoscaler{vpa("v", containerPolicy("app", "Off", ""))},
			want: []string{warnAbout("v", "Auto", `container "proxy"`)}},
		{name: "unknown template, the VPA's defaults", vpas: []VerticalPodAutoscaler{vpa("v")},
			want: []string{warnAbout("v", "Auto", "the pods")}},
		{name: "unknown template, * off but a named container moved", vpas: []VerticalPodAutoscaler{
			vpa("v", containerPolicy("*", "Off", ""), containerPolicy("app", "", "RequestsOnly"))},
			want: []string{warnAbout("v", "Auto", "the pods")}},
		{name: "unknown template, every policy leaves memory alone", vpas: []VerticalPodAutoscaler{
			vpa("v", containerPolicy("*", "Off", ""), containerPolicy("app", "", "", corev1.ResourceCPU))}, want: none},
		{name: "unknown template, spec.container off", container: "app", vpas: []VerticalPodAutoscaler{
			vpa("v", containerPolicy("app", "Off", ""))}, want: none},
		{name: "two VPAs, sorted by name", template: limited, vpas: []VerticalPodAutoscaler{vpa("b"), vpa("a", updateMode("Recreate"))},
			want: []string{warnAbout("a", "Recreate", `container "app"`), warnAbout("b", "Auto", `container "app"`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := memhpagen.MemHpa("web", memhpagen.WithContainer(tt.container))
			got := vpaWarnings(obj, tt.template, tt.vpas)
			if len(got) != len(tt.want) {
				t.Fatalf("warnings = %q, want %d", got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("warning %d = %q, want it to start with %q", i, got[i], w)
				}
			}
		})
	}
}

// vpaFake is a FakeLookup that reads VerticalPodAutoscalers too.
type vpaFake struct {
	*FakeLookup
	items []VerticalPodAutoscaler
	err   error
}

func (f vpaFake) VerticalPodAutoscalers(context.Context, string, string) ([]VerticalPodAutoscaler, error) {
	return f.items, f.err
}

// Through the validator: a VPA that moves memory is a warning, never a
// refusal; a failed read says the check was not made; a Lookup that cannot
// read VPAs (no VPA API) says nothing.
func TestValidatorWarnsAboutVPAs(t *testing.T) {
	body := reviewJSON(t, admissionv1.Create, memhpagen.MemHpa("web"), nil)
	tests := []struct {
		name   string
		lookup Lookup
		want   []string
	}{
		{name: "Auto", lookup: WithVPAs(&FakeLookup{Templates: workload("web", limited)}, vpaFake{items: []VerticalPodAutoscaler{vpa("v")}}),
			want: []string{warnAbout("v", "Auto", `container "app"`)}},
		{name: "Off", lookup: WithVPAs(&FakeLookup{Templates: workload("web", limited)}, vpaFake{items: []VerticalPodAutoscaler{vpa("v", updateMode("Off"))}})},
		{name: "target unreadable", lookup: WithVPAs(&FakeLookup{Errs: map[string]error{"PodTemplate": errors.New("boom")}}, vpaFake{items: []VerticalPodAutoscaler{vpa("v")}}),
			want: []string{`could not read Deployment.apps "web"`, warnAbout("v", "Auto", "the pods")}},
		{name: "read failed", lookup: WithVPAs(&FakeLookup{Templates: workload("web", limited)}, vpaFake{err: errors.New("boom")}),
			want: []string{`could not check that no VerticalPodAutoscaler sets the memory of Deployment.apps "web" (boom): admitted without this check`}},
		{name: "no VPA reader", lookup: &FakeLookup{Templates: workload("web", limited)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := review(t, NewValidator(tt.lookup, 0), body)
			if !resp.Allowed {
				t.Fatalf("refused: %v", resp.Result)
			}
			if len(resp.Warnings) != len(tt.want) {
				t.Fatalf("warnings = %q, want %d", resp.Warnings, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(resp.Warnings[i], w) {
					t.Errorf("warning %d = %q, want it to start with %q", i, resp.Warnings[i], w)
				}
			}
		})
	}
}

func TestVPAFromUnstructured(t *testing.T) {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "autoscaling.k8s.io/v1", "kind": "VerticalPodAutoscaler",
		"metadata": map[string]any{"name": "v", "namespace": "default"},
		"spec": map[string]any{
			"targetRef":    map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
			"updatePolicy": map[string]any{"updateMode": "Recreate", "minReplicas": int64(2)},
			"resourcePolicy": map[string]any{"containerPolicies": []any{
				map[string]any{"containerName": "*", "mode": "Off"},
				map[string]any{"containerName": "app", "controlledResources": []any{"memory"}, "controlledValues": "RequestsOnly",
					"maxAllowed": map[string]any{"memory": "1Gi"}},
			}},
			"recommenders": []any{map[string]any{"name": "custom"}},
		},
	}}
	got, err := vpaFromUnstructured(u)
	if err != nil {
		t.Fatal(err)
	}
	memory := []corev1.ResourceName{corev1.ResourceMemory}
	want := VerticalPodAutoscaler{Namespace: "default", Name: "v", Spec: VPASpec{
		TargetRef:    &VPATargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
		UpdatePolicy: &VPAUpdatePolicy{UpdateMode: "Recreate"},
		ResourcePolicy: &VPAResourcePolicy{ContainerPolicies: []VPAContainerPolicy{
			{ContainerName: "*", Mode: "Off"},
			{ContainerName: "app", ControlledResources: &memory, ControlledValues: "RequestsOnly"},
		}},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decoded (-want +got):\n%s", diff)
	}
	u.Object["spec"].(map[string]any)["updatePolicy"] = map[string]any{"updateMode": int64(3)}
	if _, err := vpaFromUnstructured(u); err == nil {
		t.Error("an updateMode that is not a string decoded without an error")
	}
}
