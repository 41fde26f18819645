// Package v1alpha1 is the v1alpha1 version of the autoscaling.memhpa.io API:
// the MemHpa resource, its defaults and its generated deep-copy functions.
//
// +k8s:deepcopy-gen=package
// +groupName=autoscaling.memhpa.io
// +kubebuilder:object:generate=false
package v1alpha1
