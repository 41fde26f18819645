// Package gen builds pods for the scaler's tests with functional options, so
// that a table row reads as the one behaviour it checks. Test code only: the
// MemHpas, and the containers in the pods, come from memhpagen, the one set of
// MemHpa builders.
package gen

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

// PodOption changes a built pod.
type PodOption func(*corev1.Pod)

// Pod is a Running pod in memhpagen.Namespace labelled app=web with one
// container "app" whose memory limit is 1000 bytes (so that usage in bytes
// reads as tenths of a percent), unless options say otherwise.
func Pod(name string, opts ...PodOption) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: memhpagen.Namespace, Labels: map[string]string{"app": "web"}},
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

// OOMKilled makes the status of container (a container status, or an init
// container status for a sidecar) say that it was OOM-killed at finishedAt
// and has restarted restarts times since the pod started, with the other
// fields the kubelet fills in.
func OOMKilled(container string, finishedAt time.Time, restarts int32) PodOption {
	return func(p *corev1.Pod) {
		statuses := &p.Status.ContainerStatuses
		for _, c := range p.Spec.InitContainers {
			if c.Name == container {
				statuses = &p.Status.InitContainerStatuses
			}
		}
		i := 0
		for i < len(*statuses) && (*statuses)[i].Name != container {
			i++
		}
		if i == len(*statuses) {
			*statuses = append(*statuses, corev1.ContainerStatus{Name: container})
		}
		st := &(*statuses)[i]
		st.RestartCount = restarts
		st.ContainerID = "containerd://" + container + "-restarted"
		st.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(finishedAt.Add(time.Second))}}
		st.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			Reason: "OOMKilled", ExitCode: 137, ContainerID: "containerd://" + container + "-killed",
			StartedAt: metav1.NewTime(finishedAt.Add(-time.Hour)), FinishedAt: metav1.NewTime(finishedAt),
		}}
	}
}

// WithCPURequest gives every container of the pod a CPU request (a quantity).
func WithCPURequest(q string) PodOption {
	return func(p *corev1.Pod) {
		for i := range p.Spec.Containers {
			r := &p.Spec.Containers[i].Resources
			if r.Requests == nil {
				r.Requests = corev1.ResourceList{}
			}
			r.Requests[corev1.ResourceCPU] = resource.MustParse(q)
		}
	}
}

// Started sets the pod's status.startTime.
func Started(at time.Time) PodOption {
	return func(p *corev1.Pod) { p.Status.StartTime = &metav1.Time{Time: at} }
}

// WithReady sets the pod's Ready condition, last changed at changed.
func WithReady(status corev1.ConditionStatus, changed time.Time) PodOption {
	return func(p *corev1.Pod) {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{
			Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.Time{Time: changed}})
	}
}
