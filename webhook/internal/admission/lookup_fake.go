package admission

import (
	"context"
	"strings"
	"sync"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
)

// WorkloadKey names a workload in FakeLookup.Templates.
type WorkloadKey struct {
	Namespace string
	GroupKind schema.GroupKind
	Name      string
}

// FakeLookup is a Lookup over objects held in memory, for tests. It reads the
// kinds that the client-go Lookup reads, and no others.
type FakeLookup struct {
	MemHpaItems     []v1alpha1.MemHpa
	HPAItems        []autoscalingv2.HorizontalPodAutoscaler
	Templates       map[WorkloadKey]*corev1.PodTemplateSpec
	LimitRangeItems []corev1.LimitRange
	// Errs makes the named method ("MemHpas", "HorizontalPodAutoscalers",
	// "PodTemplate", "LimitRanges") fail with the given error.
	Errs map[string]error
	// Hang makes every method wait until the channel is closed, ignoring its
	// context, as a stuck connection would.
	Hang chan struct{}

	mu    sync.Mutex
	calls []string
}

var _ Lookup = (*FakeLookup)(nil)

// Calls returns the names of the methods called so far.
func (f *FakeLookup) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *FakeLookup) enter(method string) error {
	f.mu.Lock()
	f.calls = append(f.calls, method)
	f.mu.Unlock()
	if f.Hang != nil {
		<-f.Hang
	}
	return f.Errs[method]
}

// MemHpas implements Lookup.
func (f *FakeLookup) MemHpas(_ context.Context, namespace, targetName string) ([]v1alpha1.MemHpa, error) {
	if err := f.enter("MemHpas"); err != nil {
		return nil, err
	}
	var out []v1alpha1.MemHpa
	for _, m := range f.MemHpaItems {
		if m.Namespace == namespace && m.Spec.ScaleTargetRef.Name == targetName {
			out = append(out, *m.DeepCopy())
		}
	}
	return out, nil
}

// HorizontalPodAutoscalers implements Lookup.
func (f *FakeLookup) HorizontalPodAutoscalers(_ context.Context, namespace, _ string) ([]autoscalingv2.HorizontalPodAutoscaler, error) {
	if err := f.enter("HorizontalPodAutoscalers"); err != nil {
		return nil, err
	}
	var out []autoscalingv2.HorizontalPodAutoscaler
	for _, h := range f.HPAItems {
		if h.Namespace == namespace {
			out = append(out, *h.DeepCopy())
		}
	}
	return out, nil
}

// PodTemplate implements Lookup.
func (f *FakeLookup) PodTemplate(_ context.Context, namespace string, gk schema.GroupKind, name string) (*corev1.PodTemplateSpec, error) {
	if err := f.enter("PodTemplate"); err != nil {
		return nil, err
	}
	if !podTemplateKind(gk) {
		return nil, ErrUnsupportedKind
	}
	t, ok := f.Templates[WorkloadKey{Namespace: namespace, GroupKind: gk, Name: name}]
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Group: gk.Group, Resource: strings.ToLower(gk.Kind) + "s"}, name)
	}
	return t.DeepCopy(), nil
}

// LimitRanges implements Lookup.
func (f *FakeLookup) LimitRanges(_ context.Context, namespace string) ([]corev1.LimitRange, error) {
	if err := f.enter("LimitRanges"); err != nil {
		return nil, err
	}
	var out []corev1.LimitRange
	for _, lr := range f.LimitRangeItems {
		if lr.Namespace == namespace {
			out = append(out, *lr.DeepCopy())
		}
	}
	return out, nil
}
