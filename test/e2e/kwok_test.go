package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/memhpa/memhpa/test/harness"
)

const mi = 1024 * 1024

// A Deployment's pods are scheduled onto kwok nodes and become Running, and
// Prometheus returns each container's working set equal to the pod's
// kwok.x-k8s.io/usage-memory annotation, following it when it changes. This is
// the measurement path the scaler relies on.
func TestPodsOnKwokNodesReportAnnotatedMemory(t *testing.T) {
	ctx := testCtx(t)
	ns := newNamespace(t, "e2e-kwok")
	mustApply(t, deploymentYAML(ns, "mem", 2, "512Mi", "123Mi"))
	mustKubectl(t, "rollout", "status", "deployment/mem", "-n", ns, "--timeout=120s")

	// Running, on nodes that kwok fakes.
	pods := map[string]string{} // pod -> node
	var out string
	err := harness.Poll(ctx, 90*time.Second, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		var err error
		out, err = env.Kubectl(ctx, "get", "pods", "-n", ns, "-l", "app=mem", "-o",
			`jsonpath={range .items[*]}{.metadata.name} {.status.phase} {.spec.nodeName}{"\n"}{end}`)
		if err != nil {
			return false, err
		}
		clear(pods)
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[1] == "Running" {
				pods[f[0]] = f[2]
			}
		}
		return len(pods) == 2, nil
	})
	if err != nil {
		t.Fatalf("want 2 Running pods on nodes: %v; last listing:\n%s", err, out)
	}
	names := slices.Sorted(maps.Keys(pods))
	for pod, node := range pods {
		ann := mustKubectl(t, "get", "node", node, "-o", `jsonpath={.metadata.annotations.kwok\.x-k8s\.io/node}`)
		if ann != "fake" {
			t.Errorf("pod %s runs on node %s, which is not a kwok node (annotation %q)", pod, node, ann)
		}
		ip := mustKubectl(t, "get", "node", node, "-o", `jsonpath={.status.addresses[?(@.type=="InternalIP")].address}`)
		if !strings.HasPrefix(ip, "127.") {
			t.Errorf("node %s has InternalIP %q, want a loopback address", node, ip)
		}
	}

	query := fmt.Sprintf(`container_memory_working_set_bytes{namespace=%q,container!=""}`, ns)
	waitMemory(ctx, t, query, map[string]float64{names[0]: 123 * mi, names[1]: 123 * mi})

	// Change one pod's usage: Prometheus follows within a scrape or two.
	pod := names[0]
	mustKubectl(t, "annotate", "pod", pod, "-n", ns, "--overwrite", "kwok.x-k8s.io/usage-memory=300Mi")
	waitMemory(ctx, t, query, map[string]float64{pod: 300 * mi, names[1]: 123 * mi})

	// The sum per pod that the scaler's batched query computes.
	sum := fmt.Sprintf(`sum by (namespace, pod) (container_memory_working_set_bytes{namespace=%q,container!="",container!="POD"})`, ns)
	samples, err := env.PromQuery(ctx, sum)
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 2 {
		t.Errorf("%s: want 2 series, got %v", sum, samples)
	}
}

// waitMemory polls query until it returns exactly one series per pod in want,
// with container "app" and the wanted value.
func waitMemory(ctx context.Context, t *testing.T, query string, want map[string]float64) {
	t.Helper()
	var last []harness.Sample
	err := harness.Poll(ctx, 2*time.Minute, time.Second, func(ctx context.Context) (bool, error) {
		s, err := env.PromQuery(ctx, query)
		if err != nil {
			return false, err
		}
		last = s
		if len(s) != len(want) {
			return false, nil
		}
		for _, x := range s {
			if w, ok := want[x.Metric["pod"]]; !ok || x.Value != w || x.Metric["container"] != "app" {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("Prometheus never returned %v for %s: %v; last result %v", want, query, err, last)
	}
}
