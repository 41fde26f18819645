package controller

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TransformPod is the pod informer's transform: it keeps only what a decision
// reads, so that the cache of a large cluster costs a fraction of full pods
// (issue 6: at most half of the untransformed informer). What is read:
//
//   - the lister: namespace, name and labels (selector matching);
//   - calc.groupPods: deletion timestamp and phase (ignored and pending pods);
//   - calc.memoryLimit: the pod-level memory limit, and each container's and
//     restartable init container's name, restart policy and memory limit, or
//     its memory request when it has no positive memory limit.
//
// Conditions, start time, owner references, requests beside a limit and
// everything else are dropped: the HPA consults readiness only for CPU, never
// for memory (kubernetes pkg/controller/podautoscaler replica_calculator.go
// groupPods). UID, resourceVersion and creation time stay: they are strings
// and a struct field, and make logs and events about a pod precise.
//
// Memory quantities are interned: every pod whose container has a 512Mi limit
// shares one ResourceList, which is most of the saving (a one-entry map costs
// about 670 bytes). Cached objects are never mutated (sample-controller's
// rule), so sharing is safe. Anything that is not a pod, such as a
// tombstone, passes through. The input is never modified.
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
			CreationTimestamp: pod.CreationTimestamp,
			DeletionTimestamp: pod.DeletionTimestamp,
		},
		Spec: corev1.PodSpec{
			Containers:     slimContainers(pod.Spec.Containers),
			InitContainers: slimContainers(pod.Spec.InitContainers),
		},
		Status: corev1.PodStatus{Phase: pod.Status.Phase},
	}
	if r := pod.Spec.Resources; r != nil {
		slim.Spec.Resources = &corev1.ResourceRequirements{}
		slim.Spec.Resources.Limits, slim.Spec.Resources.Requests = memoryOnly(r)
	}
	return slim, nil
}

func slimContainers(cs []corev1.Container) []corev1.Container {
	if cs == nil {
		return nil
	}
	out := make([]corev1.Container, len(cs))
	for i := range cs {
		c := &cs[i]
		out[i].Name = c.Name
		out[i].RestartPolicy = c.RestartPolicy
		out[i].Resources.Limits, out[i].Resources.Requests = memoryOnly(&c.Resources)
	}
	return out
}

// memoryOnly returns the memory limit and, only when there is no positive
// limit (calc then falls back to it), the memory request, each as a shared
// one-entry ResourceList.
func memoryOnly(r *corev1.ResourceRequirements) (limits, requests corev1.ResourceList) {
	if q, ok := r.Limits[corev1.ResourceMemory]; ok {
		limits = memoryList(q)
		if q.Sign() > 0 {
			return limits, nil
		}
	}
	if q, ok := r.Requests[corev1.ResourceMemory]; ok {
		requests = memoryList(q)
	}
	return limits, requests
}

// maxInterned bounds the shared lists: a cluster has a handful of distinct
// memory limits, but nothing stops it from having a million, and the table
// must not grow with them. Past the bound, a pod gets its own list, as it
// would without interning.
const maxInterned = 1024

var memoryLists = newInternTable(maxInterned)

// internTable hands out one-entry memory ResourceLists, one per canonical
// quantity, to at most max quantities.
type internTable struct {
	mu    sync.Mutex
	max   int
	lists map[string]corev1.ResourceList
}

func newInternTable(limit int) *internTable {
	return &internTable{max: limit, lists: map[string]corev1.ResourceList{}}
}

// memoryList returns a ResourceList holding only q as memory, shared between
// all callers with a quantity of the same canonical form (q.String(), which
// is what the apiserver serialises): such quantities are equal in value.
func memoryList(q resource.Quantity) corev1.ResourceList { return memoryLists.list(q) }

func (t *internTable) list(q resource.Quantity) corev1.ResourceList {
	key := q.String()
	t.mu.Lock()
	defer t.mu.Unlock()
	if l, ok := t.lists[key]; ok {
		return l
	}
	l := corev1.ResourceList{corev1.ResourceMemory: q}
	if len(t.lists) < t.max {
		t.lists[key] = l
	}
	return l
}
