// Package memhpagen is test builders; not part of the API. It builds MemHpa
// objects, and the objects around them (HPAs, pod templates, containers), for
// the tests of the webhook and the scaler:
// memhpagen.MemHpa("web", memhpagen.WithMin(2)) is a valid, undefaulted MemHpa
// named web in namespace default that scales Deployment.apps "web" between 2
// and 10 replicas. Why a package of its own outside pkg/: two modules' tests
// import it, and what is under pkg/ is the API a user may import.
package memhpagen

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
)

// Namespace is the namespace of the objects built here unless told otherwise.
const Namespace = "default"

// Option changes a MemHpa being built.
type Option func(*v1alpha1.MemHpa)

// MemHpa returns a valid, undefaulted MemHpa named name in Namespace that
// scales the apps/v1 Deployment of the same name up to 10 replicas.
func MemHpa(name string, opts ...Option) *v1alpha1.MemHpa {
	obj := &v1alpha1.MemHpa{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.SchemeGroupVersion.String(), Kind: "MemHpa"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace},
		Spec: v1alpha1.MemHpaSpec{
			ScaleTargetRef: v1alpha1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
			MaxReplicas:    10,
		},
	}
	for _, opt := range opts {
		opt(obj)
	}
	return obj
}

// WithNamespace sets the namespace.
func WithNamespace(ns string) Option { return func(m *v1alpha1.MemHpa) { m.Namespace = ns } }

// WithGenerateName clears the name and sets metadata.generateName.
func WithGenerateName(prefix string) Option {
	return func(m *v1alpha1.MemHpa) { m.Name, m.GenerateName = "", prefix }
}

// WithUID sets metadata.uid.
func WithUID(uid string) Option { return func(m *v1alpha1.MemHpa) { m.UID = types.UID(uid) } }

// WithResourceVersion sets metadata.resourceVersion.
func WithResourceVersion(rv string) Option {
	return func(m *v1alpha1.MemHpa) { m.ResourceVersion = rv }
}

// WithLabels sets metadata.labels.
func WithLabels(labels map[string]string) Option {
	return func(m *v1alpha1.MemHpa) { m.Labels = labels }
}

// WithAnnotations sets metadata.annotations.
func WithAnnotations(annotations map[string]string) Option {
	return func(m *v1alpha1.MemHpa) { m.Annotations = annotations }
}

// WithFinalizers sets metadata.finalizers.
func WithFinalizers(f ...string) Option { return func(m *v1alpha1.MemHpa) { m.Finalizers = f } }

// Deleting sets metadata.deletionTimestamp.
func Deleting() Option {
	return func(m *v1alpha1.MemHpa) { m.DeletionTimestamp = ptr.To(metav1.Unix(1e9, 0)) }
}

// WithGeneration sets metadata.generation (the apiserver's is 1 on create).
func WithGeneration(g int64) Option { return func(m *v1alpha1.MemHpa) { m.Generation = g } }

// WithMin sets spec.minReplicas.
func WithMin(n int32) Option { return func(m *v1alpha1.MemHpa) { m.Spec.MinReplicas = ptr.To(n) } }

// WithMax sets spec.maxReplicas.
func WithMax(n int32) Option { return func(m *v1alpha1.MemHpa) { m.Spec.MaxReplicas = n } }

// WithTarget sets spec.targetUtilizationPercentage.
func WithTarget(percent int32) Option {
	return func(m *v1alpha1.MemHpa) { m.Spec.TargetUtilizationPercentage = ptr.To(percent) }
}

// WithMaxContainerUtilization sets spec.maxContainerUtilizationPercentage,
// the hot-container guard.
func WithMaxContainerUtilization(percent int32) Option {
	return func(m *v1alpha1.MemHpa) { m.Spec.MaxContainerUtilizationPercentage = ptr.To(percent) }
}

// WithCPUTarget sets spec.cpuTargetUtilizationPercentage.
func WithCPUTarget(percent int32) Option {
	return func(m *v1alpha1.MemHpa) { m.Spec.CPUTargetUtilizationPercentage = ptr.To(percent) }
}

// WithContainer sets spec.container, the one container that counts.
func WithContainer(name string) Option { return func(m *v1alpha1.MemHpa) { m.Spec.Container = name } }

// WithMode sets spec.mode.
func WithMode(mode v1alpha1.ScalingMode) Option {
	return func(m *v1alpha1.MemHpa) { m.Spec.Mode = mode }
}

// DryRun sets spec.mode to DryRun.
func DryRun() Option { return WithMode(v1alpha1.ScalingModeDryRun) }

// WithRef sets spec.scaleTargetRef.
func WithRef(apiVersion, kind, name string) Option {
	return func(m *v1alpha1.MemHpa) {
		m.Spec.ScaleTargetRef = v1alpha1.CrossVersionObjectReference{APIVersion: apiVersion, Kind: kind, Name: name}
	}
}

// WithBehavior sets spec.behavior.
func WithBehavior(up, down *v1alpha1.MemHpaScalingRules) Option {
	return func(m *v1alpha1.MemHpa) {
		m.Spec.Behavior = &v1alpha1.MemHpaBehavior{ScaleUp: up, ScaleDown: down}
	}
}

// WithStatus sets the status.
func WithStatus(status v1alpha1.MemHpaStatus) Option {
	return func(m *v1alpha1.MemHpa) { m.Status = status }
}

// Defaulted returns a copy of obj with its defaults set.
func Defaulted(obj *v1alpha1.MemHpa) *v1alpha1.MemHpa {
	out := obj.DeepCopy()
	v1alpha1.SetDefaults(out)
	return out
}

// RulesOption changes scaling rules being built.
type RulesOption func(*v1alpha1.MemHpaScalingRules)

// Rules returns scaling rules with the given parts set and the others unset.
func Rules(opts ...RulesOption) *v1alpha1.MemHpaScalingRules {
	r := &v1alpha1.MemHpaScalingRules{}
	for _, opt := range opts {
		opt(r)
	}
	return r
}

// Window sets stabilizationWindowSeconds.
func Window(seconds int32) RulesOption {
	return func(r *v1alpha1.MemHpaScalingRules) { r.StabilizationWindowSeconds = ptr.To(seconds) }
}

// Select sets selectPolicy.
func Select(p autoscalingv2.ScalingPolicySelect) RulesOption {
	return func(r *v1alpha1.MemHpaScalingRules) { r.SelectPolicy = ptr.To(p) }
}

// Policies sets policies; with no argument, an empty (not unset) list.
func Policies(p ...v1alpha1.MemHpaScalingPolicy) RulesOption {
	return func(r *v1alpha1.MemHpaScalingRules) { r.Policies = append([]v1alpha1.MemHpaScalingPolicy{}, p...) }
}

// Tolerance sets tolerance from a quantity such as "0.05" or "-1".
func Tolerance(q string) RulesOption {
	return func(r *v1alpha1.MemHpaScalingRules) { r.Tolerance = ptr.To(resource.MustParse(q)) }
}

// Policy returns one scaling policy.
func Policy(t autoscalingv2.HPAScalingPolicyType, value, periodSeconds int32) v1alpha1.MemHpaScalingPolicy {
	return v1alpha1.MemHpaScalingPolicy{Type: t, Value: value, PeriodSeconds: periodSeconds}
}

// HPA returns an autoscaling/v2 HorizontalPodAutoscaler named name in
// Namespace that scales the workload apiVersion/kind/target.
func HPA(name, apiVersion, kind, target string) *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: apiVersion, Kind: kind, Name: target},
			MaxReplicas:    10,
		},
	}
}

// PodTemplate returns a pod template with the given containers.
func PodTemplate(containers ...corev1.Container) *corev1.PodTemplateSpec {
	return &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: containers},
	}
}

// Container returns a container with the given memory limit and request (""
// for none), for a pod template or a pod.
func Container(name, memoryLimit, memoryRequest string) corev1.Container {
	c := corev1.Container{Name: name, Image: "registry.example/app:1"}
	if memoryLimit != "" {
		c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(memoryLimit)}
	}
	if memoryRequest != "" {
		c.Resources.Requests = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(memoryRequest)}
	}
	return c
}

// Sidecar returns a restartable init container (a native sidecar) with the
// given memory limit.
func Sidecar(name, memoryLimit string) corev1.Container {
	c := Container(name, memoryLimit, "")
	c.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
	return c
}

// MemoryLimitRange returns a LimitRange in Namespace that gives containers
// the default memory limit limit.
func MemoryLimitRange(name, limit string) *corev1.LimitRange {
	return &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:    corev1.LimitTypeContainer,
			Default: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(limit)},
		}}},
	}
}
