// Package gen builds test objects (pods, MemHpas) with functional options, so
// that a table row reads as the one behaviour it checks. Test code only.
package gen

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
)

// Namespace is where built objects live unless told otherwise.
const Namespace = "default"

// PodOption changes a built pod.
type PodOption func(*corev1.Pod)

// Pod is a Running pod labelled app=web with one container "app" whose memory
// limit is 1000 bytes (so that usage in bytes reads as tenths of a percent),
// unless options say otherwise.
func Pod(name string, opts ...PodOption) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name:      "app",
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1000")}},
		}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// InNamespace moves the pod.
func InNamespace(ns string) PodOption { return func(p *corev1.Pod) { p.Namespace = ns } }

// WithLabels replaces the pod's labels.
func WithLabels(l map[string]string) PodOption { return func(p *corev1.Pod) { p.Labels = l } }

// WithPhase sets the pod's phase.
func WithPhase(phase corev1.PodPhase) PodOption {
	return func(p *corev1.Pod) { p.Status.Phase = phase }
}

// Deleting gives the pod a deletion timestamp.
func Deleting() PodOption {
	return func(p *corev1.Pod) { now := metav1.Now(); p.DeletionTimestamp = &now }
}

// Containers replaces the pod's containers.
func Containers(cs ...corev1.Container) PodOption {
	return func(p *corev1.Pod) { p.Spec.Containers = cs }
}

// InitContainers sets the pod's init containers.
func InitContainers(cs ...corev1.Container) PodOption {
	return func(p *corev1.Pod) { p.Spec.InitContainers = cs }
}

// PodLimit sets a pod-level memory limit.
func PodLimit(q string) PodOption {
	return func(p *corev1.Pod) {
		p.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(q)}}
	}
}

// Container is a container with the given memory limit and request ("" for none).
func Container(name, limit, request string) corev1.Container {
	c := corev1.Container{Name: name}
	if limit != "" {
		c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(limit)}
	}
	if request != "" {
		c.Resources.Requests = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(request)}
	}
	return c
}

// Sidecar is a restartable init container (native sidecar) with a memory limit.
func Sidecar(name, limit string) corev1.Container {
	c := Container(name, limit, "")
	always := corev1.ContainerRestartPolicyAlways
	c.RestartPolicy = &always
	return c
}

// MemHpaOption changes a built MemHpa.
type MemHpaOption func(*v1alpha1.MemHpa)

// MemHpa scales Deployment "web" between 1 and 10 replicas to 80 % of limits,
// unless options say otherwise.
func MemHpa(name string, opts ...MemHpaOption) *v1alpha1.MemHpa {
	h := &v1alpha1.MemHpa{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace, Generation: 1},
		Spec: v1alpha1.MemHpaSpec{
			ScaleTargetRef:              v1alpha1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:                 new(int32(1)),
			MaxReplicas:                 10,
			TargetUtilizationPercentage: new(int32(80)),
		},
	}
	for _, o := range opts {
		o(h)
	}
	return h
}

// WithMin sets minReplicas.
func WithMin(n int32) MemHpaOption { return func(h *v1alpha1.MemHpa) { h.Spec.MinReplicas = &n } }

// WithMax sets maxReplicas.
func WithMax(n int32) MemHpaOption { return func(h *v1alpha1.MemHpa) { h.Spec.MaxReplicas = n } }

// WithTarget sets targetUtilizationPercentage.
func WithTarget(n int32) MemHpaOption {
	return func(h *v1alpha1.MemHpa) { h.Spec.TargetUtilizationPercentage = &n }
}

// WithRef sets the scale target.
func WithRef(apiVersion, kind, name string) MemHpaOption {
	return func(h *v1alpha1.MemHpa) {
		h.Spec.ScaleTargetRef = v1alpha1.CrossVersionObjectReference{APIVersion: apiVersion, Kind: kind, Name: name}
	}
}

// WithBehavior sets the behavior.
func WithBehavior(b *v1alpha1.MemHpaBehavior) MemHpaOption {
	return func(h *v1alpha1.MemHpa) { h.Spec.Behavior = b }
}

// WithGeneration sets metadata.generation.
func WithGeneration(g int64) MemHpaOption { return func(h *v1alpha1.MemHpa) { h.Generation = g } }

// Rules builds scaling rules for one direction; nil fields keep their defaults.
func Rules(window *int32, sel autoscalingv2.ScalingPolicySelect, policies ...v1alpha1.MemHpaScalingPolicy) *v1alpha1.MemHpaScalingRules {
	r := &v1alpha1.MemHpaScalingRules{StabilizationWindowSeconds: window, Policies: policies}
	if sel != "" {
		r.SelectPolicy = &sel
	}
	return r
}

// PodsPolicy allows n pods per period.
func PodsPolicy(n, periodSeconds int32) v1alpha1.MemHpaScalingPolicy {
	return v1alpha1.MemHpaScalingPolicy{Type: autoscalingv2.PodsScalingPolicy, Value: n, PeriodSeconds: periodSeconds}
}

// PercentPolicy allows pct percent per period.
func PercentPolicy(pct, periodSeconds int32) v1alpha1.MemHpaScalingPolicy {
	return v1alpha1.MemHpaScalingPolicy{Type: autoscalingv2.PercentScalingPolicy, Value: pct, PeriodSeconds: periodSeconds}
}
