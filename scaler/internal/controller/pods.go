package controller

import (
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"
	"unique"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/memhpa/memhpa/scaler/internal/calc"
)

// TransformPod is the pod informer's transform: it keeps only what a decision
// reads, so that the cache of a large cluster costs a fraction of full pods
// (issue 6: at most half of the untransformed informer). What is read:
//
//   - the lister: namespace, name and labels (selector matching);
//   - calc.groupPods: deletion timestamp and phase (ignored and pending pods);
//   - calc.memoryLimit: the pod-level memory limit, and each container's and
//     restartable init container's name, restart policy and memory limit, or
//     its memory request when it has no positive memory limit; of the status,
//     the memory limits it reports (status.resources, and the name and
//     resources.limits of each container status that has one), since the
//     smaller of spec and status applies;
//   - calc's OOM-kill rule: of a container status whose last termination
//     was an OOM kill, the restart count and that termination's reason and
//     finish time (nothing else of it: exit code, message, container ID and
//     start go). A restart count alone is dropped, since calc reads it only
//     beside such a kill, so that the pods of a ReplicaSet still share one
//     status list (or none) until a container is OOM-killed.
//   - calc's CPU rules (cpu.go, for a MemHpa with a CPU target): the CPU
//     request of each container and of the pod, the Ready condition (status
//     and last transition time only) and status.startTime. Every pod keeps
//     them, since a MemHpa may gain a CPU target at any time.
//
// Other conditions, owner references, memory requests beside a limit and
// everything else are dropped: the HPA consults readiness only for CPU, never
// for memory (kubernetes pkg/controller/podautoscaler replica_calculator.go
// groupPods). UID, resourceVersion and creation time stay: they are strings
// and a struct field, and make logs and events about a pod precise.
//
// Memory quantities are interned: every pod whose container has a 512Mi limit
// shares one ResourceList, which is most of the saving (a one-entry map costs
// about 670 bytes). So are the slimmed container lists and the label sets,
// which the pods of one ReplicaSet have in common (two containers cost 816
// bytes, a small map about 340), the namespace and the container names.
// Cached objects are never mutated (sample-controller's rule), so sharing is
// safe. Anything that is not a pod, such as a
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
			Namespace:         unique.Make(pod.Namespace).Value(),
			UID:               pod.UID,
			ResourceVersion:   pod.ResourceVersion,
			Labels:            sharedLabels(pod.Labels),
			CreationTimestamp: pod.CreationTimestamp,
			DeletionTimestamp: pod.DeletionTimestamp,
		},
		Spec: corev1.PodSpec{
			Containers:     slimContainers(pod.Spec.Containers),
			InitContainers: slimContainers(pod.Spec.InitContainers),
		},
		Status: corev1.PodStatus{
			Phase:                 pod.Status.Phase,
			StartTime:             pod.Status.StartTime,
			Conditions:            readyOnly(pod.Status.Conditions),
			ContainerStatuses:     slimStatuses(pod.Status.ContainerStatuses),
			InitContainerStatuses: slimStatuses(pod.Status.InitContainerStatuses),
		},
	}
	if r := pod.Spec.Resources; r != nil {
		slim.Spec.Resources = &corev1.ResourceRequirements{}
		slim.Spec.Resources.Limits, slim.Spec.Resources.Requests = memoryOnly(r)
		slim.Spec.Resources.Requests = withCPURequest(slim.Spec.Resources.Requests, r)
	}
	if l := statusMemoryLimit(pod.Status.Resources); l != nil {
		slim.Status.Resources = &corev1.ResourceRequirements{Limits: l}
	}
	return slim, nil
}

// slimStatuses keeps, of the container statuses that report a memory limit
// or whose last termination was an OOM kill, the name, that limit, and the
// kill with the restart count: calc reads a missing status and one with
// neither alike. The lists are shared like the containers', since the pods
// of a ReplicaSet report the same limits, and most have no kill.
func slimStatuses(statuses []corev1.ContainerStatus) []corev1.ContainerStatus {
	var out []corev1.ContainerStatus
	var key []byte
	for i := range statuses {
		st := &statuses[i]
		l := statusMemoryLimit(st.Resources)
		kill := st.LastTerminationState.Terminated
		if kill != nil && kill.Reason != calc.OOMKilledReason {
			kill = nil
		}
		if l == nil && kill == nil {
			continue
		}
		slim := corev1.ContainerStatus{Name: unique.Make(st.Name).Value()}
		if l != nil {
			slim.Resources = &corev1.ResourceRequirements{Limits: l}
		}
		killKey := "-"
		if kill != nil {
			slim.RestartCount = st.RestartCount
			slim.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{Reason: calc.OOMKilledReason, FinishedAt: kill.FinishedAt}
			killKey = "=" + strconv.Itoa(int(st.RestartCount)) + "@" + kill.FinishedAt.UTC().Format(time.RFC3339Nano)
		}
		out = append(out, slim)
		key = appendKey(appendKey(appendKey(key, st.Name), memoryKey(l)), killKey)
	}
	if out == nil {
		return nil
	}
	return statusLists.get(string(key), func() []corev1.ContainerStatus { return out })
}

// statusMemoryLimit is the memory limit r reports as a shared list, nil
// when it reports none.
func statusMemoryLimit(r *corev1.ResourceRequirements) corev1.ResourceList {
	if r == nil {
		return nil
	}
	q, ok := r.Limits[corev1.ResourceMemory]
	if !ok {
		return nil
	}
	return memoryList(q)
}

func slimContainers(cs []corev1.Container) []corev1.Container {
	if len(cs) == 0 {
		return nil
	}
	out := make([]corev1.Container, len(cs))
	var key []byte
	for i := range cs {
		c := &cs[i]
		out[i].Name = unique.Make(c.Name).Value()
		out[i].RestartPolicy = c.RestartPolicy
		out[i].Resources.Limits, out[i].Resources.Requests = memoryOnly(&c.Resources)
		out[i].Resources.Requests = withCPURequest(out[i].Resources.Requests, &c.Resources)
		key = appendKey(key, c.Name)
		key = appendKey(key, restartPolicyKey(c.RestartPolicy))
		key = appendKey(key, memoryKey(out[i].Resources.Limits))
		key = appendKey(key, memoryKey(out[i].Resources.Requests))
		key = appendKey(key, cpuKey(out[i].Resources.Requests))
	}
	return containerLists.get(string(key), func() []corev1.Container { return out })
}

func restartPolicyKey(p *corev1.ContainerRestartPolicy) string {
	if p == nil {
		return "-"
	}
	return "=" + string(*p)
}

func memoryKey(l corev1.ResourceList) string {
	q, ok := l[corev1.ResourceMemory]
	if !ok {
		return "-"
	}
	return "=" + q.String()
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

// memoryList returns a ResourceList holding only q as memory, shared between
// all callers with a quantity of the same canonical form (q.String(), which
// is what the apiserver serialises): such quantities are equal in value.
func memoryList(q resource.Quantity) corev1.ResourceList {
	return memoryLists.get(q.String(), func() corev1.ResourceList { return corev1.ResourceList{corev1.ResourceMemory: q} })
}

// sharedLabels returns a copy of l shared by every pod with the same labels.
// A copy: the cache must not hold the map of an object it was handed.
func sharedLabels(l map[string]string) map[string]string {
	if len(l) == 0 {
		return l
	}
	var key []byte
	for _, k := range slices.Sorted(maps.Keys(l)) {
		key = appendKey(appendKey(key, k), l[k])
	}
	return labelSets.get(string(key), func() map[string]string { return maps.Clone(l) })
}

// appendKey appends s prefixed with its length, so that a key built of
// several strings names one sequence of strings whatever they contain.
func appendKey(key []byte, s string) []byte {
	key = strconv.AppendInt(key, int64(len(s)), 10)
	return append(append(key, ':'), s...)
}

// The bounds of the shared tables. A cluster has a handful of memory limits
// but a label set and a container list per ReplicaSet, and each rollout
// brings new ones while nothing says when one is no longer used: a full table
// starts again empty (pods cached before keep what they share, later pods
// share anew), so its cost is at most this many stale entries (a few hundred
// bytes each).
const (
	maxMemoryLists   = 1024
	maxLabelSets     = 8192
	maxContainerSets = 8192
)

var (
	memoryLists    = newSharedTable[corev1.ResourceList](maxMemoryLists)
	labelSets      = newSharedTable[map[string]string](maxLabelSets)
	containerLists = newSharedTable[[]corev1.Container](maxContainerSets)
	statusLists    = newSharedTable[[]corev1.ContainerStatus](maxContainerSets)
)

// sharedTable hands out one value per key to every caller, for at most max
// keys at a time.
type sharedTable[V any] struct {
	mu     sync.Mutex
	max    int
	values map[string]V
}

func newSharedTable[V any](max int) *sharedTable[V] {
	return &sharedTable[V]{max: max, values: map[string]V{}}
}

// get returns the value shared under key, making it with build when there is none.
func (t *sharedTable[V]) get(key string, build func() V) V {
	t.mu.Lock()
	defer t.mu.Unlock()
	if v, ok := t.values[key]; ok {
		return v
	}
	if len(t.values) >= t.max {
		clear(t.values)
	}
	v := build()
	t.values[key] = v
	return v
}

// TransformHPA is the HorizontalPodAutoscaler informer's transform: the
// ambiguity check reads only an HPA's name and target, so the cache keeps
// nothing else (no metrics, no status).
func TransformHPA(obj any) (any, error) {
	a, ok := obj.(*autoscalingv2.HorizontalPodAutoscaler)
	if !ok {
		return obj, nil // a tombstone
	}
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{
			Name: a.Name, Namespace: a.Namespace, UID: a.UID, ResourceVersion: a.ResourceVersion,
			DeletionTimestamp: a.DeletionTimestamp,
		},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: a.Spec.ScaleTargetRef},
	}, nil
}
