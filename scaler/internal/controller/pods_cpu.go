package controller

import (
	corev1 "k8s.io/api/core/v1"
)

// What TransformPod keeps for calc's CPU rules (calc/cpu.go).

// readyOnly keeps, of a pod's conditions, the Ready condition's type, status
// and last transition time: the HPA's CPU readiness rule reads nothing else.
// One small slice per pod: the transition time is the pod's own.
func readyOnly(conditions []corev1.PodCondition) []corev1.PodCondition {
	for _, c := range conditions {
		if c.Type == corev1.PodReady {
			return []corev1.PodCondition{{Type: corev1.PodReady, Status: c.Status, LastTransitionTime: c.LastTransitionTime}}
		}
	}
	return nil
}

// withCPURequest adds r's CPU request, when it has one, to requests (the
// memory request memoryOnly kept, or nil), as a list shared like memory's.
func withCPURequest(requests corev1.ResourceList, r *corev1.ResourceRequirements) corev1.ResourceList {
	cpu, ok := r.Requests[corev1.ResourceCPU]
	if !ok {
		return requests
	}
	mem, hasMem := requests[corev1.ResourceMemory]
	key := "cpu=" + cpu.String()
	if hasMem {
		key += ",memory=" + mem.String()
	}
	return requestLists.get(key, func() corev1.ResourceList {
		l := corev1.ResourceList{corev1.ResourceCPU: cpu}
		if hasMem {
			l[corev1.ResourceMemory] = mem
		}
		return l
	})
}

func cpuKey(l corev1.ResourceList) string {
	q, ok := l[corev1.ResourceCPU]
	if !ok {
		return "-"
	}
	return "=" + q.String()
}

// requestLists shares the request lists that hold a CPU request; bounded as
// memoryLists is.
var requestLists = newSharedTable[corev1.ResourceList](maxMemoryLists)
