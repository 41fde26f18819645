package calc

// CPU beside memory (spec.cpuTargetUtilizationPercentage): a second metric
// with the HPA's rules for a CPU Resource metric, and the HPA's rules for
// several metrics to combine it with memory's (kubernetes/kubernetes
// pkg/controller/podautoscaler replica_calculator.go GetResourceReplicas and
// groupPods, horizontal.go computeReplicasForMetrics).

import (
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The HPA's defaults for the CPU readiness rules, kube-controller-manager's
// --horizontal-pod-autoscaler-cpu-initialization-period and
// --horizontal-pod-autoscaler-initial-readiness-delay.
const (
	DefaultCPUInitializationPeriod = 5 * time.Minute
	DefaultInitialReadinessDelay   = 30 * time.Second
)

// CPUSamples is what one Prometheus query said of the pods' CPU use.
type CPUSamples struct {
	// MilliCores is the CPU use of each pod whose every container had a
	// usable rate, in millicores, by pod name. Only read.
	MilliCores map[string]int64
	// Containers is the CPU use of each container with a usable rate, by
	// pod and container name; read only when the spec names a container.
	Containers map[string]map[string]int64
	// At is when the rates were evaluated: the HPA's metric timestamp.
	At time.Time
	// Window is the rate window: the HPA's metric window.
	Window time.Duration
	// Err is set when the samples could not be fetched at all.
	Err error
}

// CPURecommendation is what CPU said in one decision, beside memory.
type CPURecommendation struct {
	// Replicas is the replica count CPU alone asks for; 0 when it failed.
	Replicas int32
	// MemoryReplicas is the replica count memory alone asks for; 0 when it
	// failed.
	MemoryReplicas int32
	// Utilization is the average CPU use as an integer percentage of the
	// requests, nil when it could not be measured.
	Utilization *int32
	// AverageMilliCores is the average CPU use of the counted pods.
	AverageMilliCores int64
	// Counted pods are ready for CPU and had a rate; Unready pods are
	// pending or unready by the CPU rules; Missing pods had no rate.
	Counted, Unready, Missing int
	// Decisive is true when CPU asked for more replicas than memory, so
	// that its recommendation is the one that applies.
	Decisive bool
	// Failed is the message of the metric that failed while the other one
	// still decided (a scale-up or a hold), empty otherwise.
	Failed string
}

// errReported is returned by withCPU when it reported the failure itself
// (conditions and warnings) and no replica count applies.
var errReported = errors.New("metrics failure reported")

// withCPU is the HPA's computeReplicasForMetrics over memory (its outcome is
// given) and CPU: the larger recommendation applies, memory's on a tie. When
// one metric fails, the other still decides a scale-up or a hold, but not a
// scale-down: then, or when both fail, it reports the first failure as the
// HPA does and returns errReported. Every failed metric gets its Warning.
func withCPU(in Input, now time.Time, tol tolerances, memMetric int32, memErr error, rec *Recommendation) (int32, error) {
	cpu := &CPURecommendation{}
	rec.CPU = cpu
	cpuMetric, cpuErr := cpuReplicas(in, now, *in.Spec.CPUTargetUtilizationPercentage, tol, cpu)
	var failures []failure
	if memErr != nil {
		failures = append(failures, failureOf(MetricName, ReasonFailedGetMemoryMetric, memErr))
	} else {
		cpu.MemoryReplicas = memMetric
	}
	if cpuErr != nil {
		failures = append(failures, failureOf(CPUMetricName, ReasonFailedGetCPUMetric, cpuErr))
	} else {
		cpu.Replicas = cpuMetric
	}
	for _, f := range failures {
		rec.Warnings = append(rec.Warnings, Warning{f.reason, f.msg})
	}
	replicas := max(cpu.MemoryReplicas, cpu.Replicas)
	cpu.Decisive = cpu.Replicas > cpu.MemoryReplicas
	if len(failures) == 0 {
		return replicas, nil
	}
	if len(failures) < 2 && replicas >= in.CurrentReplicas {
		cpu.Failed = failures[0].msg
		return replicas, nil
	}
	first := failures[0]
	rec.Conditions = append(rec.Conditions, Condition{ConditionScalingActive, metav1.ConditionFalse, first.reason,
		"the MemHpa was unable to compute the replica count: " + first.msg})
	rec.Warnings = append(rec.Warnings, Warning{EventFailedComputeMetricsReplicas,
		fmt.Sprintf("invalid metrics (%d invalid out of 2), first error is: %s", len(failures), first.msg)})
	return 0, errReported
}

// failure is one metric's failure, as its condition and event say it.
type failure struct{ reason, msg string }

// failureOf names the metric in err's message; the reason is err's own when
// it carries one (errCalc), else def.
func failureOf(metric, def string, err error) failure {
	reason := def
	var ce *errCalc
	if errors.As(err, &ce) {
		reason = ce.reason
	}
	return failure{reason: reason, msg: "failed to get " + metric + ": " + err.Error()}
}

// metricSource is the metric a successful decision came from, as the
// ValidMetricFound message names it, with the failure of the other one when
// it failed.
func (rec *Recommendation) metricSource() string {
	if rec.CPU == nil {
		return MetricName
	}
	name := MetricName
	if rec.CPU.Decisive {
		name = CPUMetricName
	}
	if rec.CPU.Failed != "" {
		name += " (the other metric failed: " + rec.CPU.Failed + ")"
	}
	return name
}

// aboveTarget is the rescale reason of a scale-up: the HPA names the metric
// whose recommendation applied.
func (rec *Recommendation) aboveTarget() string {
	if rec.CPU != nil && rec.CPU.Decisive {
		return RescaleAboveTargetCPU
	}
	return RescaleAboveTarget
}

// cpuReplicas is the HPA's GetResourceReplicas for CPU: the pods' CPU use over
// their CPU requests, with pods that are unready by the CPU rules left out
// (or counted at 0 % on a scale-up). It fills cpu's counts and utilization.
func cpuReplicas(in Input, now time.Time, target int32, tol tolerances, cpu *CPURecommendation) (int32, error) {
	s := in.CPU
	if s.Err != nil {
		return 0, s.Err
	}
	if len(in.Pods) == 0 {
		return 0, failedCPU("no pods returned by selector while calculating replica count")
	}
	g, err := groupCPUPods(in, now)
	cpu.Counted, cpu.Unready, cpu.Missing = len(g.usage), len(g.pending), len(g.missing)
	if err != nil {
		return 0, err
	}
	if len(g.usage) == 0 {
		return 0, failedCPU("did not receive metrics for targeted pods (pods might be unready)")
	}
	ratio, util, avg, err := utilizationRatio(g.usage, g.limits, target)
	if err != nil {
		return 0, failedCPU("%s", err)
	}
	cpu.Utilization, cpu.AverageMilliCores = &util, avg
	return rebalanced(g, ratio, target, tol, in.CurrentReplicas, nil)
}

func failedCPU(format string, args ...any) error {
	return &errCalc{reason: ReasonFailedGetCPUMetric, msg: fmt.Sprintf(format, args...)}
}

// groupCPUPods sorts the pods in the HPA's order: ignored (being deleted,
// Failed, and, as for memory, Succeeded), then Pending (unready), then
// without a rate (missing: before readiness, as the HPA does), then unready
// by cpuUnready. A pod of those not ignored with a container without a CPU
// request makes CPU fail (MissingCPURequest), as the HPA's calculateRequests
// does; with spec.container only that container counts, and a pod without it
// is missing with a request of 0, as for memory.
//
// The groups are memory's: usage in millicores, the requests in limits, the
// unready pods in pending (all of them count at 0 % on a scale-up).
func groupCPUPods(in Input, now time.Time) (groups, error) {
	g := groups{usage: map[string]int64{}, limits: map[string]int64{}}
	container, s := in.Spec.Container, in.CPU
	var firstMissing error
	for _, p := range in.Pods {
		phase := p.Status.Phase
		if p.DeletionTimestamp != nil || phase == corev1.PodFailed || phase == corev1.PodSucceeded {
			continue
		}
		req := cpuRequest(p, container)
		if req.missing != "" {
			if firstMissing == nil {
				firstMissing = &errCalc{reason: ReasonMissingCPURequest, msg: fmt.Sprintf(
					"missing request for cpu in container %s of Pod %s", req.missing, p.Name)}
			}
			continue
		}
		g.limits[p.Name] = req.milli
		if phase == corev1.PodPending {
			g.pending = append(g.pending, p.Name)
			continue
		}
		v, ok := s.MilliCores[p.Name]
		if container != "" {
			v, ok = s.Containers[p.Name][container]
		}
		if !ok || req.absent {
			g.missing = append(g.missing, p.Name)
			continue
		}
		if cpuUnready(p, now, s.At, s.Window, in.Config.CPUInitializationPeriod, in.Config.InitialReadinessDelay) {
			g.pending = append(g.pending, p.Name)
			continue
		}
		g.usage[p.Name] = v
	}
	return g, firstMissing
}

// cpuUnready is the HPA's readiness rule, at now, for a CPU sample taken at
// sampleAt over window: a pod without a Ready condition or a start time is unready;
// within the initialization period of its start, a pod is unready when it is
// not Ready or its sample does not yet cover a whole window since its last
// readiness transition; after it, only when it is not Ready and its last
// transition came within the initial readiness delay of its start (it has
// never been ready). A Ready condition of status Unknown is not "not Ready",
// as for the HPA.
func cpuUnready(p *corev1.Pod, now, sampleAt time.Time, window, initPeriod, readinessDelay time.Duration) bool {
	var ready *corev1.PodCondition
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			ready = &p.Status.Conditions[i]
			break
		}
	}
	start := p.Status.StartTime
	if ready == nil || start == nil {
		return true
	}
	notReady := ready.Status == corev1.ConditionFalse
	if start.Add(initPeriod).After(now) {
		return notReady || sampleAt.Before(ready.LastTransitionTime.Add(window))
	}
	return notReady && start.Add(readinessDelay).After(ready.LastTransitionTime.Time)
}

// podRequest is the CPU request that counts for one pod.
type podRequest struct {
	milli int64
	// missing names a container without a CPU request.
	missing string
	// absent is true when the MemHpa's container is not one of the pod's.
	absent bool
}

// cpuRequest is the HPA's calculateRequests for CPU: the pod-level request
// when the pod sets one and no container is named (KEP-2837), else the sum of
// the requests of its containers and restartable init containers (native
// sidecars), or only the named container's.
func cpuRequest(p *corev1.Pod, container string) podRequest {
	var r podRequest
	if p.Spec.Resources != nil && container == "" {
		if q, ok := p.Spec.Resources.Requests[corev1.ResourceCPU]; ok && q.Sign() > 0 {
			r.milli = q.MilliValue()
			return r
		}
	}
	found := false
	count := func(c *corev1.Container) {
		if container != "" && c.Name != container {
			return
		}
		found = true
		q, ok := c.Resources.Requests[corev1.ResourceCPU]
		if !ok || q.Sign() <= 0 {
			if r.missing == "" {
				r.missing = c.Name
			}
			return
		}
		r.milli += q.MilliValue()
	}
	for i := range p.Spec.InitContainers {
		c := &p.Spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			count(c)
		}
	}
	for i := range p.Spec.Containers {
		count(&p.Spec.Containers[i])
	}
	switch {
	case container != "" && !found:
		r.absent = true
	case len(p.Spec.Containers) == 0 && r.missing == "":
		r.missing = "(none)"
	}
	return r
}
