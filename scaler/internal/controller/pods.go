package controller

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TransformPod is the pod informer's transform: it keeps only what a decision
// reads (identity, labels, owners, phase, conditions, start and deletion
// times, and each container's memory limit and request), so that the cache
// of a large cluster costs a fraction of full pods (managedFields alone are
// often 2–4 KB a pod). Anything else, including a tombstone, passes through.
func TransformPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	slim := &corev1.Pod{
		TypeMeta: pod.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:              pod.Name,
			Namespace:         pod.Namespace,
			UID:               pod.UID,
			ResourceVersion:   pod.ResourceVersion,
			Labels:            pod.Labels,
			OwnerReferences:   pod.OwnerReferences,
			CreationTimestamp: pod.CreationTimestamp,
			DeletionTimestamp: pod.DeletionTimestamp,
		},
		Spec: corev1.PodSpec{
			Containers:     slimContainers(pod.Spec.Containers),
			InitContainers: slimContainers(pod.Spec.InitContainers),
		},
		Status: corev1.PodStatus{
			Phase:      pod.Status.Phase,
			Conditions: pod.Status.Conditions,
			StartTime:  pod.Status.StartTime,
		},
	}
	if r := pod.Spec.Resources; r != nil {
		slim.Spec.Resources = &corev1.ResourceRequirements{Limits: memoryOnly(r.Limits), Requests: memoryOnly(r.Requests)}
	}
	return slim, nil
}

func slimContainers(cs []corev1.Container) []corev1.Container {
	if cs == nil {
		return nil
	}
	out := make([]corev1.Container, len(cs))
	for i, c := range cs {
		out[i] = corev1.Container{
			Name:          c.Name,
			RestartPolicy: c.RestartPolicy,
			Resources: corev1.ResourceRequirements{
				Limits:   memoryOnly(c.Resources.Limits),
				Requests: memoryOnly(c.Resources.Requests),
			},
		}
	}
	return out
}

func memoryOnly(l corev1.ResourceList) corev1.ResourceList {
	q, ok := l[corev1.ResourceMemory]
	if !ok {
		return nil
	}
	return corev1.ResourceList{corev1.ResourceMemory: q}
}
