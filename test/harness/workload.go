package harness

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// KwokUsageMemoryAnnotation is the pod annotation whose quantity kwok reports
// as the working set of each of the pod's containers (kwok's
// usage-from-annotation ClusterResourceUsage, which the harness applies).
const KwokUsageMemoryAnnotation = "kwok.x-k8s.io/usage-memory"

// KwokUsageMemoryContainerAnnotation followed by a container's name is the
// pod annotation whose quantity kwok reports as that container's working
// set, in place of KwokUsageMemoryAnnotation's (the harness's
// ClusterResourceUsage reads it).
const KwokUsageMemoryContainerAnnotation = KwokUsageMemoryAnnotation + "-"

const kwokUsageCPUAnnotation = "kwok.x-k8s.io/usage-cpu"

// Workload is a Deployment of kwok pods, as the e2e tests, the demo and the
// bench create them: pods labelled app=Label on the kwok nodes, each
// container reporting Memory as its working set.
type Workload struct {
	// Namespace of the Deployment; empty leaves it to the client.
	Namespace string
	Name      string
	// Label is the app label of the selector and the pods; default Name.
	Label string
	// Replicas; default 1.
	Replicas int32
	// Memory is what kwok reports for each container of each pod (a
	// quantity, the KwokUsageMemoryAnnotation); empty: kwok's own 1Mi.
	Memory string
	// Containers; default one container "app" without resources.
	Containers []WorkloadContainer
	// ContainerMemory is what kwok reports for the named containers of each
	// pod, in place of Memory (KwokUsageMemoryContainerAnnotation).
	ContainerMemory map[string]string
	// CPU is the CPU use kwok reports for each container of each pod (a
	// quantity such as 90m, the kwok.x-k8s.io/usage-cpu annotation), as the
	// rate of its container_cpu_usage_seconds_total counter; empty: 1m.
	CPU string
}

// WorkloadContainer is one container of a Workload's pods.
type WorkloadContainer struct {
	Name string
	// MemoryLimit is the container's memory limit and request (a quantity);
	// empty: neither.
	MemoryLimit string
	// CPURequest is its CPU request (a quantity); empty: none.
	CPURequest string
	// Image; default fake-app (kwok runs no container: nothing is pulled).
	Image string
}

// Deployment is the Workload as an apps/v1 Deployment. It panics on a
// quantity that does not parse: the values are the test's own constants.
func (w Workload) Deployment() *appsv1.Deployment {
	label := w.Label
	if label == "" {
		label = w.Name
	}
	replicas := w.Replicas
	if replicas == 0 {
		replicas = 1
	}
	containers := w.Containers
	if len(containers) == 0 {
		containers = []WorkloadContainer{{Name: "app"}}
	}
	var annotations map[string]string
	if w.Memory != "" || len(w.ContainerMemory) > 0 || w.CPU != "" {
		annotations = map[string]string{}
	}
	if w.CPU != "" {
		annotations[kwokUsageCPUAnnotation] = w.CPU
	}
	if w.Memory != "" {
		annotations[KwokUsageMemoryAnnotation] = w.Memory
	}
	for name, q := range w.ContainerMemory {
		annotations[KwokUsageMemoryContainerAnnotation+name] = q
	}
	labels := map[string]string{"app": label}
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: w.Name, Namespace: w.Namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": label}, Annotations: annotations},
				// Why: the harness's fake nodes carry type=kwok; no pod may land
				// anywhere else.
				Spec: corev1.PodSpec{NodeSelector: map[string]string{"type": "kwok"}},
			},
		},
	}
	for _, c := range containers {
		d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, c.container())
	}
	return d
}

func (c WorkloadContainer) container() corev1.Container {
	out := corev1.Container{Name: c.Name, Image: c.Image}
	if out.Image == "" {
		out.Image = "fake-app"
	}
	if c.MemoryLimit != "" {
		limit := resource.MustParse(c.MemoryLimit)
		out.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: limit}
		out.Resources.Requests = corev1.ResourceList{corev1.ResourceMemory: limit}
	}
	if c.CPURequest != "" {
		if out.Resources.Requests == nil {
			out.Resources.Requests = corev1.ResourceList{}
		}
		out.Resources.Requests[corev1.ResourceCPU] = resource.MustParse(c.CPURequest)
	}
	return out
}

// YAML is the Workload's Deployment as a manifest for kubectl apply.
func (w Workload) YAML() string {
	raw, err := yaml.Marshal(w.Deployment())
	if err != nil {
		// Why a panic: a Deployment built of strings and quantities always marshals.
		panic("marshal a workload Deployment: " + err.Error())
	}
	return string(raw)
}
