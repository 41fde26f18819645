package harness

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestWorkloadContainerMemory: each named container reports its own figure
// through its own annotation, beside the pod's.
func TestWorkloadContainerMemory(t *testing.T) {
	d := Workload{Name: "app", Memory: "5Mi", ContainerMemory: map[string]string{"app": "95Mi", "sidecar": "10Mi"}}.Deployment()
	want := map[string]string{
		"kwok.x-k8s.io/usage-memory":         "5Mi",
		"kwok.x-k8s.io/usage-memory-app":     "95Mi",
		"kwok.x-k8s.io/usage-memory-sidecar": "10Mi",
	}
	if diff := cmp.Diff(want, d.Spec.Template.Annotations); diff != "" {
		t.Errorf("template annotations (-want +got):\n%s", diff)
	}
}
