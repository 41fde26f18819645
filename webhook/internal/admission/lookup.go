package admission

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"

	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/pkg/generated/clientset/versioned"
)

// ErrUnsupportedKind is returned by Lookup.PodTemplate for a workload kind
// whose pod template it cannot read (a custom resource, for example).
var ErrUnsupportedKind = errors.New("workload kind not supported")

// Lookup is the narrow read seam of the cross-object checks. Every method
// honours ctx; a missing object is an error for which apierrors.IsNotFound is
// true.
type Lookup interface {
	// MemHpas returns the MemHpas of namespace whose scaleTargetRef.name is
	// targetName. It may return others too: callers match the target themselves.
	MemHpas(ctx context.Context, namespace, targetName string) ([]v1alpha1.MemHpa, error)
	// HorizontalPodAutoscalers returns the autoscaling/v2 HPAs of namespace that
	// may target a workload named targetName (callers match the target).
	HorizontalPodAutoscalers(ctx context.Context, namespace, targetName string) ([]autoscalingv2.HorizontalPodAutoscaler, error)
	// PodTemplate returns the pod template of the workload gk/name, or
	// ErrUnsupportedKind when this Lookup cannot read that kind. A cached
	// template may hold only its containers' names, resources and restart
	// policies (TrimForCache).
	PodTemplate(ctx context.Context, namespace string, gk schema.GroupKind, name string) (*corev1.PodTemplateSpec, error)
	// LimitRanges returns the LimitRanges of namespace.
	LimitRanges(ctx context.Context, namespace string) ([]corev1.LimitRange, error)
}

// ScaleTargetNameField is the field selector of MemHpas by the name of their
// target: the CRD declares it selectable, so the apiserver filters the list.
const ScaleTargetNameField = "spec.scaleTargetRef.name"

// clientLookup reads through client-go.
type clientLookup struct {
	kube   kubernetes.Interface
	memhpa versioned.Interface
}

// NewClientLookup returns a Lookup that reads directly from the apiserver
// through kube and the MemHpa clientset, with no cache: the fallback of
// CachedLookup, for a workload created a moment ago.
func NewClientLookup(kube kubernetes.Interface, memhpa versioned.Interface) Lookup {
	return &clientLookup{kube: kube, memhpa: memhpa}
}

func (l *clientLookup) MemHpas(ctx context.Context, namespace, targetName string) ([]v1alpha1.MemHpa, error) {
	list, err := l.memhpa.AutoscalingV1alpha1().MemHpas(namespace).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector(ScaleTargetNameField, targetName).String(),
	})
	if err != nil {
		return nil, fmt.Errorf("list MemHpas in namespace %q: %w", namespace, err)
	}
	return list.Items, nil
}

func (l *clientLookup) HorizontalPodAutoscalers(ctx context.Context, namespace, _ string) ([]autoscalingv2.HorizontalPodAutoscaler, error) {
	// HPAs have no selectable field for their target: list the namespace.
	list, err := l.kube.AutoscalingV2().HorizontalPodAutoscalers(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list HorizontalPodAutoscalers in namespace %q: %w", namespace, err)
	}
	return list.Items, nil
}

// podTemplateKind tells whether Lookup.PodTemplate reads the pod template of
// workloads of kind gk: Deployments, StatefulSets and ReplicaSets of group apps.
func podTemplateKind(gk schema.GroupKind) bool {
	return gk.Group == "apps" && (gk.Kind == "Deployment" || gk.Kind == "StatefulSet" || gk.Kind == "ReplicaSet")
}

func (l *clientLookup) PodTemplate(ctx context.Context, namespace string, gk schema.GroupKind, name string) (*corev1.PodTemplateSpec, error) {
	if !podTemplateKind(gk) {
		return nil, ErrUnsupportedKind
	}
	apps := l.kube.AppsV1()
	var template *corev1.PodTemplateSpec
	var err error
	switch gk.Kind {
	case "Deployment":
		var obj *appsv1.Deployment
		if obj, err = apps.Deployments(namespace).Get(ctx, name, metav1.GetOptions{}); err == nil {
			template = &obj.Spec.Template
		}
	case "StatefulSet":
		var obj *appsv1.StatefulSet
		if obj, err = apps.StatefulSets(namespace).Get(ctx, name, metav1.GetOptions{}); err == nil {
			template = &obj.Spec.Template
		}
	case "ReplicaSet":
		var obj *appsv1.ReplicaSet
		if obj, err = apps.ReplicaSets(namespace).Get(ctx, name, metav1.GetOptions{}); err == nil {
			template = &obj.Spec.Template
		}
	default:
		return nil, ErrUnsupportedKind
	}
	if err != nil {
		return nil, fmt.Errorf("get %s %s/%s: %w", gk, namespace, name, err)
	}
	return template, nil
}

func (l *clientLookup) LimitRanges(ctx context.Context, namespace string) ([]corev1.LimitRange, error) {
	list, err := l.kube.CoreV1().LimitRanges(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list LimitRanges in namespace %q: %w", namespace, err)
	}
	return list.Items, nil
}
