package calc

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// DefaultOOMKillWindow is the default of --oom-kill-window.
const DefaultOOMKillWindow = 10 * time.Minute

// OOMKilledReason is the reason the kubelet gives a container's termination
// when the kernel's OOM killer ended it (lastState.terminated.reason).
const OOMKilledReason = "OOMKilled"

// OOMKill is a counted container whose last termination was an OOM kill
// that finished within the window.
type OOMKill struct {
	Pod    string
	PodUID types.UID
	// Container is the container's name.
	Container string
	// FinishedAt is when the killed container ended.
	FinishedAt time.Time
	// RestartCount is the container's restart count as the pod reports it:
	// a new kill comes with a higher one.
	RestartCount int32
}

// oomRule is what tells a recent kill: the decision's clock and the window
// (0: the rule is off).
type oomRule struct {
	now    time.Time
	window time.Duration
}

// recentKills lists the counted containers of pod (those that run as long as
// the pod, or only container when it is set) whose last termination was an
// OOM kill that finished within the window. A finish after now counts too:
// the node's clock is ahead of ours, and the kill is recent either way.
func (r oomRule) recentKills(pod *corev1.Pod, container string) []OOMKill {
	if r.window <= 0 {
		return nil
	}
	var kills []OOMKill
	for c, statuses := range runningContainers(pod) {
		if container != "" && c.Name != container {
			continue
		}
		st := statusOf(statuses, c.Name)
		if st == nil {
			continue
		}
		term := st.LastTerminationState.Terminated
		if term == nil || term.Reason != OOMKilledReason || term.FinishedAt.Time.Before(r.now.Add(-r.window)) {
			continue
		}
		kills = append(kills, OOMKill{Pod: pod.Name, PodUID: pod.UID, Container: c.Name,
			FinishedAt: term.FinishedAt.Time, RestartCount: st.RestartCount})
	}
	return kills
}

// oomUsage is what a pod with recent kills counts with: each killed
// container at 100 % of its limit in place of its figure (a container that
// restarted after a kill uses little, and would drag the average down while
// its pods are dying: kubernetes/kubernetes#72811), the others at theirs;
// with a pod-level limit, or when the input has no figures per container,
// the pod at least at its limit (the pod's cgroup is what killed, or which
// part of the pod's figure was the killed container's is unknown). Without
// a usable figure (the pod's, or the target container's) the pod counts at
// 100 % of its limit rather than as missing: a missing pod counts 0 % on a
// scale-up, and this one was just killed at its limit.
func oomUsage(pod *corev1.Pod, container string, limit podLimit, kills []OOMKill, usage podUsage) int64 {
	v, ok := usage.of(pod.Name, container)
	if !ok || container != "" {
		return limit.bytes
	}
	figures, known := usage.containers[pod.Name]
	if _, podLimited := appliedLimit(pod.Spec.Resources, pod.Status.Resources); podLimited || !known {
		return max(v, limit.bytes)
	}
	for _, k := range kills {
		// A container without a figure (no series since its restart) is
		// not in the pod's sum: its limit is added whole.
		v += memoryLimit(pod, k.Container).bytes - figures[k.Container]
	}
	return v
}

// holdForOOMKills keeps the current size when the decision would scale down
// while a counted container was OOM-killed within the window, and says so in
// ScalingLimited. Scale-ups go through. Only the outcome is held: the
// history keeps the raw recommendation, so that the window's end is not
// followed by a stabilisation window of held sizes.
func holdForOOMKills(rec *Recommendation, window time.Duration, current, desired int32) int32 {
	if desired >= current || len(rec.OOMKills) == 0 {
		return desired
	}
	rec.HeldByOOMKill = true
	names := make([]string, len(rec.OOMKills))
	for i, k := range rec.OOMKills {
		names[i] = k.Pod + "/" + k.Container + " at " + k.FinishedAt.UTC().Format(time.RFC3339)
	}
	msg := fmt.Sprintf("a scale-down to %d was held back: %d counted container(s) were OOM-killed within the last %v: %s",
		desired, len(names), window, shortList(names))
	for i := range rec.Conditions {
		if rec.Conditions[i].Type == ConditionScalingLimited {
			rec.Conditions[i] = limited(true, ReasonRecentOOMKill, msg)
		}
	}
	return current
}
