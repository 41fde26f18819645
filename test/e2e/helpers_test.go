package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/memhpa/memhpa/test/harness"
	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
)

// testCtx is a context bounded by the test's deadline, or 5 minutes.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	if d, ok := t.Deadline(); ok {
		ctx, cancel = context.WithDeadline(context.Background(), d.Add(-5*time.Second))
	}
	t.Cleanup(cancel)
	return ctx
}

// newNamespace creates a namespace of its own for a test and deletes it
// afterwards (without waiting).
func newNamespace(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	ns := fmt.Sprintf("%s-%s", prefix, hex.EncodeToString(b))
	mustKubectl(t, "create", "namespace", ns)
	t.Cleanup(func() {
		_, _ = env.Kubectl(context.Background(), "delete", "namespace", ns, "--wait=false")
	})
	return ns
}

// mustKubectl runs kubectl and fails the test when it exits non-zero.
func mustKubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := env.Kubectl(testCtx(t), args...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return out
}

// mustApply applies manifest and fails the test when kubectl refuses it.
func mustApply(t *testing.T, manifest string) string {
	t.Helper()
	out, err := env.ApplyYAML(testCtx(t), manifest)
	if err != nil {
		t.Fatalf("apply:\n%s\n%v", manifest, err)
	}
	return out
}

// applyRefused applies manifest, requires kubectl to exit non-zero and
// returns its output.
func applyRefused(t *testing.T, manifest string) string {
	t.Helper()
	out, err := env.ApplyYAML(testCtx(t), manifest)
	var kerr *harness.KubectlError
	if !errors.As(err, &kerr) {
		t.Fatalf("kubectl apply succeeded (err %v), want a refusal; output:\n%s\nmanifest:\n%s", err, out, manifest)
	}
	return out
}

// getMemHpa reads a MemHpa back through kubectl.
func getMemHpa(t *testing.T, ns, name string) v1alpha1.MemHpa {
	t.Helper()
	out := mustKubectl(t, "get", "memhpa", name, "-n", ns, "-o", "json")
	var m v1alpha1.MemHpa
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("decode MemHpa %s/%s: %v\n%s", ns, name, err, out)
	}
	return m
}

// memHpaYAML is a MemHpa manifest; spec is YAML indented by two spaces.
func memHpaYAML(ns, name, spec string) string {
	return fmt.Sprintf(`apiVersion: autoscaling.memhpa.io/v1alpha1
kind: MemHpa
metadata:
  name: %s
  namespace: %s
spec:
%s`, name, ns, indent(strings.TrimSpace(spec), "  "))
}

// deploymentYAML is a Deployment of replicas kwok pods with one container
// "app" limited to memLimit, reporting usage as its working set. Its selector
// and pods carry the label app=name.
func deploymentYAML(ns, name string, replicas int, memLimit, usage string) string {
	return appWorkload(ns, name, replicas, memLimit, usage).YAML()
}

// appWorkload is the Workload of deploymentYAML, for a test that changes it.
func appWorkload(ns, name string, replicas int, memLimit, usage string) harness.Workload {
	return harness.Workload{Namespace: ns, Name: name, Replicas: int32(replicas), Memory: usage,
		Containers: []harness.WorkloadContainer{{Name: "app", MemoryLimit: memLimit, CPURequest: "10m"}}}
}

func indent(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n") + "\n"
}

var spaces = regexp.MustCompile(`\s+`)

// flat collapses runs of white space, so wrapped text can be matched.
func flat(s string) string { return spaces.ReplaceAllString(s, " ") }

// hasCauseLine tells whether one cause of kubectl's "is invalid" output
// matches the regular expression re from its start to its end. kubectl
// prints a lone cause after "is invalid: " and several as "* " items.
func hasCauseLine(out, re string) bool {
	r := regexp.MustCompile(`^(?:` + re + `)$`)
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if _, cause, ok := strings.Cut(line, "is invalid: "); ok {
			line = cause
		}
		if r.MatchString(strings.TrimPrefix(line, "* ")) {
			return true
		}
	}
	return false
}
