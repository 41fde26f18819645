package calc

// Condition types, condition reasons and event reasons that the decision
// produces, in one place; the reasons of the controller's I/O (reading and
// writing /scale, the status, the selector) are the controller's
// (controller/reasons.go). Where the meaning is the same as the Kubernetes
// HorizontalPodAutoscaler's, the word is the same, so that runbooks and
// dashboards written for the HPA read ours too
// (kubernetes/kubernetes pkg/controller/podautoscaler/horizontal.go).
const (
	// ConditionAbleToScale tells whether the target's scale could be read and
	// written, and whether stabilisation held a change back.
	ConditionAbleToScale = "AbleToScale"
	// ConditionScalingActive tells whether a replica count could be computed
	// from memory.
	ConditionScalingActive = "ScalingActive"
	// ConditionScalingLimited tells whether the bounds or the rate limits
	// changed the computed replica count.
	ConditionScalingLimited = "ScalingLimited"
)

// Condition reasons shared with the HPA.
const (
	ReasonReadyForNewScale    = "ReadyForNewScale"
	ReasonScaleDownStabilized = "ScaleDownStabilized"
	ReasonScaleUpStabilized   = "ScaleUpStabilized"
	ReasonScalingDisabled     = "ScalingDisabled"
	ReasonValidMetricFound    = "ValidMetricFound"
	ReasonTooManyReplicas     = "TooManyReplicas"
	ReasonTooFewReplicas      = "TooFewReplicas"
	ReasonScaleUpLimit        = "ScaleUpLimit"
	ReasonScaleDownLimit      = "ScaleDownLimit"
	ReasonDesiredWithinRange  = "DesiredWithinRange"
)

// ReasonScalingPaused is ours (AbleToScale=False): a pause annotation holds
// the change the decision asks for, or every change (paused). KEDA pauses
// with the same annotations but removes the HPA instead of saying so.
const ReasonScalingPaused = "ScalingPaused"

// ReasonFailedGetMemoryMetric is the HPA's FailedGetResourceMetric for our one
// metric: Prometheus failed, or its answer could not be used for these pods.
// It is both a ScalingActive reason and a Warning event reason.
const ReasonFailedGetMemoryMetric = "FailedGetMemoryMetric"

// ReasonMissingMemoryLimit is ours (the HPA has no rule): a counted pod has a
// container with neither a memory limit nor a memory request, so the pod's
// share of memory cannot be computed and the MemHpa does not scale. It is both
// a ScalingActive reason and a Warning event reason.
const ReasonMissingMemoryLimit = "MissingMemoryLimit"

// ReasonMemoryRequestAsLimit is ours: a container has no memory limit, so its
// memory request was used in its place. Scaling goes on; a Warning event says so.
const ReasonMemoryRequestAsLimit = "MemoryRequestUsedAsLimit"

// EventFailedComputeMetricsReplicas is the HPA's Warning event when no
// replica count could be computed from the metric.
const EventFailedComputeMetricsReplicas = "FailedComputeMetricsReplicas"

// MetricName names our one metric in messages, as the HPA names its metrics
// ("memory resource utilization (percentage of request)").
const MetricName = "memory utilization (percentage of limit)"

// Rescale reasons, the text after "reason:" in SuccessfulRescale and
// FailedRescale events.
const (
	RescaleAboveTarget = MetricName + " above target"
	RescaleBelowTarget = "All metrics below target"
	RescaleAboveMax    = "Current number of replicas above Spec.MaxReplicas"
	RescaleBelowMin    = "Current number of replicas below Spec.MinReplicas"
)

// ReasonDuplicateMemorySeries is ours: a container of a selected pod was
// reported by more than one Prometheus series (two scrape jobs of one
// kubelet); it was counted once, at its largest figure. Scaling goes on; a
// Warning event names the pods and containers.
const ReasonDuplicateMemorySeries = "DuplicateMemorySeries"

// ReasonRecentOOMKill is ours (ScalingLimited=True): a counted container was
// OOM-killed within the scaler's --oom-kill-window, so a scale-down was held
// back; the message names the pods, containers and times.
const ReasonRecentOOMKill = "RecentOOMKill"

// ReasonHotContainer is ours: spec.maxContainerUtilizationPercentage found a
// counted container above that share of its own memory limit and raised the
// replica count (at least one more than at the start of the sync period,
// never fewer than now). It is a Warning event reason, naming the pod, the
// container and its utilization, and a ScalingLimited reason when no later
// limit changed the guard's count.
const ReasonHotContainer = "HotContainer"

// CPUMetricName names the CPU metric in messages, with the HPA's words for a
// CPU Resource metric.
const CPUMetricName = "cpu resource utilization (percentage of request)"

// RescaleAboveTargetCPU is the rescale reason when CPU asked for more
// replicas than memory.
const RescaleAboveTargetCPU = CPUMetricName + " above target"

// ReasonFailedGetCPUMetric is the HPA's FailedGetResourceMetric for CPU:
// Prometheus failed, or its answer could not be used for these pods. Both a
// ScalingActive reason and a Warning event reason.
const ReasonFailedGetCPUMetric = "FailedGetCPUMetric"

// ReasonMissingCPURequest is the HPA's "missing request for cpu" failure
// under a reason of its own: a counted pod has a container without a CPU
// request, so CPU gives no recommendation (memory still may: cpu.go). Both a
// ScalingActive reason and a Warning event reason.
const ReasonMissingCPURequest = "MissingCPURequest"
