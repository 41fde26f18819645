package calc

import (
	"iter"

	corev1 "k8s.io/api/core/v1"
)

// podLimit is the memory limit that counts for one pod.
type podLimit struct {
	bytes int64
	// fromRequest lists the containers whose request stood in for a limit.
	fromRequest []string
	// missing names a container with neither: the pod cannot be counted.
	missing string
	// absent is true when the MemHpa's container is not one of the pod's
	// running containers: the pod is missing, as the HPA's is when its
	// container metrics lack the ContainerResource container.
	absent bool
}

// memoryLimit is the memory a pod may use before a container is killed: the
// pod-level limit when the pod sets one (KEP-2837), otherwise the sum over its
// containers and restartable init containers (native sidecars, which run as
// long as the pod). Other init containers have finished before the pod runs.
// When container is not empty (spec.container), only that container counts:
// its own limit, or the pod-level limit when that is smaller or the
// container has none, since the pod's cgroup kills it too.
//
// Every limit is the one that really applies (issue 13 item 4): the smaller of
// the spec's and the status's (status.containerStatuses[].resources, and
// status.resources for the pod level) where the status reports one. Why the
// smaller: an increase not yet actuated still kills at the old limit, and a
// decrease the kubelet has actuated while the spec still says more (or has
// not actuated yet) only makes the scaler scale up earlier, never down.
//
// A container without a memory limit counts with its memory request, and is
// listed in fromRequest. Why: the apiserver copies a lone limit into the
// request, never the reverse, so a request without a limit is a deliberate
// "this much is expected" that is the best figure left. A container with
// neither is returned in missing: the pod cannot be counted.
func memoryLimit(pod *corev1.Pod, container string) podLimit {
	var l podLimit
	podBytes, podLimited := appliedLimit(pod.Spec.Resources, pod.Status.Resources)
	if podLimited && container == "" {
		l.bytes = podBytes
		return l
	}
	// add counts one container, with the pod-level limit as its bound when
	// it is the only one that counts.
	add := func(c *corev1.Container, status *corev1.ResourceRequirements) bool {
		b, ok := appliedLimit(&c.Resources, status)
		if podLimited && (!ok || podBytes < b) {
			b, ok = podBytes, true
		}
		if ok {
			l.bytes += b
			return true
		}
		if q, ok := c.Resources.Requests[corev1.ResourceMemory]; ok && q.Sign() > 0 {
			l.bytes += q.Value()
			l.fromRequest = append(l.fromRequest, c.Name)
			return true
		}
		return false
	}
	found := false
	count := func(c *corev1.Container, statuses []corev1.ContainerStatus) {
		if container != "" && c.Name != container {
			return
		}
		found = true
		if !add(c, statusResources(statuses, c.Name)) && l.missing == "" {
			l.missing = c.Name
		}
	}
	for c, statuses := range runningContainers(pod) {
		count(c, statuses)
	}
	switch {
	case container != "" && !found:
		l.absent = true
	case len(pod.Spec.Containers) == 0 && l.missing == "":
		l.missing = "(none)"
	}
	return l
}

// runningContainers yields the containers that run as long as the pod, each
// with the statuses of its kind: the restartable init containers (native
// sidecars), then the containers. Other init containers have finished
// before the pod runs.
func runningContainers(pod *corev1.Pod) iter.Seq2[*corev1.Container, []corev1.ContainerStatus] {
	return func(yield func(*corev1.Container, []corev1.ContainerStatus) bool) {
		for i := range pod.Spec.InitContainers {
			c := &pod.Spec.InitContainers[i]
			if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
				continue
			}
			if !yield(c, pod.Status.InitContainerStatuses) {
				return
			}
		}
		for i := range pod.Spec.Containers {
			if !yield(&pod.Spec.Containers[i], pod.Status.ContainerStatuses) {
				return
			}
		}
	}
}

// appliedLimit is the smaller of the positive memory limits of spec and
// status, false when neither has one.
func appliedLimit(spec, status *corev1.ResourceRequirements) (int64, bool) {
	var bytes int64
	ok := false
	for _, r := range []*corev1.ResourceRequirements{spec, status} {
		if r == nil {
			continue
		}
		if q, set := r.Limits[corev1.ResourceMemory]; set && q.Sign() > 0 && (!ok || q.Value() < bytes) {
			bytes, ok = q.Value(), true
		}
	}
	return bytes, ok
}

// statusResources is what the status of the container named name reports as
// its resources, nil when it reports none.
func statusResources(statuses []corev1.ContainerStatus, name string) *corev1.ResourceRequirements {
	if st := statusOf(statuses, name); st != nil {
		return st.Resources
	}
	return nil
}

// statusOf is the status of the container named name, nil when there is none.
func statusOf(statuses []corev1.ContainerStatus, name string) *corev1.ContainerStatus {
	for i := range statuses {
		if statuses[i].Name == name {
			return &statuses[i]
		}
	}
	return nil
}
