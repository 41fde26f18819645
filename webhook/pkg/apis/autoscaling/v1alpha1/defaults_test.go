package v1alpha1_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

func TestSetDefaults(t *testing.T) {
	scale := memhpagen.WithMode(v1alpha1.ScalingModeScale)
	tests := []struct {
		name string
		in   *v1alpha1.MemHpa
		want *v1alpha1.MemHpa
	}{
		{name: "min and target unset", in: memhpagen.MemHpa("web"),
			want: memhpagen.MemHpa("web", scale, memhpagen.WithMin(1), memhpagen.WithTarget(80))},
		{name: "all set stays", in: memhpagen.MemHpa("web", memhpagen.WithMin(3), memhpagen.WithTarget(50)),
			want: memhpagen.MemHpa("web", scale, memhpagen.WithMin(3), memhpagen.WithTarget(50))},
		{name: "invalid values are left for validation", in: memhpagen.MemHpa("web", memhpagen.WithMin(0), memhpagen.WithTarget(0)),
			want: memhpagen.MemHpa("web", scale, memhpagen.WithMin(0), memhpagen.WithTarget(0))},
		{name: "Deployment gets apps/v1", in: memhpagen.MemHpa("web", memhpagen.WithRef("", "Deployment", "web"), memhpagen.WithMin(2), memhpagen.WithTarget(70)),
			want: memhpagen.MemHpa("web", scale, memhpagen.WithRef("apps/v1", "Deployment", "web"), memhpagen.WithMin(2), memhpagen.WithTarget(70))},
		{name: "StatefulSet gets apps/v1", in: memhpagen.MemHpa("web", memhpagen.WithRef("", "StatefulSet", "db")),
			want: memhpagen.MemHpa("web", scale, memhpagen.WithRef("apps/v1", "StatefulSet", "db"), memhpagen.WithMin(1), memhpagen.WithTarget(80))},
		{name: "ReplicaSet gets apps/v1", in: memhpagen.MemHpa("web", memhpagen.WithRef("", "ReplicaSet", "rs")),
			want: memhpagen.MemHpa("web", scale, memhpagen.WithRef("apps/v1", "ReplicaSet", "rs"), memhpagen.WithMin(1), memhpagen.WithTarget(80))},
		{name: "custom kind gets no apiVersion", in: memhpagen.MemHpa("web", memhpagen.WithRef("", "Rollout", "web")),
			want: memhpagen.MemHpa("web", scale, memhpagen.WithRef("", "Rollout", "web"), memhpagen.WithMin(1), memhpagen.WithTarget(80))},
		{name: "kind is case-sensitive", in: memhpagen.MemHpa("web", memhpagen.WithRef("", "deployment", "web")),
			want: memhpagen.MemHpa("web", scale, memhpagen.WithRef("", "deployment", "web"), memhpagen.WithMin(1), memhpagen.WithTarget(80))},
		{name: "apiVersion written stays", in: memhpagen.MemHpa("web", memhpagen.WithRef("extensions/v1beta1", "Deployment", "web")),
			want: memhpagen.MemHpa("web", scale, memhpagen.WithRef("extensions/v1beta1", "Deployment", "web"), memhpagen.WithMin(1), memhpagen.WithTarget(80))},
		{name: "mode DryRun stays", in: memhpagen.MemHpa("web", memhpagen.DryRun()),
			want: memhpagen.MemHpa("web", memhpagen.DryRun(), memhpagen.WithMin(1), memhpagen.WithTarget(80))},
		{name: "behavior is left alone", in: memhpagen.MemHpa("web", memhpagen.WithBehavior(memhpagen.Rules(memhpagen.Window(10)), nil)),
			want: memhpagen.MemHpa("web", scale, memhpagen.WithBehavior(memhpagen.Rules(memhpagen.Window(10)), nil), memhpagen.WithMin(1), memhpagen.WithTarget(80))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in.DeepCopy()
			v1alpha1.SetDefaults(got)
			if !equality.Semantic.DeepEqual(got, tt.want) {
				t.Errorf("SetDefaults:\n got %+v\nwant %+v", got.Spec, tt.want.Spec)
			}
			again := got.DeepCopy()
			v1alpha1.SetDefaults(again)
			if !equality.Semantic.DeepEqual(again, got) {
				t.Errorf("SetDefaults is not idempotent:\n first %+v\nsecond %+v", got.Spec, again.Spec)
			}
		})
	}
}

func TestEffectiveValues(t *testing.T) {
	unset := memhpagen.MemHpa("web")
	set := memhpagen.MemHpa("web", memhpagen.WithMin(4), memhpagen.WithTarget(60))
	if got := v1alpha1.EffectiveMinReplicas(&unset.Spec); got != 1 {
		t.Errorf("EffectiveMinReplicas(unset) = %d, want 1", got)
	}
	if got := v1alpha1.EffectiveMinReplicas(&set.Spec); got != 4 {
		t.Errorf("EffectiveMinReplicas(4) = %d, want 4", got)
	}
	if got := v1alpha1.EffectiveTargetUtilizationPercentage(&unset.Spec); got != 80 {
		t.Errorf("EffectiveTargetUtilizationPercentage(unset) = %d, want 80", got)
	}
	if got := v1alpha1.EffectiveTargetUtilizationPercentage(&set.Spec); got != 60 {
		t.Errorf("EffectiveTargetUtilizationPercentage(60) = %d, want 60", got)
	}
	if got := v1alpha1.TargetAPIVersion(v1alpha1.CrossVersionObjectReference{Kind: "StatefulSet"}); got != "apps/v1" {
		t.Errorf("TargetAPIVersion(StatefulSet) = %q, want apps/v1", got)
	}
}

func TestTargetGroupKind(t *testing.T) {
	tests := []struct {
		name string
		ref  v1alpha1.CrossVersionObjectReference
		want schema.GroupKind
	}{
		{name: "apps/v1", ref: v1alpha1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment"},
			want: schema.GroupKind{Group: "apps", Kind: "Deployment"}},
		{name: "other version of the same group", ref: v1alpha1.CrossVersionObjectReference{APIVersion: "apps/v1beta2", Kind: "Deployment"},
			want: schema.GroupKind{Group: "apps", Kind: "Deployment"}},
		{name: "empty for an apps kind takes the default", ref: v1alpha1.CrossVersionObjectReference{Kind: "StatefulSet"},
			want: schema.GroupKind{Group: "apps", Kind: "StatefulSet"}},
		{name: "empty for another kind is the core group", ref: v1alpha1.CrossVersionObjectReference{Kind: "Rollout"},
			want: schema.GroupKind{Kind: "Rollout"}},
		{name: "core group", ref: v1alpha1.CrossVersionObjectReference{APIVersion: "v1", Kind: "ReplicationController"},
			want: schema.GroupKind{Kind: "ReplicationController"}},
		{name: "custom group", ref: v1alpha1.CrossVersionObjectReference{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout"},
			want: schema.GroupKind{Group: "argoproj.io", Kind: "Rollout"}},
		{name: "unparseable stands for itself", ref: v1alpha1.CrossVersionObjectReference{APIVersion: "a/b/c", Kind: "Deployment"},
			want: schema.GroupKind{Group: "a/b/c", Kind: "Deployment"}},
		{name: "the name plays no part", ref: v1alpha1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			want: schema.GroupKind{Group: "apps", Kind: "Deployment"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := v1alpha1.TargetGroupKind(tt.ref); got != tt.want {
				t.Errorf("TargetGroupKind(%+v) = %v, want %v", tt.ref, got, tt.want)
			}
		})
	}
}

func TestPausedDirections(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		up, down    bool
	}{
		{name: "none"},
		{name: "paused", annotations: map[string]string{v1alpha1.AnnotationPaused: "true"}, up: true, down: true},
		{name: "paused-scale-in holds scale-downs", annotations: map[string]string{v1alpha1.AnnotationPausedScaleIn: "true"}, down: true},
		{name: "paused-scale-out holds scale-ups", annotations: map[string]string{v1alpha1.AnnotationPausedScaleOut: "true"}, up: true},
		{name: "both directions", annotations: map[string]string{v1alpha1.AnnotationPausedScaleIn: "true", v1alpha1.AnnotationPausedScaleOut: "true"}, up: true, down: true},
		{name: "false pauses nothing", annotations: map[string]string{v1alpha1.AnnotationPaused: "false"}},
		{name: "only true pauses", annotations: map[string]string{v1alpha1.AnnotationPaused: "True", v1alpha1.AnnotationPausedScaleIn: "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, down := v1alpha1.PausedDirections(tt.annotations)
			if up != tt.up || down != tt.down {
				t.Errorf("PausedDirections = up %t, down %t; want up %t, down %t", up, down, tt.up, tt.down)
			}
		})
	}
}
