package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/memhpa/memhpa/test/harness"
)

// TestWebhookCacheFollowsTheCluster: the webhook's informers sync against the
// real apiserver (/readyz turns green) and follow what changes there: a
// LimitRange added and an HPA deleted show in the next reviews without
// restarting the webhook.
func TestWebhookCacheFollowsTheCluster(t *testing.T) {
	requireWebhook(t)
	ctx := testCtx(t)
	readyz := fmt.Sprintf("http://127.0.0.1:%d/readyz", env.Webhook.HealthPort)
	err := harness.Poll(ctx, 30*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, readyz, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		t.Fatalf("webhook %s not green within 30s (its informer caches did not sync): %v", readyz, err)
	}

	ns := newNamespace(t, "e2e-cache")
	mustApply(t, harness.Workload{Namespace: ns, Name: "nolimit"}.YAML())
	mustApply(t, deploymentYAML(ns, "taken", 1, "256Mi", "10Mi"))
	mustApply(t, `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: cpu, namespace: `+ns+`}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: taken}
  maxReplicas: 3
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
`)

	// dryRun is a server-side dry-run create of a MemHpa on target: the
	// webhook reviews it, nothing is stored. It returns kubectl's output and
	// whether the apiserver admitted it.
	dryRun := func(ctx context.Context, target string) (string, bool) {
		out, err := env.ApplyYAML(ctx, memHpaYAML(ns, "probe-"+target, `
scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: `+target+`}
maxReplicas: 3`), "--dry-run=server")
		return out, err == nil
	}
	// until polls dryRun on target until cond holds.
	until := func(what, target string, cond func(out string, admitted bool) bool) {
		t.Helper()
		var last string
		err := harness.Poll(ctx, 30*time.Second, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
			out, admitted := dryRun(ctx, target)
			last = out
			return cond(out, admitted), nil
		})
		if err != nil {
			t.Fatalf("%s: not within 30s: %v; last kubectl output:\n%s", what, err, last)
		}
	}
	noLimitWarning := func(out string) bool { return strings.Contains(out, "no memory limit") }

	until("a Deployment without limits draws a warning", "nolimit", func(out string, ok bool) bool { return ok && noLimitWarning(out) })
	mustApply(t, `apiVersion: v1
kind: LimitRange
metadata: {name: mem, namespace: `+ns+`}
spec:
  limits:
  - type: Container
    default: {memory: 512Mi}
`)
	until("a LimitRange's default memory limit silences the warning", "nolimit", func(out string, ok bool) bool { return ok && !noLimitWarning(out) })

	until("a Deployment an HPA scales is refused", "taken", func(out string, ok bool) bool {
		return !ok && strings.Contains(out, `HorizontalPodAutoscaler "cpu"`)
	})
	mustKubectl(t, "delete", "hpa", "cpu", "-n", ns)
	until("once the HPA is deleted the MemHpa is admitted", "taken", func(out string, ok bool) bool {
		return ok && !strings.Contains(out, "Warning:")
	})
}
