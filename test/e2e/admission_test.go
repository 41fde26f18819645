package e2e

import (
	"reflect"
	"regexp"
	"strings"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/utils/ptr"

	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
)

// A bad MemHpa is refused by `kubectl apply` with kubectl's own "is invalid"
// message and one line per bad field. Each case is refused by one layer
// (the CRD schema runs before validating webhooks, so a manifest with both
// kinds of error shows only the schema's).
func TestInvalidMemHpaRefused(t *testing.T) {
	requireWebhook(t)
	ns := newNamespace(t, "e2e-invalid")
	tests := []struct {
		name  string
		spec  string
		paths []string // regular expressions; each must match a line of kubectl's output
	}{
		{
			name: "three bad fields, three causes",
			spec: `
scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
minReplicas: 0
maxReplicas: 0
targetUtilizationPercentage: 0`,
			paths: []string{`spec\.minReplicas: Invalid value`, `spec\.maxReplicas: Invalid value`, `spec\.targetUtilizationPercentage: Invalid value`},
		},
		{
			name: "target above 100",
			spec: `
scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
maxReplicas: 3
targetUtilizationPercentage: 101`,
			paths: []string{`spec\.targetUtilizationPercentage: Invalid value: 101`},
		},
		{
			name: "min greater than max",
			spec: `
scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
minReplicas: 4
maxReplicas: 2`,
			paths: []string{`spec(\.maxReplicas)?: Invalid value: .*maxReplicas must be greater than or equal to minReplicas`},
		},
		{
			name: "reference without kind and name",
			spec: `
scaleTargetRef: {apiVersion: apps/v1}
maxReplicas: 3`,
			paths: []string{`spec\.scaleTargetRef\.kind: Required value`, `spec\.scaleTargetRef\.name: Required value`},
		},
		{
			name: "reference with invalid names and group/version",
			spec: `
scaleTargetRef: {apiVersion: apps/v1/extra, kind: Deploy/ment, name: web/x}
maxReplicas: 3`,
			paths: []string{`spec\.scaleTargetRef\.apiVersion: Invalid value`, `spec\.scaleTargetRef\.kind: Invalid value`, `spec\.scaleTargetRef\.name: Invalid value`},
		},
		{
			name: "behavior out of the HPA's bounds",
			spec: `
scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
maxReplicas: 3
behavior:
  scaleUp:
    stabilizationWindowSeconds: 3601
    selectPolicy: Sometimes
    policies:
    - {type: Bogus, value: 0, periodSeconds: 0}`,
			// The CRD's schema refuses these before the webhook is called, and
			// names each policy's own field, as the HPA's validation does.
			paths: []string{
				`spec\.behavior\.scaleUp\.stabilizationWindowSeconds: Invalid value: 3601: `,
				`spec\.behavior\.scaleUp\.selectPolicy: Unsupported value: "Sometimes": `,
				`spec\.behavior\.scaleUp\.policies\[0\]\.type: Unsupported value: "Bogus": `,
				`spec\.behavior\.scaleUp\.policies\[0\]\.value: Invalid value: 0: `,
				`spec\.behavior\.scaleUp\.policies\[0\]\.periodSeconds: Invalid value: 0: `,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := applyRefused(t, memHpaYAML(ns, "bad", tt.spec))
			t.Logf("kubectl apply said:\n%s", out)
			if !strings.Contains(out, `The MemHpa "bad" is invalid`) {
				t.Errorf("output does not name the MemHpa as invalid:\n%s", out)
			}
			for _, p := range tt.paths {
				if !regexp.MustCompile(p).MatchString(out) {
					t.Errorf("output has no line matching %q:\n%s", p, out)
				}
			}
		})
	}
	if out := mustKubectl(t, "get", "mhpa", "-n", ns, "-o", "name"); strings.TrimSpace(out) != "" {
		t.Errorf("refused MemHpas exist: %s", out)
	}
}

// A good MemHpa is admitted and read back with the webhook's defaults, and
// what the user set is kept.
func TestValidMemHpaDefaulted(t *testing.T) {
	requireWebhook(t)
	ns := newNamespace(t, "e2e-valid")
	tests := []struct {
		name string
		spec string
		want v1alpha1.MemHpaSpec
	}{
		{
			name: "minimal",
			spec: `
scaleTargetRef: {kind: Deployment, name: web}
maxReplicas: 5`,
			want: v1alpha1.MemHpaSpec{
				ScaleTargetRef:              v1alpha1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
				MinReplicas:                 ptr.To[int32](1),
				MaxReplicas:                 5,
				TargetUtilizationPercentage: ptr.To[int32](80),
				Mode:                        v1alpha1.ScalingModeScale,
			},
		},
		{
			name: "all set",
			spec: `
scaleTargetRef: {apiVersion: apps/v1, kind: StatefulSet, name: db}
minReplicas: 2
maxReplicas: 10
targetUtilizationPercentage: 60`,
			want: v1alpha1.MemHpaSpec{
				ScaleTargetRef:              v1alpha1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db"},
				MinReplicas:                 ptr.To[int32](2),
				MaxReplicas:                 10,
				TargetUtilizationPercentage: ptr.To[int32](60),
				Mode:                        v1alpha1.ScalingModeScale,
			},
		},
		{
			name: "custom resource with behavior",
			spec: `
scaleTargetRef: {apiVersion: example.com/v1, kind: Widget, name: w}
maxReplicas: 4
behavior:
  scaleDown:
    stabilizationWindowSeconds: 60
    policies:
    - {type: Percent, value: 50, periodSeconds: 60}`,
			want: v1alpha1.MemHpaSpec{
				ScaleTargetRef:              v1alpha1.CrossVersionObjectReference{APIVersion: "example.com/v1", Kind: "Widget", Name: "w"},
				MinReplicas:                 ptr.To[int32](1),
				MaxReplicas:                 4,
				TargetUtilizationPercentage: ptr.To[int32](80),
				Mode:                        v1alpha1.ScalingModeScale,
				Behavior: &v1alpha1.MemHpaBehavior{
					ScaleDown: &v1alpha1.MemHpaScalingRules{
						StabilizationWindowSeconds: ptr.To[int32](60),
						Policies: []v1alpha1.MemHpaScalingPolicy{
							{Type: autoscalingv2.PercentScalingPolicy, Value: 50, PeriodSeconds: 60},
						},
					},
				},
			},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := []string{"a", "b", "c", "d"}[i]
			mustApply(t, memHpaYAML(ns, name, tt.spec))
			got := getMemHpa(t, ns, name).Spec
			// The webhook may default behavior's own fields as the HPA does;
			// compare it only when the case sets one.
			if tt.want.Behavior == nil {
				got.Behavior = nil
			} else if got.Behavior != nil && got.Behavior.ScaleDown != nil {
				got.Behavior.ScaleDown.SelectPolicy = nil
				got.Behavior.ScaleUp = nil
				got.Behavior.ScaleDown.Tolerance = nil
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("read back spec:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// One workload, one autoscaler: a second MemHpa on the same target and a
// MemHpa on a workload an HPA already scales are refused; a MemHpa whose target
// does not exist yet is admitted with a warning that kubectl prints.
func TestCrossObjectChecks(t *testing.T) {
	requireWebhook(t)
	ns := newNamespace(t, "e2e-cross")
	mustApply(t, deploymentYAML(ns, "web", 1, "256Mi", "10Mi"))
	mustApply(t, deploymentYAML(ns, "api", 1, "256Mi", "10Mi"))

	t.Run("second MemHpa on the same workload", func(t *testing.T) {
		mustApply(t, memHpaYAML(ns, "first", `
scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
maxReplicas: 3`))
		out := applyRefused(t, memHpaYAML(ns, "second", `
scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
maxReplicas: 4`))
		t.Logf("kubectl apply said:\n%s", out)
		if !strings.Contains(out, `"second"`) || !strings.Contains(out, "spec.scaleTargetRef") {
			t.Errorf("refusal does not name the MemHpa and spec.scaleTargetRef:\n%s", out)
		}
		// Updating the first one is not a conflict with itself.
		mustApply(t, memHpaYAML(ns, "first", `
scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
maxReplicas: 5`))
	})

	t.Run("workload already scaled by an HPA", func(t *testing.T) {
		mustApply(t, `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: api-cpu, namespace: `+ns+`}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
`)
		out := applyRefused(t, memHpaYAML(ns, "api", `
scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
maxReplicas: 4`))
		t.Logf("kubectl apply said:\n%s", out)
		if !strings.Contains(out, `"api"`) || !strings.Contains(out, "spec.scaleTargetRef") {
			t.Errorf("refusal does not name the MemHpa and spec.scaleTargetRef:\n%s", out)
		}
	})

	t.Run("missing target admitted with a warning", func(t *testing.T) {
		out := mustApply(t, memHpaYAML(ns, "ghost", `
scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: ghost}
maxReplicas: 3`))
		t.Logf("kubectl apply said:\n%s", out)
		if !strings.Contains(out, "Warning:") || !strings.Contains(out, "ghost") {
			t.Errorf("kubectl printed no warning about the missing target:\n%s", out)
		}
		if !strings.Contains(out, "memhpa.autoscaling.memhpa.io/ghost created") {
			t.Errorf("MemHpa not created:\n%s", out)
		}
	})
}
