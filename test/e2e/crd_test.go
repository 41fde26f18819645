package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/memhpa/memhpa/test/harness"
)

// The CRD teaches the user: kubectl explain shows the field descriptions
// written on the Go types.
func TestExplainShowsDescriptions(t *testing.T) {
	tests := []struct {
		name  string
		field string
		want  []string
	}{
		{
			name:  "spec",
			field: "memhpa.spec",
			want: []string{
				"GROUP: autoscaling.memhpa.io",
				"KIND: MemHpa",
				"VERSION: v1alpha1",
				"spec is what the user asks for",
				"scaleTargetRef",
				"maxReplicas",
				"minReplicas",
				"targetUtilizationPercentage",
				"behavior",
			},
		},
		{
			name:  "target utilization",
			field: "memhpa.spec.targetUtilizationPercentage",
			want:  []string{"percentage of the sum of their containers' memory limits", "defaults to 80"},
		},
		{
			name:  "scale target reference",
			field: "memhpa.spec.scaleTargetRef",
			want:  []string{"points at the workload to scale", "apiVersion", "kind", "name"},
		},
		{
			name:  "behavior policy",
			field: "memhpa.spec.behavior.scaleDown.policies",
			want:  []string{"policies are the changes allowed over a period", "periodSeconds", "type", "value"},
		},
		{
			name:  "behavior policy period",
			field: "memhpa.spec.behavior.scaleUp.policies.periodSeconds",
			want:  []string{"length of the sliding window", "Between 1 and 1800"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := flat(mustKubectl(t, "explain", tt.field))
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("kubectl explain %s: missing %q in:\n%s", tt.field, w, out)
				}
			}
		})
	}
}

// kubectl get mhpa shows the HPA's columns, and the short name works.
func TestGetShowsHPAColumns(t *testing.T) {
	requireWebhook(t)
	ns := newNamespace(t, "e2e-columns")
	mustApply(t, memHpaYAML(ns, "web", `
scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
minReplicas: 2
maxReplicas: 7
targetUtilizationPercentage: 60`))
	out := mustKubectl(t, "get", "mhpa", "-n", ns)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("kubectl get mhpa: want a header and one row, got:\n%s", out)
	}
	wantHeader := []string{"NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "MODE", "AGE"}
	if got := strings.Fields(lines[0]); strings.Join(got, " ") != strings.Join(wantHeader, " ") {
		t.Errorf("kubectl get mhpa header = %v, want %v", got, wantHeader)
	}
	// Reference, targets and replicas come from the status, which no scaler
	// writes here; name, min, max and age come from the object.
	row := strings.Fields(lines[1])
	if row[0] != "web" || !strings.Contains(lines[1], " 2 ") || !strings.Contains(lines[1], " 7 ") || !strings.Contains(lines[1], " Scale ") {
		t.Errorf("kubectl get mhpa row = %q, want name web, MINPODS 2, MAXPODS 7, MODE Scale (the default)", lines[1])
	}
}

// With the webhook out of the loop (stopped, its configurations set to
// Ignore), the CRD's own schema and CEL rules still refuse min > max and
// out-of-range values, naming the field of a list item by its index as the
// HPA's validation does; and a good MemHpa is admitted without defaults, which
// proves the webhook really was not called.
func TestCRDRulesHoldWithoutWebhook(t *testing.T) {
	requireWebhook(t)
	ctx := testCtx(t)
	if err := env.RegisterWebhooks(ctx, "Ignore"); err != nil {
		t.Fatal(err)
	}
	if err := env.StopComponent(ctx, harness.Webhook); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		if err := env.StartComponent(ctx, harness.Webhook); err != nil {
			t.Errorf("restart the webhook: %v", err)
		}
		if err := env.RegisterWebhooks(ctx, "Fail"); err != nil {
			t.Errorf("re-register the webhook: %v", err)
		}
	})
	ns := newNamespace(t, "e2e-nowebhook")

	tests := []struct {
		name  string
		spec  string
		lines []string // regular expressions; each must match a whole cause line of kubectl's output
	}{
		{
			name: "min greater than max",
			spec: `
scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
minReplicas: 5
maxReplicas: 2`,
			lines: []string{`spec\.maxReplicas: Invalid value: maxReplicas must be greater than or equal to minReplicas`},
		},
		{
			name: "out of range",
			spec: `
scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
minReplicas: 0
maxReplicas: 3
targetUtilizationPercentage: 101`,
			lines: []string{`spec\.minReplicas: Invalid value: 0: .*`, `spec\.targetUtilizationPercentage: Invalid value: 101: .*`},
		},
		{
			name:  "period of the second scale-down policy too long",
			spec:  withPolicies("scaleDown", "{type: Pods, value: 1, periodSeconds: 60}", "{type: Percent, value: 10, periodSeconds: 1801}"),
			lines: []string{`spec\.behavior\.scaleDown\.policies\[1\]\.periodSeconds: Invalid value: 1801: spec\.behavior\.scaleDown\.policies\[1\]\.periodSeconds in body should be less than or equal to 1800`},
		},
		{
			name:  "unknown type of the second scale-down policy",
			spec:  withPolicies("scaleDown", "{type: Pods, value: 1, periodSeconds: 60}", "{type: Foo, value: 10, periodSeconds: 60}"),
			lines: []string{`spec\.behavior\.scaleDown\.policies\[1\]\.type: Unsupported value: "Foo": supported values: "Pods", "Percent"`},
		},
		{
			name:  "zero value of the first scale-up policy",
			spec:  withPolicies("scaleUp", "{type: Pods, value: 0, periodSeconds: 60}", "{type: Percent, value: 100, periodSeconds: 60}"),
			lines: []string{`spec\.behavior\.scaleUp\.policies\[0\]\.value: Invalid value: 0: spec\.behavior\.scaleUp\.policies\[0\]\.value in body should be greater than or equal to 1`},
		},
		{
			name:  "empty scale-up policies",
			spec:  withPolicies("scaleUp"),
			lines: []string{`spec\.behavior\.scaleUp\.policies: Invalid value: 0: spec\.behavior\.scaleUp\.policies in body should have at least 1 items`},
		},
		{
			name: "scale-down window and tolerance below 0",
			spec: `
scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
maxReplicas: 3
behavior:
  scaleDown:
    stabilizationWindowSeconds: -1
    tolerance: "-0.1"`,
			lines: []string{
				`spec\.behavior\.scaleDown\.stabilizationWindowSeconds: Invalid value: -1: spec\.behavior\.scaleDown\.stabilizationWindowSeconds in body should be greater than or equal to 0`,
				`spec\.behavior\.scaleDown\.tolerance: Invalid value: "-0\.1": must be greater than or equal to 0`,
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
			for _, l := range tt.lines {
				if !hasCauseLine(out, l) {
					t.Errorf("output has no cause line matching %q:\n%s", l, out)
				}
			}
		})
	}

	t.Run("good one admitted without defaults", func(t *testing.T) {
		mustApply(t, memHpaYAML(ns, "good", `
scaleTargetRef: {kind: Deployment, name: web}
maxReplicas: 3`))
		m := getMemHpa(t, ns, "good")
		if m.Spec.TargetUtilizationPercentage != nil || m.Spec.MinReplicas != nil {
			t.Errorf("spec was defaulted (min %v, target %v): the webhook was called although stopped",
				m.Spec.MinReplicas, m.Spec.TargetUtilizationPercentage)
		}
	})
}

// withPolicies is a MemHpa spec whose behavior.<rules>.policies is the given
// list of YAML flow mappings (an empty list when none is given).
func withPolicies(rules string, policies ...string) string {
	return fmt.Sprintf(`
scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
maxReplicas: 3
behavior:
  %s:
    policies: [%s]`, rules, strings.Join(policies, ", "))
}
