package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/memhpa/memhpa/test/harness"
)

// The harness can take the apiserver away and bring it back (fault tests rely
// on it): afterwards the control plane still works end to end — the
// controller-manager creates pods, the scheduler places them, kwok runs them —
// even though the outage outlasted the controllers' 10 s lease renewal.
func TestAPIServerRestartLeavesAWorkingControlPlane(t *testing.T) {
	ctx := testCtx(t)
	if err := env.StopComponent(ctx, harness.APIServer); err != nil {
		t.Fatal(err)
	}
	// Prove it is down, for longer than a lease renewal deadline.
	err := harness.Poll(ctx, 15*time.Second, time.Second, func(ctx context.Context) (bool, error) {
		_, err := env.Kubectl(ctx, "get", "--raw", "/readyz", "--request-timeout=1s")
		if err == nil {
			return false, harness.Permanent(errors.New("the apiserver answers while stopped"))
		}
		return false, nil
	})
	if err != nil && strings.Contains(err.Error(), "answers while stopped") {
		t.Fatal(err)
	}
	if err := env.StartComponent(ctx, harness.APIServer); err != nil {
		t.Fatal(err)
	}
	ns := newNamespace(t, "e2e-restart")
	mustApply(t, deploymentYAML(ns, "after", 2, "128Mi", "10Mi"))
	err = harness.Poll(ctx, 2*time.Minute, time.Second, func(ctx context.Context) (bool, error) {
		out, err := env.Kubectl(ctx, "get", "pods", "-n", ns, "-l", "app=after",
			"--field-selector=status.phase=Running", "-o", "name")
		return err == nil && len(strings.Fields(out)) == 2, err
	})
	if err != nil {
		t.Fatalf("pods of a new Deployment never ran after the apiserver restart: %v", err)
	}
}
