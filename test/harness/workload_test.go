package harness

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

func TestWorkload(t *testing.T) {
	mem := func(q string) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(q)}
	}
	// deployment is the Deployment every row builds on: kwok pods labelled
	// app=label, on the kwok nodes, reporting usage (when set) per container.
	deployment := func(ns, name, label string, replicas int32, usage string, containers ...corev1.Container) *appsv1.Deployment {
		labels := map[string]string{"app": label}
		var annotations map[string]string
		if usage != "" {
			annotations = map[string]string{"kwok.x-k8s.io/usage-memory": usage}
		}
		return &appsv1.Deployment{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To(replicas),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
					Spec:       corev1.PodSpec{NodeSelector: map[string]string{"type": "kwok"}, Containers: containers},
				},
			},
		}
	}
	tests := []struct {
		name string
		in   Workload
		want *appsv1.Deployment
	}{
		{
			name: "defaults: one container app without resources, one replica",
			in:   Workload{Namespace: "ns", Name: "nolimit"},
			want: deployment("ns", "nolimit", "nolimit", 1, "", corev1.Container{Name: "app", Image: "fake-app"}),
		},
		{
			name: "a limit is also the request; usage and replicas",
			in: Workload{Namespace: "ns", Name: "web", Replicas: 3, Memory: "40Mi",
				Containers: []WorkloadContainer{{Name: "app", MemoryLimit: "100Mi", CPURequest: "10m"}}},
			want: deployment("ns", "web", "web", 3, "40Mi", corev1.Container{Name: "app", Image: "fake-app",
				Resources: corev1.ResourceRequirements{
					Limits:   mem("100Mi"),
					Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("100Mi"), corev1.ResourceCPU: resource.MustParse("10m")},
				}}),
		},
		{
			name: "own label, two containers, one without a limit, own image",
			in: Workload{Namespace: "ns", Name: "second", Label: "shared", Replicas: 2, Memory: "20Mi",
				Containers: []WorkloadContainer{{Name: "app", MemoryLimit: "64Mi", Image: "registry.example/app:1"}, {Name: "sidecar"}}},
			want: deployment("ns", "second", "shared", 2, "20Mi",
				corev1.Container{Name: "app", Image: "registry.example/app:1", Resources: corev1.ResourceRequirements{Limits: mem("64Mi"), Requests: mem("64Mi")}},
				corev1.Container{Name: "sidecar", Image: "fake-app"}),
		},
		{
			name: "no namespace: the client's",
			in:   Workload{Name: "bench", Replicas: 5},
			want: deployment("", "bench", "bench", 5, "", corev1.Container{Name: "app", Image: "fake-app"}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in.Deployment()
			if !equality.Semantic.DeepEqual(got, tt.want) {
				t.Errorf("Deployment():\n got %+v\nwant %+v", got, tt.want)
			}
			var fromYAML appsv1.Deployment
			if err := yaml.UnmarshalStrict([]byte(tt.in.YAML()), &fromYAML); err != nil {
				t.Fatalf("YAML() does not decode as a Deployment: %v\n%s", err, tt.in.YAML())
			}
			if !equality.Semantic.DeepEqual(&fromYAML, tt.want) {
				t.Errorf("YAML() decodes to\n %+v\nwant %+v", &fromYAML, tt.want)
			}
		})
	}
}
