package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/memhpa/memhpa/test/harness"
)

// The demo workload: pods limited to 512Mi, scaled by a MemHpa with the
// default target, 80% of the limit. A "load" of total memory is spread over
// the running pods, as a real service's memory follows its traffic.
const (
	demoNS     = "demo"
	podLimitMi = 512
)

type demoRun struct {
	env   *harness.Env
	start time.Time
	// printedEvents is the count of each MemHpa event printed so far, by
	// UID, over the whole demo: a later step lists the earlier events too.
	printedEvents map[types.UID]int32
}

func demo(ctx context.Context) error {
	p, err := localPaths()
	if err != nil {
		return err
	}
	if e, err := harness.Attach(p.dir, os.Stderr); err == nil && e.WaitAPIServerReady(ctx, 3*time.Second) == nil {
		return fmt.Errorf("a local control plane from `make up` is running; run `make down` first")
	}
	dir := filepath.Join(p.local, "demo")
	if stale, err := harness.Attach(dir, os.Stderr); err == nil {
		// An interrupted demo left its state behind: clean up before starting.
		_ = stale.Stop(ctx)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	withScaler := useBuiltBinaries(p.root)
	d := &demoRun{start: time.Now()}
	d.say("memhpa demo: a real Kubernetes v1.37.2 control plane on this machine (kwok fakes the nodes and the pods' memory).")
	d.say("The pinned binaries were built by `make tools` (the first time takes tens of minutes; later runs reuse the cache).")
	env, err := harness.Start(ctx, harness.Options{
		Dir:        dir,
		Name:       "memhpa-demo",
		Kubeconfig: filepath.Join(dir, "kubeconfig"),
		Nodes:      2,
		Webhook:    true,
		Scaler:     withScaler,
		// Short periods so the demo shows a scale-up and a scale-down in
		// minutes instead of the production defaults (30 s, 5 min).
		ScalerArgs: []string{"--sync-period=5s", "--downscale-stabilization=30s"},
	})
	if err != nil {
		return err
	}
	d.env = env
	defer func() {
		if err := env.Stop(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "teardown:", err)
		}
		d.explore(p.kubeconfig)
	}()
	return d.run(ctx, withScaler)
}

func (d *demoRun) run(ctx context.Context, withScaler bool) error {
	d.say("A Deployment \"web\" with 2 pods, each limited to %dMi of memory, on the kwok nodes", podLimitMi)
	if _, err := d.apply(ctx, "deployment", demoManifests); err != nil {
		return err
	}
	if _, err := d.kubectl(ctx, "rollout", "status", "-n", demoNS, "deployment/web", "--timeout=120s"); err != nil {
		return err
	}
	if _, err := d.kubectl(ctx, "get", "pods", "-n", demoNS, "-o", "wide"); err != nil {
		return err
	}

	d.say("A bad MemHpa: the webhook refuses it with kubectl's own message, one line per bad field")
	out, err := d.env.ApplyYAML(ctx, badMemHpa)
	d.show("kubectl apply -f bad-memhpa.yaml", badMemHpa, out)
	if err == nil {
		return fmt.Errorf("the bad MemHpa was admitted; the webhook is not doing its job")
	}

	d.say("A good MemHpa that sets only the target's kind and name and maxReplicas: the webhook fills in the defaults")
	out, err = d.env.ApplyYAML(ctx, goodMemHpa)
	d.show("kubectl apply -f memhpa.yaml", goodMemHpa, out)
	if err != nil {
		return err
	}
	spec, err := d.env.Kubectl(ctx, "get", "mhpa", "web", "-n", demoNS, "-o", "jsonpath={.spec}")
	if err != nil {
		return err
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, []byte(spec), "", "  "); err == nil {
		spec = pretty.String()
	}
	d.show("kubectl get mhpa web -n demo -o jsonpath={.spec}", "", spec)

	if !withScaler {
		d.say("The scaler is not built yet (scaler/cmd/scaler): the live scaling part of the demo is skipped.")
		return nil
	}
	d.say("Load: 972Mi of memory in total, spread over the pods (486Mi each = 95%% of the %dMi limit; the target is 80%%)", podLimitMi)
	d.say("Expect a scale-up to ceil(2 x 95/80) = 3 pods within a few sync periods (5 s each); 3 pods then use 63%%")
	if err := d.drive(ctx, webScene, 972, 3, 3*time.Minute); err != nil {
		return err
	}
	d.say("Load drops to 300Mi in total (100Mi a pod, 19%%): expect a scale-down to minReplicas, 1 pod, once the 30 s stabilization window has passed")
	if err := d.drive(ctx, webScene, 300, 1, 4*time.Minute); err != nil {
		return err
	}
	d.say("What kubectl describe shows (conditions and events)")
	if _, err := d.kubectl(ctx, "describe", "mhpa", "web", "-n", demoNS); err != nil {
		return err
	}
	return d.sidecarRescue(ctx)
}

// sidecarRescue is the case an average over whole pods misses (issue 13):
// a main container close to its own limit beside a sidecar with a large,
// idle one. Over whole pods the Deployment looks idle; spec.container makes
// the MemHpa decide on the container that would be OOM-killed.
func (d *demoRun) sidecarRescue(ctx context.Context) error {
	d.say("Why memory is not CPU: a Deployment \"api\" whose container app uses 95Mi of its 100Mi limit, beside a sidecar using 10Mi of a 1Gi limit")
	if _, err := d.apply(ctx, "api", apiManifest); err != nil {
		return err
	}
	if _, err := d.kubectl(ctx, "rollout", "status", "-n", demoNS, "deployment/api", "--timeout=120s"); err != nil {
		return err
	}
	d.say("A MemHpa over whole pods sees (95+10)/(100+1024) = 9%% and holds at 2 pods, while app is 5Mi away from being OOM-killed")
	if _, err := d.apply(ctx, "api-memhpa", apiMemHpa); err != nil {
		return err
	}
	if err := d.drive(ctx, apiScene, 190, 2, 2*time.Minute); err != nil {
		return err
	}
	if err := d.waitTargets(ctx, apiScene, "9%/80%", time.Minute); err != nil {
		return err
	}
	d.say("The fix is one field, spec.container: app. Only that container's working set and its own limit count: 95%%, so expect ceil(2 x 95/80) = 3 pods, at 64%% each")
	if _, err := d.kubectl(ctx, "patch", "mhpa", "api", "-n", demoNS, "--type=merge", "-p", `{"spec":{"container":"app"}}`); err != nil {
		return err
	}
	if err := d.drive(ctx, apiScene, 190, 3, 2*time.Minute); err != nil {
		return err
	}
	_, err := d.kubectl(ctx, "get", "mhpa", "-n", demoNS)
	return err
}

// waitTargets polls until the MemHpa's status shows targets, so the
// narration never claims a figure the scaler has not reached.
func (d *demoRun) waitTargets(ctx context.Context, sc scene, targets string, timeout time.Duration) error {
	err := harness.Poll(ctx, timeout, time.Second, func(ctx context.Context) (bool, error) {
		st, err := d.status(ctx, sc.name)
		return err == nil && st.targets == targets, err
	})
	if err != nil {
		return fmt.Errorf("MemHpa %s never showed %s: %w", sc.name, targets, err)
	}
	d.say("kubectl get mhpa %s shows %s", sc.name, targets)
	return nil
}

// A scene is one Deployment and its MemHpa (same name) whose load the demo
// drives: the total memory of the annotated container(s) is spread over the
// running pods, as a real service's memory follows its traffic.
type scene struct {
	name string
	// annotation is kwok's usage annotation that carries each pod's share.
	annotation string
}

var (
	webScene = scene{name: "web", annotation: harness.KwokUsageMemoryAnnotation}
	apiScene = scene{name: "api", annotation: harness.KwokUsageMemoryContainerAnnotation + "app"}
)

// drive keeps totalMi of memory spread over the scene's running pods (through
// kwok's usage annotation) and prints what its MemHpa and Deployment do until the
// Deployment has want ready replicas and the MemHpa agrees, or timeout.
func (d *demoRun) drive(ctx context.Context, sc scene, totalMi int, want int32, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	lastLine := ""
	for {
		pods, err := d.runningPods(ctx, sc.name)
		if err != nil {
			return err
		}
		if len(pods) > 0 {
			per := int(math.Ceil(float64(totalMi) / float64(len(pods))))
			if _, err := d.env.Kubectl(ctx, "annotate", "pods", "-n", demoNS, "-l", "app="+sc.name, "--overwrite",
				fmt.Sprintf("%s=%dMi", sc.annotation, per)); err != nil {
				return err
			}
		}
		st, err := d.status(ctx, sc.name)
		if err != nil {
			return err
		}
		line := fmt.Sprintf("pods running %d | memhpa: utilization %s, current %d, desired %d | %s",
			len(pods), st.targets, st.current, st.desired, st.conditions)
		if line != lastLine {
			d.say("%s", line)
			lastLine = line
		}
		for _, ev := range d.newEvents(ctx) {
			d.say("  event: %s", ev)
		}
		if int32(len(pods)) == want && st.desired == want && st.current == want {
			d.say("Reached %d pods", want)
			return nil
		}
		if time.Now().After(deadline) {
			d.say("Did not reach %d pods within %s; see `kubectl describe mhpa %s -n demo` below and the scaler's log in %s", want, timeout, sc.name, d.env.LogDir)
			_, _ = d.kubectl(ctx, "describe", "mhpa", sc.name, "-n", demoNS)
			return fmt.Errorf("no scaling to %d pods within %s", want, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

func (d *demoRun) runningPods(ctx context.Context, name string) ([]string, error) {
	out, err := d.env.Kubectl(ctx, "get", "pods", "-n", demoNS, "-l", "app="+name,
		"--field-selector=status.phase=Running", "-o", "name")
	if err != nil {
		return nil, err
	}
	return strings.Fields(out), nil
}

type mhpaStatus struct {
	targets          string
	current, desired int32
	conditions       string
}

func (d *demoRun) status(ctx context.Context, name string) (mhpaStatus, error) {
	out, err := d.env.Kubectl(ctx, "get", "mhpa", name, "-n", demoNS, "-o", "json")
	if err != nil {
		return mhpaStatus{}, err
	}
	var m struct {
		Status struct {
			Targets         string `json:"targets"`
			CurrentReplicas int32  `json:"currentReplicas"`
			DesiredReplicas int32  `json:"desiredReplicas"`
			Conditions      []struct {
				Type, Status, Reason string
			} `json:"conditions"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		return mhpaStatus{}, fmt.Errorf("decode MemHpa: %w", err)
	}
	var conds []string
	for _, c := range m.Status.Conditions {
		conds = append(conds, fmt.Sprintf("%s=%s(%s)", c.Type, c.Status, c.Reason))
	}
	t := m.Status.Targets
	if t == "" {
		t = "<not measured yet>"
	}
	return mhpaStatus{targets: t, current: m.Status.CurrentReplicas, desired: m.Status.DesiredReplicas,
		conditions: strings.Join(conds, " ")}, nil
}

// newEvents returns the MemHpa events not printed yet, and those that
// happened again since (eventsToPrint). A failed listing prints nothing: the
// next poll lists them again.
func (d *demoRun) newEvents(ctx context.Context) []string {
	out, err := d.env.KubectlStdout(ctx, "", "get", "events", "-n", demoNS,
		"--field-selector=involvedObject.kind=MemHpa", "-o", "json")
	if err != nil {
		return nil
	}
	var list corev1.EventList
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return nil
	}
	var lines []string
	lines, d.printedEvents = eventsToPrint(d.printedEvents, list.Items)
	return lines
}

func (d *demoRun) say(format string, args ...any) {
	fmt.Printf("\n[demo %5.0fs] %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, args...))
}

// kubectl runs kubectl, printing the command and its output as a user sees them.
func (d *demoRun) kubectl(ctx context.Context, args ...string) (string, error) {
	out, err := d.env.Kubectl(ctx, args...)
	d.show("kubectl "+strings.Join(args, " "), "", out)
	return out, err
}

func (d *demoRun) apply(ctx context.Context, what, manifest string) (string, error) {
	out, err := d.env.ApplyYAML(ctx, manifest)
	d.show("kubectl apply -f "+what+".yaml", "", out)
	return out, err
}

func (d *demoRun) show(cmd, manifest, out string) {
	if manifest != "" {
		fmt.Printf("\n%s", indentLines(strings.TrimSpace(manifest), "    | "))
	}
	fmt.Printf("  $ %s\n%s", cmd, indentLines(strings.TrimRight(out, "\n"), "    "))
}

func indentLines(s, prefix string) string {
	if s == "" {
		return ""
	}
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		b.WriteString(prefix + l + "\n")
	}
	return b.String()
}

func (d *demoRun) explore(kubeconfig string) {
	fmt.Printf(`
[demo %5.0fs] Done: everything the demo started is stopped.

Explore further:
  make up                                   # the same control plane, left running
  export KUBECONFIG=%s
  kubectl apply -f -  <<'EOF'               # your own Deployment and MemHpa
  ...
  EOF
  kubectl annotate pod <pod> kwok.x-k8s.io/usage-memory=400Mi --overwrite   # fake a pod's memory
  kubectl get mhpa -w                       # watch it scale
  kubectl describe mhpa <name>              # conditions and events
  make down                                 # stop everything
`, time.Since(d.start).Seconds(), kubeconfig)
}

// demoManifests are the demo's namespace and its Deployment "web": 2 kwok pods
// limited to podLimitMi, each reporting 100Mi as its working set.
var demoManifests = "apiVersion: v1\nkind: Namespace\nmetadata: {name: " + demoNS + "}\n---\n" + harness.Workload{
	Namespace: demoNS, Name: "web", Replicas: 2, Memory: "100Mi",
	Containers: []harness.WorkloadContainer{{Name: "app", MemoryLimit: fmt.Sprintf("%dMi", podLimitMi), CPURequest: "50m"}},
}.YAML()

// badMemHpa passes the CRD's schema (which would stop at its own first
// layer of errors) and is refused by the webhook, one line per bad field.
const badMemHpa = `apiVersion: autoscaling.memhpa.io/v1alpha1
kind: MemHpa
metadata: {name: broken, namespace: demo}
spec:
  scaleTargetRef: {apiVersion: apps/v1/x, kind: Deploy/ment, name: web/x}
  maxReplicas: 10
`

const goodMemHpa = `apiVersion: autoscaling.memhpa.io/v1alpha1
kind: MemHpa
metadata: {name: web, namespace: demo}
spec:
  scaleTargetRef: {kind: Deployment, name: web}
  maxReplicas: 8
`

// apiManifest is the sidecar scene's Deployment "api": 2 pods whose
// container app is limited to 100Mi and a sidecar to 1Gi; the sidecar
// reports 10Mi, app its share of the load (drive sets it).
var apiManifest = harness.Workload{
	Namespace: demoNS, Name: "api", Replicas: 2,
	Containers: []harness.WorkloadContainer{
		{Name: "app", MemoryLimit: "100Mi", CPURequest: "50m"},
		{Name: "sidecar", MemoryLimit: "1Gi", CPURequest: "10m"},
	},
	ContainerMemory: map[string]string{"app": "95Mi", "sidecar": "10Mi"},
}.YAML()

const apiMemHpa = `apiVersion: autoscaling.memhpa.io/v1alpha1
kind: MemHpa
metadata: {name: api, namespace: demo}
spec:
  scaleTargetRef: {kind: Deployment, name: api}
  minReplicas: 2
  maxReplicas: 6
`
