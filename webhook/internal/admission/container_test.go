package admission

import (
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

func TestValidatorContainerTarget(t *testing.T) {
	appAndUnlimitedSidecar := memhpagen.PodTemplate(memhpagen.Container("app", "512Mi", ""), memhpagen.Container("proxy", "", ""))
	tests := []struct {
		name     string
		obj      *v1alpha1.MemHpa
		template *corev1.PodTemplateSpec
		// wantWarnings are substrings, one per warning expected.
		wantWarnings []string
	}{
		{name: "container in the template", obj: memhpagen.MemHpa("web", memhpagen.WithContainer("app")),
			template: memhpagen.PodTemplate(memhpagen.Container("app", "512Mi", ""), memhpagen.Container("proxy", "1Gi", ""))},
		{name: "container is a native sidecar", obj: memhpagen.MemHpa("web", memhpagen.WithContainer("proxy")),
			template: withInit(memhpagen.PodTemplate(memhpagen.Container("app", "512Mi", "")), memhpagen.Sidecar("proxy", "1Gi"))},
		{name: "container not in the template", obj: memhpagen.MemHpa("web", memhpagen.WithContainer("ap")),
			template:     memhpagen.PodTemplate(memhpagen.Container("app", "512Mi", ""), memhpagen.Container("proxy", "1Gi", "")),
			wantWarnings: []string{`container "ap" is not in the pod template of Deployment.apps "web" (which has containers "app", "proxy"): every pod counts as missing`}},
		{name: "an ordinary init container is not a target", obj: memhpagen.MemHpa("web", memhpagen.WithContainer("setup")),
			template:     withInit(memhpagen.PodTemplate(memhpagen.Container("app", "512Mi", "")), memhpagen.Container("setup", "", "")),
			wantWarnings: []string{`container "setup" is not in the pod template`}},
		{name: "only the target container's limit is checked", obj: memhpagen.MemHpa("web", memhpagen.WithContainer("app")),
			template: appAndUnlimitedSidecar},
		{name: "without a target every container's limit is checked", obj: memhpagen.MemHpa("web"),
			template:     appAndUnlimitedSidecar,
			wantWarnings: []string{`container "proxy" of Deployment.apps "web" has no memory limit`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup := &FakeLookup{Templates: workload("web", tt.template)}
			resp := review(t, NewValidator(lookup, time.Second), reviewJSON(t, admissionv1.Create, tt.obj, nil))
			if !resp.Allowed {
				t.Fatalf("refused: %+v", resp.Result)
			}
			assertWarnings(t, resp.Warnings, tt.wantWarnings)
		})
	}
}

// withInit adds init containers (sidecars when restartable) to a template.
func withInit(t *corev1.PodTemplateSpec, cs ...corev1.Container) *corev1.PodTemplateSpec {
	t.Spec.InitContainers = append(t.Spec.InitContainers, cs...)
	return t
}
