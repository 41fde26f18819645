package calc

import (
	corev1 "k8s.io/api/core/v1"
)

// memoryLimit is the memory a pod may use before a container is killed: the
// pod-level limit when the pod sets one (KEP-2837), otherwise the sum over its
// containers and restartable init containers (native sidecars, which run as
// long as the pod). Other init containers have finished before the pod runs.
//
// A container without a memory limit counts with its memory request, and is
// listed in fromRequest. Why: the apiserver copies a lone limit into the
// request, never the reverse, so a request without a limit is a deliberate
// "this much is expected" that is the best figure left. A container with
// neither is returned in missing: the pod cannot be counted.
func memoryLimit(pod *corev1.Pod) (bytes int64, fromRequest []string, missing string) {
	if r := pod.Spec.Resources; r != nil {
		if q, ok := r.Limits[corev1.ResourceMemory]; ok && q.Sign() > 0 {
			return q.Value(), nil, ""
		}
	}
	add := func(c *corev1.Container) bool {
		if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok && q.Sign() > 0 {
			bytes += q.Value()
			return true
		}
		if q, ok := c.Resources.Requests[corev1.ResourceMemory]; ok && q.Sign() > 0 {
			bytes += q.Value()
			fromRequest = append(fromRequest, c.Name)
			return true
		}
		return false
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			continue
		}
		if !add(c) && missing == "" {
			missing = c.Name
		}
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		if !add(c) && missing == "" {
			missing = c.Name
		}
	}
	if len(pod.Spec.Containers) == 0 && missing == "" {
		missing = "(none)"
	}
	return bytes, fromRequest, missing
}
