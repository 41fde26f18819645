package v1alpha1_test

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
)

// MemHpa's behavior types are autoscaling/v2's with the same JSON, so that a
// behavior can be copied between a HorizontalPodAutoscaler and a MemHpa.
// Field by field: the same Go name, json tag and type, where our own types
// stand for their autoscaling/v2 twins.
func TestBehaviorTypesHaveTheHPAShape(t *testing.T) {
	twins := map[reflect.Type]reflect.Type{
		reflect.TypeFor[v1alpha1.MemHpaBehavior]():      reflect.TypeFor[autoscalingv2.HorizontalPodAutoscalerBehavior](),
		reflect.TypeFor[v1alpha1.MemHpaScalingRules]():  reflect.TypeFor[autoscalingv2.HPAScalingRules](),
		reflect.TypeFor[v1alpha1.MemHpaScalingPolicy](): reflect.TypeFor[autoscalingv2.HPAScalingPolicy](),
	}
	for ours, theirs := range twins {
		t.Run(ours.Name(), func(t *testing.T) {
			if ours.NumField() != theirs.NumField() {
				t.Fatalf("%d fields, %s has %d", ours.NumField(), theirs.Name(), theirs.NumField())
			}
			for i := range ours.NumField() {
				o, h := ours.Field(i), theirs.Field(i)
				if o.Name != h.Name || o.Tag.Get("json") != h.Tag.Get("json") {
					t.Errorf("field %d is %s `json:%q`, %s has %s `json:%q`", i, o.Name, o.Tag.Get("json"), theirs.Name(), h.Name, h.Tag.Get("json"))
				}
				if !sameShape(o.Type, h.Type, twins) {
					t.Errorf("field %s is a %s, %s has a %s", o.Name, o.Type, theirs.Name(), h.Type)
				}
			}
		})
	}
}

// sameShape tells whether ours is theirs, or the same pointers and slices of
// a twin of theirs.
func sameShape(ours, theirs reflect.Type, twins map[reflect.Type]reflect.Type) bool {
	for (ours.Kind() == reflect.Pointer || ours.Kind() == reflect.Slice) && ours.Kind() == theirs.Kind() {
		ours, theirs = ours.Elem(), theirs.Elem()
	}
	if twin, ok := twins[ours]; ok {
		return twin == theirs
	}
	return ours == theirs
}

// A behavior with every field set reads into a MemHpa's and writes back the
// same JSON.
func TestBehaviorRoundTripsHPAJSON(t *testing.T) {
	rules := &autoscalingv2.HPAScalingRules{
		StabilizationWindowSeconds: ptr.To[int32](60),
		SelectPolicy:               ptr.To(autoscalingv2.MinChangePolicySelect),
		Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PodsScalingPolicy, Value: 2, PeriodSeconds: 30},
			{Type: autoscalingv2.PercentScalingPolicy, Value: 50, PeriodSeconds: 60},
		},
		Tolerance: ptr.To(resource.MustParse("50m")),
	}
	hpa, err := json.Marshal(autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: rules, ScaleDown: rules})
	if err != nil {
		t.Fatal(err)
	}
	var ours v1alpha1.MemHpaBehavior
	if err := json.Unmarshal(hpa, &ours); err != nil {
		t.Fatal(err)
	}
	back, err := json.Marshal(ours)
	if err != nil {
		t.Fatal(err)
	}
	if string(back) != string(hpa) {
		t.Errorf("round trip through MemHpaBehavior:\n got %s\nwant %s", back, hpa)
	}
}

// The CRD's rule that keeps maxContainerUtilizationPercentage at or above the
// target must read an unset target as its default, since a schema rule
// cannot call EffectiveTargetUtilizationPercentage (it holds while the
// webhook, which would set the default, is down).
func TestGuardRuleReadsTheDefaultTarget(t *testing.T) {
	src, err := os.ReadFile("types.go")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("self.targetUtilizationPercentage : %d)", v1alpha1.DefaultTargetUtilizationPercentage)
	for line := range strings.SplitSeq(string(src), "\n") {
		if strings.Contains(line, "XValidation") && strings.Contains(line, "self.maxContainerUtilizationPercentage >=") {
			if !strings.Contains(line, want) {
				t.Errorf("the guard's CEL rule does not default the target to %d (%q):\n%s", v1alpha1.DefaultTargetUtilizationPercentage, want, line)
			}
			return
		}
	}
	t.Error("types.go has no CEL rule comparing maxContainerUtilizationPercentage with the target")
}
