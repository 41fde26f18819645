package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/memhpa/memhpa/test/harness"
)

// cpuRateWindow is the scalers' --cpu-rate-window here: four of the
// harness's 5 s scrapes.
const cpuRateWindow = 20 * time.Second

// cpuApp is a Deployment "app" of two pods at 20Mi of a 100Mi memory limit
// (20 %) and 90m of a 100m CPU request (90 %).
func cpuApp(ns string) string {
	return harness.Workload{Namespace: ns, Name: appName, Replicas: 2, Memory: "20Mi", CPU: "90m",
		Containers: []harness.WorkloadContainer{{Name: "app", MemoryLimit: "100Mi", CPURequest: "100m"}},
	}.YAML()
}

// waitPromSeesCPU waits until Prometheus has a CPU rate of at least cores for
// n pods of ns.
func waitPromSeesCPU(t *testing.T, ns string, cores float64, n int) {
	t.Helper()
	q := fmt.Sprintf(`sum by (pod) (rate(container_cpu_usage_seconds_total{namespace=%q, container!="", container!="POD"}[%s]))`, ns, cpuRateWindow)
	var last string
	err := harness.Poll(testCtx(t), 3*time.Minute, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		samples, err := env.PromQuery(ctx, q)
		if err != nil {
			return false, err
		}
		last = fmt.Sprint(samples)
		ok := 0
		for _, s := range samples {
			if s.Value >= cores {
				ok++
			}
		}
		return ok >= n, nil
	})
	if err != nil {
		t.Fatalf("Prometheus did not see %v cores for the pods of %s: last %s: %v", cores, ns, last, err)
	}
}

// TestCPUBesideMemory is issue 14 item 3: pods at 20 % of their memory limit
// and 90 % of their CPU request. With cpuTargetUtilizationPercentage: 60 the
// Deployment grows on CPU to its maximum, the status shows both
// utilizations, and kubectl get mhpa both targets; the control, the same
// MemHpa without the CPU field, holds on memory alone.
func TestCPUBesideMemory(t *testing.T) {
	withCPU, control := newNamespace(t, "e2e-cpu"), newNamespace(t, "e2e-nocpu")
	explain := flat(mustKubectl(t, "explain", "memhpa.spec.cpuTargetUtilizationPercentage"))
	for _, want := range []string{"FIELD: cpuTargetUtilizationPercentage <integer>", "percentage of their CPU requests"} {
		if !strings.Contains(explain, want) {
			t.Errorf("kubectl explain lacks %q:\n%s", want, explain)
		}
	}
	out := applyRefused(t, memHpaYAML(withCPU, appName, casesMemHpa+"\ncpuTargetUtilizationPercentage: 0"))
	if !strings.Contains(flat(out), "spec.cpuTargetUtilizationPercentage: Invalid value: 0") {
		t.Errorf("refusal of a CPU target of 0 does not name the field:\n%s", out)
	}
	for _, ns := range []string{withCPU, control} {
		mustApply(t, cpuApp(ns))
	}
	mustApply(t, memHpaYAML(withCPU, appName, casesMemHpa+"\ncpuTargetUtilizationPercentage: 60"))
	mustApply(t, memHpaYAML(control, appName, casesMemHpa))
	for _, ns := range []string{withCPU, control} {
		mustKubectl(t, "rollout", "status", "deployment/"+appName, "-n", ns, "--timeout=120s")
	}
	waitPromSees(t, withCPU, 20<<20, true, 2)
	waitPromSeesCPU(t, withCPU, 0.08, 2)
	waitPromSeesCPU(t, control, 0.08, 2)
	trWith, trControl := recordReplicas(t, withCPU), recordReplicas(t, control)
	startScaler(t, "scaler-cpu", "--cpu-rate-window="+cpuRateWindow.String())

	waitReplicasExactly(t, withCPU, 6, 3*time.Minute)
	waitRescaleEvent(t, withCPU, `^New size: \d; reason: cpu resource utilization \(percentage of request\) above target$`)
	// kwok reports 90m for every pod, old or new: CPU stays near 90 %.
	both := regexp.MustCompile(`^memory: 20%/80%, cpu: (8[5-9]|9[0-5])%/60%$`)
	var targets string
	err := harness.Poll(testCtx(t), 30*time.Second, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		targets = getMemHpa(t, withCPU, appName).Status.Targets
		return both.MatchString(targets), nil
	})
	if err != nil {
		t.Errorf("targets = %q, want %s", targets, both)
	}
	m := getMemHpa(t, withCPU, appName)
	if m.Status.CurrentCPUUtilizationPercentage == nil || m.Status.CurrentUtilizationPercentage == nil || *m.Status.CurrentUtilizationPercentage != 20 {
		t.Errorf("status utilizations memory %v, cpu %v; want 20 and about 90", m.Status.CurrentUtilizationPercentage, m.Status.CurrentCPUUtilizationPercentage)
	}
	if got := flat(mustKubectl(t, "get", "mhpa", appName, "-n", withCPU)); !strings.Contains(got, " memory: 20%/80%, cpu: ") {
		t.Errorf("kubectl get mhpa does not show both targets:\n%s", got)
	}

	// The control was measured all along, and held.
	waitCondition(t, control, "ScalingActive", "True", "ValidMetricFound", 30*time.Second)
	requireReplicasStay(t, control, 2, 3*scalerSync)
	if m := getMemHpa(t, control, appName); m.Status.Targets != "20%/80%" || m.Status.CurrentCPUUtilizationPercentage != nil {
		t.Errorf("control: targets %q, cpu %v; want 20%%/80%% and no CPU", m.Status.Targets, m.Status.CurrentCPUUtilizationPercentage)
	}
	trWith.end()
	trControl.end()
	t.Logf("trajectory with cpuTargetUtilizationPercentage: 60: %s; without: %s", trWith, trControl)
}
