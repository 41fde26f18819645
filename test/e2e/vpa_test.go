package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/memhpa/memhpa/test/harness"
)

// vpaDiscovery bounds how long the webhook takes to see a VPA API installed
// after it started: a review that finds none makes it ask discovery again,
// at most every 10 s, and the informer then lists.
const vpaDiscovery = 60 * time.Second

// The VPA's CRD is installed while the webhook runs (it started without it).
// A VerticalPodAutoscaler in Auto mode on a Deployment makes `kubectl apply`
// of a MemHpa on that Deployment print a warning, and the MemHpa is created;
// with updateMode Off, no warning.
func TestVPAOnTheSameTargetWarns(t *testing.T) {
	requireWebhook(t)
	ctx := testCtx(t)
	crd, err := os.ReadFile(filepath.Join("testdata", "vpa-crd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, string(crd))
	t.Cleanup(func() {
		if out, err := env.DeleteYAML(context.Background(), string(crd)); err != nil {
			t.Errorf("delete the VPA CRD: %v\n%s", err, out)
		}
	})
	mustKubectl(t, "wait", "--for=condition=Established", "--timeout=60s", "crd/verticalpodautoscalers.autoscaling.k8s.io")

	ns := newNamespace(t, "e2e-vpa")
	mustApply(t, deploymentYAML(ns, "web", 1, "256Mi", "10Mi"))
	// The mode is quoted: YAML reads a bare Off as false (the VPA's own CRD
	// refuses that; this one keeps it, and the webhook says it could not read it).
	vpa := func(mode string) string {
		return fmt.Sprintf(`apiVersion: autoscaling.k8s.io/v1
kind: VerticalPodAutoscaler
metadata: {name: web-vpa, namespace: %s}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  updatePolicy: {updateMode: %q}
`, ns, mode)
	}
	mustApply(t, vpa("Auto"))
	memhpa := memHpaYAML(ns, "web", `
scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
maxReplicas: 4`)
	const warned = `VerticalPodAutoscaler "web-vpa" (updateMode Auto) also sets the memory of container "app" of Deployment.apps "web"`

	// Server-side dry runs until the webhook has seen the new API.
	start := time.Now()
	var out string
	err = harness.Poll(ctx, vpaDiscovery, time.Second, func(ctx context.Context) (bool, error) {
		out, err = env.ApplyYAML(ctx, memhpa, "--dry-run=server")
		return err == nil && strings.Contains(out, warned), err
	})
	if err != nil {
		t.Fatalf("no VPA warning within %v of installing the VPA CRD; last kubectl output:\n%s\n%v", vpaDiscovery, out, err)
	}
	t.Logf("the webhook saw the VPA API %v after the CRD was installed", time.Since(start).Round(100*time.Millisecond))

	out = mustApply(t, memhpa)
	t.Logf("kubectl apply said:\n%s", out)
	if !strings.Contains(out, "Warning: "+warned) {
		t.Errorf("kubectl printed no VPA warning:\n%s", out)
	}
	if !strings.Contains(out, "memhpa.autoscaling.memhpa.io/web created") {
		t.Errorf("MemHpa not created:\n%s", out)
	}

	// updateMode Off only recommends: no warning once the webhook's
	// informer has the change (a create is checked again, an unchanged
	// spec is not).
	mustKubectl(t, "delete", "memhpa", "web", "-n", ns, "--wait=true")
	mustApply(t, vpa("Off"))
	err = harness.Poll(ctx, 30*time.Second, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		out, err = env.ApplyYAML(ctx, memhpa, "--dry-run=server")
		return err == nil && !strings.Contains(out, "VerticalPodAutoscaler"), err
	})
	if err != nil {
		t.Fatalf("still a VPA warning with updateMode Off:\n%s\n%v", out, err)
	}
	out = mustApply(t, memhpa)
	t.Logf("with updateMode Off, kubectl apply said:\n%s", out)
	if strings.Contains(out, "Warning:") || !strings.Contains(out, "memhpa.autoscaling.memhpa.io/web created") {
		t.Errorf("want the MemHpa created without a warning:\n%s", out)
	}
}
