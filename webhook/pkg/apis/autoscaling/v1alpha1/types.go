package v1alpha1

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MemHpa scales a workload horizontally on the memory its pods use, as a share
// of the pods' memory limits.
//
// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=memhpas,singular=memhpa,shortName=mhpa,scope=Namespaced
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Reference",type=string,JSONPath=`.status.reference`,description="The workload that is scaled, as kind/name"
// +kubebuilder:printcolumn:name="Targets",type=string,JSONPath=`.status.targets`,description="Current memory utilization of limits / target, in percent (and CPU of requests, when set)"
// +kubebuilder:printcolumn:name="MinPods",type=integer,JSONPath=`.spec.minReplicas`
// +kubebuilder:printcolumn:name="MaxPods",type=integer,JSONPath=`.spec.maxReplicas`
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.status.currentReplicas`
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`,description="Scale writes the target's replicas; DryRun only reports what it would set"
// +kubebuilder:printcolumn:name="Desired",type=integer,JSONPath=`.status.desiredReplicas`,priority=1,description="The replicas the scaler last asked for (in DryRun or paused: would set)"
// +kubebuilder:printcolumn:name="LimitedBy",type=string,priority=1,JSONPath=`.status.lastDecision.limitedBy`,description="What set the last decision's replica count apart from memory's own (status.lastDecision.limitedBy)"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:selectablefield:JSONPath=`.spec.scaleTargetRef.name`
type MemHpa struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what the user asks for: which workload to scale, within which
	// bounds, and to which memory utilization.
	// +required
	Spec MemHpaSpec `json:"spec"`

	// status is what the scaler last observed and did.
	// +optional
	Status MemHpaStatus `json:"status,omitempty"`
}

// MemHpaSpec is the desired behaviour of a MemHpa.
//
// +kubebuilder:validation:XValidation:rule="!has(self.minReplicas) || self.minReplicas <= self.maxReplicas",message="maxReplicas must be greater than or equal to minReplicas",fieldPath=".maxReplicas"
// +kubebuilder:validation:XValidation:rule="!has(self.maxContainerUtilizationPercentage) || self.maxContainerUtilizationPercentage >= (has(self.targetUtilizationPercentage) ? self.targetUtilizationPercentage : 80)",message="maxContainerUtilizationPercentage must be greater than or equal to targetUtilizationPercentage (80 when unset)",fieldPath=".maxContainerUtilizationPercentage"
type MemHpaSpec struct {
	// scaleTargetRef points at the workload to scale. It must have a /scale
	// subresource (Deployment, StatefulSet, ReplicaSet or a custom resource).
	// +required
	ScaleTargetRef CrossVersionObjectReference `json:"scaleTargetRef"`

	// minReplicas is the lower bound on the number of replicas. Defaults to 1.
	// Scaling to zero is not supported: with no pods there is no memory to measure.
	// +kubebuilder:validation:Minimum=1
	// +optional
	MinReplicas *int32 `json:"minReplicas,omitempty"`

	// maxReplicas is the upper bound on the number of replicas. It cannot be
	// less than minReplicas.
	// +kubebuilder:validation:Minimum=1
	// +required
	MaxReplicas int32 `json:"maxReplicas"`

	// targetUtilizationPercentage is the target average memory use of the pods,
	// as a percentage of the sum of their containers' memory limits (not
	// requests: the limit is what gets a container killed). Working set bytes
	// are measured by Prometheus. Between 1 and 100; defaults to 80.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	TargetUtilizationPercentage *int32 `json:"targetUtilizationPercentage,omitempty"`

	// cpuTargetUtilizationPercentage, when set, is a second target: the
	// average CPU use of the pods as a percentage of their CPU requests (not
	// limits), as autoscaling/v1's targetCPUUtilizationPercentage. CPU is
	// measured by Prometheus as the rate of container_cpu_usage_seconds_total,
	// with the HorizontalPodAutoscaler's readiness rules for CPU, and the
	// larger of the memory and CPU recommendations applies. At least 1; no
	// upper bound, since a container may use more CPU than it requests. When
	// unset, only memory counts.
	// +kubebuilder:validation:Minimum=1
	// +optional
	CPUTargetUtilizationPercentage *int32 `json:"cpuTargetUtilizationPercentage,omitempty"`

	// container, when set, names the one container whose memory counts, in
	// every pod of the target: its working set over its own memory limit (the
	// autoscaling/v2 ContainerResource metric's counterpart). A pod without
	// this container counts as a pod without a sample. When unset, every
	// container of a pod and its pod-level limit count. A DNS label.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Container string `json:"container,omitempty"`

	// maxContainerUtilizationPercentage, when set, guards against the one hot
	// container that an average hides: when any counted container's working
	// set is above this percentage of its own memory limit (only the
	// container named by container, when that is set), the scaler asks for
	// at least one replica more than the current count, once per sync
	// period, and never fewer than the current count, still within
	// maxReplicas and the scale-up limits (behavior's policies, or the
	// max(2x, 4) cap without behavior). A container whose limit is only its
	// memory request is not judged. Between 1 and 100, and not below
	// targetUtilizationPercentage; unset means no guard.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxContainerUtilizationPercentage *int32 `json:"maxContainerUtilizationPercentage,omitempty"`
	// mode is Scale (the default: the scaler writes the target's replicas)
	// or DryRun: the scaler measures, decides, keeps its stabilization
	// history and reports what it would set (status.desiredReplicas,
	// conditions, DryRunRescale events, metrics) but never writes the
	// target's scale. A DryRun MemHpa may shadow a target that a
	// HorizontalPodAutoscaler or another MemHpa scales; switching it to
	// Scale is refused while one does.
	// +kubebuilder:validation:Enum=Scale;DryRun
	// +kubebuilder:default=Scale
	// +optional
	Mode ScalingMode `json:"mode,omitempty"`

	// behavior configures scaling up and down separately, with exactly the
	// meaning of the autoscaling/v2 HorizontalPodAutoscaler's behavior field.
	// When unset, one scale-up at most doubles the replicas (or adds up to 4),
	// and scale-down follows the highest recommendation of the last 300 seconds.
	// +optional
	Behavior *MemHpaBehavior `json:"behavior,omitempty"`
}

// ScalingMode says whether a MemHpa writes its target's scale.
type ScalingMode string

const (
	// ScalingModeScale writes the target's scale (the default).
	ScalingModeScale ScalingMode = "Scale"
	// ScalingModeDryRun decides and reports, but never writes the target's
	// scale.
	ScalingModeDryRun ScalingMode = "DryRun"
)

// MemHpaBehavior is the autoscaling/v2 HorizontalPodAutoscalerBehavior with
// the same JSON, so a manifest's behavior can be copied between an HPA and a
// MemHpa. MemHpa carries its own copy so that the CRD's schema can bound each
// field where it is: the apiserver then names the field of a bad policy by its
// index (spec.behavior.scaleDown.policies[1].periodSeconds), as the HPA's
// validation does, where rules on the list could only name the list.
type MemHpaBehavior struct {
	// scaleUp is how fast replicas may be added. When unset, within any 15
	// seconds the replicas may at most double or grow by 4, whichever is more,
	// and no stabilization window applies.
	// +optional
	ScaleUp *MemHpaScalingRules `json:"scaleUp,omitempty"`

	// scaleDown is how fast replicas may be removed. When unset, they may all
	// go down to minReplicas within 15 seconds, but no lower than the highest
	// recommendation of the last 300 seconds (the scaler's
	// --downscale-stabilization).
	// +optional
	ScaleDown *MemHpaScalingRules `json:"scaleDown,omitempty"`
}

// MemHpaScalingRules limits the changes of the replicas in one direction, as
// the autoscaling/v2 HPAScalingRules do.
type MemHpaScalingRules struct {
	// stabilizationWindowSeconds is how many seconds of past recommendations
	// are considered: a scale-up goes no higher than the lowest of them, a
	// scale-down no lower than the highest, which smooths out flapping.
	// Between 0 and 3600. When unset, 0 for scale-up and 300 for scale-down
	// (the scaler's --downscale-stabilization).
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3600
	// +optional
	StabilizationWindowSeconds *int32 `json:"stabilizationWindowSeconds,omitempty"`

	// selectPolicy chooses among the policies: Max allows the largest change
	// any policy allows, Min the smallest, and Disabled forbids changes in
	// this direction. Defaults to Max.
	// +kubebuilder:validation:Enum=Max;Min;Disabled
	// +optional
	SelectPolicy *autoscalingv2.ScalingPolicySelect `json:"selectPolicy,omitempty"`

	// policies are the changes allowed over a period, each as a number of pods
	// or a percentage of the current replicas; selectPolicy chooses among them.
	// When unset, the defaults described on scaleUp and scaleDown apply; when
	// set, at least one policy is required.
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +optional
	Policies []MemHpaScalingPolicy `json:"policies,omitempty"`

	// tolerance is how far, as a fraction, the ratio of the measured to the
	// target utilization may differ from 1 before replicas change in this
	// direction: 0.05 ignores a change of up to 5%. A quantity greater than
	// or equal to 0. When unset, the scaler's --tolerance applies (0.1 by
	// default).
	// +kubebuilder:validation:XValidation:rule="!isQuantity(string(self)) || !quantity(string(self)).isLessThan(quantity('0'))",message="must be greater than or equal to 0"
	// +optional
	Tolerance *resource.Quantity `json:"tolerance,omitempty"`
}

// MemHpaScalingPolicy allows a change of the replicas within a period, as the
// autoscaling/v2 HPAScalingPolicy does.
type MemHpaScalingPolicy struct {
	// type is how value counts: Pods (a number of replicas) or Percent (a
	// percentage of the replicas at the start of the period).
	// +kubebuilder:validation:Enum=Pods;Percent
	// +required
	Type autoscalingv2.HPAScalingPolicyType `json:"type"`

	// value is the largest change that the policy allows within periodSeconds,
	// in the unit of type. Greater than 0.
	// +kubebuilder:validation:Minimum=1
	// +required
	Value int32 `json:"value"`

	// periodSeconds is the length of the sliding window, in seconds, over
	// which the changes are summed. Between 1 and 1800.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1800
	// +required
	PeriodSeconds int32 `json:"periodSeconds"`
}

// CrossVersionObjectReference identifies the referred workload, as in
// autoscaling/v1.
type CrossVersionObjectReference struct {
	// kind of the referent, for example Deployment.
	// +kubebuilder:validation:MinLength=1
	// +required
	Kind string `json:"kind"`

	// name of the referent, in the MemHpa's namespace.
	// +kubebuilder:validation:MinLength=1
	// +required
	Name string `json:"name"`

	// apiVersion of the referent, for example apps/v1. Defaults to apps/v1 for
	// Deployment, StatefulSet and ReplicaSet.
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`
}

// MemHpaStatus is the most recently observed state of a MemHpa.
type MemHpaStatus struct {
	// observedGeneration is the metadata.generation of the MemHpa that the
	// scaler last acted on.
	// +optional
	ObservedGeneration *int64 `json:"observedGeneration,omitempty"`

	// lastScaleTime is the last time the scaler changed the number of replicas.
	// +optional
	LastScaleTime *metav1.Time `json:"lastScaleTime,omitempty"`

	// currentReplicas is the number of replicas of the target last seen by the scaler.
	// +optional
	CurrentReplicas int32 `json:"currentReplicas"`

	// desiredReplicas is the number of replicas the scaler last asked for.
	// +optional
	DesiredReplicas int32 `json:"desiredReplicas"`

	// currentUtilizationPercentage is the average memory use of the pods, as a
	// percentage of their memory limits, when it was last measured.
	// +optional
	CurrentUtilizationPercentage *int32 `json:"currentUtilizationPercentage,omitempty"`

	// currentCPUUtilizationPercentage is the average CPU use of the pods, as a
	// percentage of their CPU requests, when it was last measured; only with
	// spec.cpuTargetUtilizationPercentage.
	// +optional
	CurrentCPUUtilizationPercentage *int32 `json:"currentCPUUtilizationPercentage,omitempty"`

	// reference is the scaled workload as kind/name, for display by kubectl.
	// +optional
	Reference string `json:"reference,omitempty"`

	// targets is current/target utilization (for example 45%/80%, or
	// <unknown>/80% when nothing could be measured), for display by kubectl;
	// with a CPU target both, as kubectl get hpa prints two resource metrics
	// (memory: 45%/80%, cpu: 90%/60%).
	// +optional
	Targets string `json:"targets,omitempty"`

	// conditions are AbleToScale, ScalingActive and ScalingLimited, with the
	// reasons of the Kubernetes HorizontalPodAutoscaler.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// lastDecision explains the scaler's last decision: which pods it
	// counted, what memory alone asked for, and what held the result from
	// that (for example why it did not scale down). It changes only when the
	// decision does, and stays as it was when no pod could be examined
	// (Prometheus failed, no pods selected, or the target at zero replicas or
	// outside [minReplicas, maxReplicas]).
	// +optional
	LastDecision *MemHpaDecision `json:"lastDecision,omitempty"`
}

// MemHpaDecision is what one decision of the scaler saw and why it chose its
// replica count.
type MemHpaDecision struct {
	// rawReplicas is the replica count memory alone asked for: the measured
	// pods' utilization over the target, times their number, rounded up,
	// before missing pods, the tolerance, stabilization, the guard and the
	// limits. Unset when no count could be computed.
	// +kubebuilder:validation:Minimum=0
	// +optional
	RawReplicas *int32 `json:"rawReplicas,omitempty"`

	// limitedBy names the last step that changed the replica count on its
	// way from rawReplicas to the desired count: None (memory's count was
	// kept), MissingPods (pods without a sample were assumed at 100 % of
	// their limit on a scale-down, and with pending pods at 0 % on a
	// scale-up), Tolerance (the change was within the tolerance), Stabilization (a recommendation of the
	// stabilization window held it), HotContainerGuard
	// (maxContainerUtilizationPercentage added a replica, or kept the count),
	// RecentOOMKill (a recent OOM kill forbade a scale-down), ScaleUpLimit
	// (the max(2x, 4) cap without behavior), Policy (a behavior policy),
	// MinReplicas or MaxReplicas. Unset when no count could be computed.
	// +optional
	LimitedBy LimitedBy `json:"limitedBy,omitempty"`

	// podsCounted is the number of pods whose memory was measured and
	// entered the utilization.
	// +kubebuilder:validation:Minimum=0
	// +optional
	PodsCounted int32 `json:"podsCounted"`

	// podsMissing is the number of running pods without a usable sample
	// (or without the container named by spec.container).
	// +kubebuilder:validation:Minimum=0
	// +optional
	PodsMissing int32 `json:"podsMissing"`

	// podsIgnored counts, by reason, the selected pods that were left out.
	// +optional
	PodsIgnored IgnoredPods `json:"podsIgnored"`

	// hottest is the counted container with the highest working set as a
	// percentage of its own memory limit, which
	// maxContainerUtilizationPercentage is compared with. Unset when no
	// container could be judged.
	// +optional
	Hottest *HottestContainer `json:"hottest,omitempty"`

	// oomKilledRecently is the number of counted containers that were
	// OOM-killed recently.
	// +kubebuilder:validation:Minimum=0
	// +optional
	OOMKilledRecently int32 `json:"oomKilledRecently"`
}

// IgnoredPods counts the selected pods that a decision left out, by reason.
type IgnoredPods struct {
	// pending pods have not started: left out, or counted at 0 % on a
	// scale-up.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Pending int32 `json:"pending"`

	// deleting pods have a deletion timestamp.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Deleting int32 `json:"deleting"`

	// finished pods are in phase Failed or Succeeded: they hold no memory.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Finished int32 `json:"finished"`

	// noMemoryLimit pods have a counted container with neither a memory
	// limit nor a memory request; while there is one, the MemHpa does not
	// scale (ScalingActive False, MissingMemoryLimit).
	// +kubebuilder:validation:Minimum=0
	// +optional
	NoMemoryLimit int32 `json:"noMemoryLimit"`
}

// HottestContainer names a container of a pod and its memory utilization.
type HottestContainer struct {
	// pod is the name of the pod.
	// +optional
	Pod string `json:"pod,omitempty"`

	// container is the name of the container in the pod.
	// +optional
	Container string `json:"container,omitempty"`

	// utilizationPercentage is the container's working set as a percentage
	// of its own memory limit (the smaller of spec and status, bounded by a
	// pod-level limit), rounded down.
	// +kubebuilder:validation:Minimum=0
	// +optional
	UtilizationPercentage int32 `json:"utilizationPercentage"`
}

// LimitedBy names the step of a decision that last changed its replica
// count.
// +kubebuilder:validation:Enum=None;MissingPods;Tolerance;Stabilization;HotContainerGuard;RecentOOMKill;ScaleUpLimit;Policy;MinReplicas;MaxReplicas
type LimitedBy string

// The values of MemHpaDecision.LimitedBy.
const (
	LimitedByNone              LimitedBy = "None"
	LimitedByMissingPods       LimitedBy = "MissingPods"
	LimitedByTolerance         LimitedBy = "Tolerance"
	LimitedByStabilization     LimitedBy = "Stabilization"
	LimitedByHotContainerGuard LimitedBy = "HotContainerGuard"
	LimitedByRecentOOMKill     LimitedBy = "RecentOOMKill"
	LimitedByScaleUpLimit      LimitedBy = "ScaleUpLimit"
	LimitedByPolicy            LimitedBy = "Policy"
	LimitedByMinReplicas       LimitedBy = "MinReplicas"
	LimitedByMaxReplicas       LimitedBy = "MaxReplicas"
)

// MemHpaList is a list of MemHpa objects.
//
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
// +kubebuilder:object:root=true
type MemHpaList struct {
	metav1.TypeMeta `json:",inline"`
	// Standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`

	// items is the list of MemHpa objects.
	Items []MemHpa `json:"items"`
}
