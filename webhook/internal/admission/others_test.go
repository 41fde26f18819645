package admission

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestTargetGroupKind(t *testing.T) {
	tests := []struct {
		name, apiVersion, kind string
		want                   schema.GroupKind
	}{
		{name: "apps/v1", apiVersion: "apps/v1", kind: "Deployment", want: schema.GroupKind{Group: "apps", Kind: "Deployment"}},
		{name: "other version of the same group", apiVersion: "apps/v1beta2", kind: "Deployment", want: schema.GroupKind{Group: "apps", Kind: "Deployment"}},
		{name: "empty for an apps kind takes the default", apiVersion: "", kind: "StatefulSet", want: schema.GroupKind{Group: "apps", Kind: "StatefulSet"}},
		{name: "empty for another kind is the core group", apiVersion: "", kind: "Rollout", want: schema.GroupKind{Kind: "Rollout"}},
		{name: "core group", apiVersion: "v1", kind: "ReplicationController", want: schema.GroupKind{Kind: "ReplicationController"}},
		{name: "custom group", apiVersion: "argoproj.io/v1alpha1", kind: "Rollout", want: schema.GroupKind{Group: "argoproj.io", Kind: "Rollout"}},
		{name: "unparseable stands for itself", apiVersion: "a/b/c", kind: "Deployment", want: schema.GroupKind{Group: "a/b/c", Kind: "Deployment"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TargetGroupKind(tt.apiVersion, tt.kind); got != tt.want {
				t.Errorf("TargetGroupKind(%q, %q) = %v, want %v", tt.apiVersion, tt.kind, got, tt.want)
			}
		})
	}
}
