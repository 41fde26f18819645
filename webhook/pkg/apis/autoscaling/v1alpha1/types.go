package v1alpha1

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
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
// +kubebuilder:printcolumn:name="Targets",type=string,JSONPath=`.status.targets`,description="Current memory utilization of limits / target, in percent"
// +kubebuilder:printcolumn:name="MinPods",type=integer,JSONPath=`.spec.minReplicas`
// +kubebuilder:printcolumn:name="MaxPods",type=integer,JSONPath=`.spec.maxReplicas`
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.status.currentReplicas`
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

	// behavior configures scaling up and down separately, with exactly the
	// meaning of the autoscaling/v2 HorizontalPodAutoscaler's behavior field.
	// When unset, one scale-up at most doubles the replicas (or adds up to 4),
	// and scale-down follows the highest recommendation of the last 300 seconds.
	// +kubebuilder:validation:XValidation:rule="!has(self.scaleUp) || !has(self.scaleUp.stabilizationWindowSeconds) || (self.scaleUp.stabilizationWindowSeconds >= 0 && self.scaleUp.stabilizationWindowSeconds <= 3600)",message="must be between 0 and 3600",fieldPath=".scaleUp.stabilizationWindowSeconds"
	// +kubebuilder:validation:XValidation:rule="!has(self.scaleUp) || !has(self.scaleUp.selectPolicy) || self.scaleUp.selectPolicy in ['Max', 'Min', 'Disabled']",message="must be one of Max, Min or Disabled",fieldPath=".scaleUp.selectPolicy"
	// +kubebuilder:validation:XValidation:rule="!has(self.scaleUp) || !has(self.scaleUp.policies) || size(self.scaleUp.policies) > 0",message="must have at least one policy",fieldPath=".scaleUp.policies"
	// +kubebuilder:validation:XValidation:rule="!has(self.scaleUp) || !has(self.scaleUp.policies) || self.scaleUp.policies.all(p, p.type in ['Pods', 'Percent'])",message="must each have type Pods or Percent",fieldPath=".scaleUp.policies"
	// +kubebuilder:validation:XValidation:rule="!has(self.scaleUp) || !has(self.scaleUp.policies) || self.scaleUp.policies.all(p, p.value > 0)",message="must each have a value greater than 0",fieldPath=".scaleUp.policies"
	// +kubebuilder:validation:XValidation:rule="!has(self.scaleUp) || !has(self.scaleUp.policies) || self.scaleUp.policies.all(p, p.periodSeconds >= 1 && p.periodSeconds <= 1800)",message="must each have periodSeconds between 1 and 1800",fieldPath=".scaleUp.policies"
	// +kubebuilder:validation:XValidation:rule="!has(self.scaleUp) || !has(self.scaleUp.tolerance) || !isQuantity(string(self.scaleUp.tolerance)) || !quantity(string(self.scaleUp.tolerance)).isLessThan(quantity('0'))",message="must be greater than or equal to 0",fieldPath=".scaleUp.tolerance"
	// +kubebuilder:validation:XValidation:rule="!has(self.scaleDown) || !has(self.scaleDown.stabilizationWindowSeconds) || (self.scaleDown.stabilizationWindowSeconds >= 0 && self.scaleDown.stabilizationWindowSeconds <= 3600)",message="must be between 0 and 3600",fieldPath=".scaleDown.stabilizationWindowSeconds"
	// +kubebuilder:validation:XValidation:rule="!has(self.scaleDown) || !has(self.scaleDown.selectPolicy) || self.scaleDown.selectPolicy in ['Max', 'Min', 'Disabled']",message="must be one of Max, Min or Disabled",fieldPath=".scaleDown.selectPolicy"
	// +kubebuilder:validation:XValidation:rule="!has(self.scaleDown) || !has(self.scaleDown.policies) || size(self.scaleDown.policies) > 0",message="must have at least one policy",fieldPath=".scaleDown.policies"
	// +kubebuilder:validation:XValidation:rule="!has(self.scaleDown) || !has(self.scaleDown.policies) || self.scaleDown.policies.all(p, p.type in ['Pods', 'Percent'])",message="must each have type Pods or Percent",fieldPath=".scaleDown.policies"
	// +kubebuilder:validation:XValidation:rule="!has(self.scaleDown) || !has(self.scaleDown.policies) || self.scaleDown.policies.all(p, p.value > 0)",message="must each have a value greater than 0",fieldPath=".scaleDown.policies"
	// +kubebuilder:validation:XValidation:rule="!has(self.scaleDown) || !has(self.scaleDown.policies) || self.scaleDown.policies.all(p, p.periodSeconds >= 1 && p.periodSeconds <= 1800)",message="must each have periodSeconds between 1 and 1800",fieldPath=".scaleDown.policies"
	// +kubebuilder:validation:XValidation:rule="!has(self.scaleDown) || !has(self.scaleDown.tolerance) || !isQuantity(string(self.scaleDown.tolerance)) || !quantity(string(self.scaleDown.tolerance)).isLessThan(quantity('0'))",message="must be greater than or equal to 0",fieldPath=".scaleDown.tolerance"
	// +optional
	Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"` // The CEL rules repeat the webhook's checks, for when it is down.
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

	// reference is the scaled workload as kind/name, for display by kubectl.
	// +optional
	Reference string `json:"reference,omitempty"`

	// targets is current/target utilization (for example 45%/80%, or
	// <unknown>/80% when nothing could be measured), for display by kubectl.
	// +optional
	Targets string `json:"targets,omitempty"`

	// conditions are AbleToScale, ScalingActive and ScalingLimited, with the
	// reasons of the Kubernetes HorizontalPodAutoscaler.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

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
