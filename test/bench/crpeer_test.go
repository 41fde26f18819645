package bench

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/memhpa/memhpa/test/harness"
	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

// The peer judges as memhpa's webhook does where the benchmark looks: the
// field rules, another autoscaler on the target, a container without a limit.
func TestPeerValidator(t *testing.T) {
	// deployment has a container "app" with a memory limit, and the others
	// without one.
	deployment := func(name string, others ...string) *appsv1.Deployment {
		w := harness.Workload{Namespace: memhpagen.Namespace, Name: name, Containers: []harness.WorkloadContainer{{Name: "app", MemoryLimit: "256Mi"}}}
		for _, c := range others {
			w.Containers = append(w.Containers, harness.WorkloadContainer{Name: c})
		}
		return w.Deployment()
	}
	tests := []struct {
		name    string
		obj     *v1alpha1.MemHpa
		cluster []client.Object
		// wantCauses are the fields of an Invalid refusal; wantWarning a
		// substring of the one warning expected.
		wantCauses  []string
		wantWarning string
	}{
		{name: "valid", obj: memhpagen.MemHpa("web"), cluster: []client.Object{deployment("web")}},
		{name: "field errors, the metadata left to the apiserver", obj: memhpagen.MemHpa("Web_1", memhpagen.WithMin(0), memhpagen.WithRef("apps/v1", "Deployment", "web")),
			cluster: []client.Object{deployment("web")}, wantCauses: []string{"spec.minReplicas"}},
		{name: "another MemHpa scales the target", obj: memhpagen.MemHpa("web"),
			cluster:    []client.Object{deployment("web"), memhpagen.MemHpa("other", memhpagen.WithRef("apps/v1", "Deployment", "web"))},
			wantCauses: []string{"spec.scaleTargetRef"}},
		{name: "an HPA scales the target", obj: memhpagen.MemHpa("web"),
			cluster:    []client.Object{deployment("web"), memhpagen.HPA("web", "apps/v1", "Deployment", "web")},
			wantCauses: []string{"spec.scaleTargetRef"}},
		{name: "a container without a memory limit", obj: memhpagen.MemHpa("web"), cluster: []client.Object{deployment("web", "proxy")},
			wantWarning: `containers ["proxy"] of Deployment.apps "web" have no memory limit`},
		{name: "a missing target", obj: memhpagen.MemHpa("web"), wantWarning: `could not read Deployment.apps "web"`},
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reader := fake.NewClientBuilder().WithScheme(scheme).WithObjects(tt.cluster...).Build()
			warnings, err := PeerValidator{Reader: reader}.ValidateCreate(context.Background(), tt.obj)
			var causes []string
			if err != nil {
				status, ok := err.(apierrors.APIStatus)
				if !ok || !apierrors.IsInvalid(err) {
					t.Fatalf("error %v, want an Invalid status", err)
				}
				for _, c := range status.Status().Details.Causes {
					causes = append(causes, c.Field)
				}
			}
			if strings.Join(causes, ",") != strings.Join(tt.wantCauses, ",") {
				t.Errorf("causes %q, want %q (error %v)", causes, tt.wantCauses, err)
			}
			if (tt.wantWarning == "") != (len(warnings) == 0) || len(warnings) > 1 ||
				(len(warnings) == 1 && !strings.Contains(warnings[0], tt.wantWarning)) {
				t.Errorf("warnings %q, want one containing %q", warnings, tt.wantWarning)
			}
		})
	}
}
