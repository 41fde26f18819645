package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/memhpa/memhpa/test/harness"
)

// The /scale of a Deployment, a StatefulSet and a ReplicaSet is a view of the
// object itself: the same resourceVersion, spec.replicas, status.replicas and
// the object's selector written as a string. The scaler builds the scale from
// its cache of the objects on that fact, and writes /scale with the object's
// resourceVersion, so the apiserver must answer both alike.
func TestScaleIsAViewOfItsObject(t *testing.T) {
	ns := newNamespace(t, "e2e-scaleview")
	ctx := testCtx(t)
	cs := clientset(t)
	// The Workload's Deployment with no replicas (nothing to schedule, and
	// status.replicas stays 0) and a set-based requirement beside its
	// matchLabels; the StatefulSet and the ReplicaSet share its selector and
	// template.
	d := harness.Workload{Namespace: ns, Name: "view"}.Deployment()
	d.Spec.Replicas = ptr.To[int32](0)
	d.Spec.Template.Labels["tier"] = "web"
	d.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"web", "api"}}}
	selector, template := d.Spec.Selector, d.Spec.Template
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	meta := metav1.ObjectMeta{Name: "view", Namespace: ns}
	if _, err := cs.AppsV1().StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{ObjectMeta: meta,
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](0), Selector: selector, Template: template}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{ObjectMeta: meta,
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](0), Selector: selector, Template: template}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	wantSelector, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		t.Fatal(err)
	}

	// view reads the object, its /scale and the object again; it is a view
	// only when the object did not change in between (a controller may
	// write its status), and then the scale must match it. The three kinds
	// are read alike, as raw JSON of apps/v1.
	type view struct {
		rv                     string
		specReplicas, replicas int32
	}
	get := func(ctx context.Context, resource string, into any, subresource ...string) error {
		raw, err := cs.AppsV1().RESTClient().Get().Namespace(ns).Resource(resource).Name("view").SubResource(subresource...).DoRaw(ctx)
		if err != nil {
			return err
		}
		return json.Unmarshal(raw, into)
	}
	object := func(ctx context.Context, resource string) (view, error) {
		var o struct {
			Metadata struct {
				ResourceVersion string `json:"resourceVersion"`
			} `json:"metadata"`
			Spec struct {
				Replicas int32 `json:"replicas"`
			} `json:"spec"`
			Status struct {
				Replicas int32 `json:"replicas"`
			} `json:"status"`
		}
		err := get(ctx, resource, &o)
		return view{o.Metadata.ResourceVersion, o.Spec.Replicas, o.Status.Replicas}, err
	}
	for _, resource := range []string{"deployments", "statefulsets", "replicasets"} {
		t.Run(resource, func(t *testing.T) {
			var before view
			var sc autoscalingv1.Scale
			err := harness.Poll(ctx, 30*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
				var err error
				if before, err = object(ctx, resource); err != nil {
					return false, err
				}
				if err = get(ctx, resource, &sc, "scale"); err != nil {
					return false, err
				}
				after, err := object(ctx, resource)
				return err == nil && after == before, err
			})
			if err != nil {
				t.Fatalf("no read of the object and its scale without a change in between: %v", err)
			}
			got := view{sc.ResourceVersion, sc.Spec.Replicas, sc.Status.Replicas}
			if got != before {
				t.Errorf("/scale (resourceVersion, spec.replicas, status.replicas) = %+v, the object's %+v", got, before)
			}
			if sc.Status.Selector != wantSelector.String() {
				t.Errorf("/scale status.selector = %q, want the object's selector as a string %q", sc.Status.Selector, wantSelector.String())
			}
		})
	}
}

// In the steady state (nothing to scale, the statuses unchanged) a cycle of
// the scaler makes no apiserver request about its MemHpas' Deployments: the
// scale comes from the informer of Deployments, so no GET of /scale per
// MemHpa per cycle (issue 15 item 1). The scaler talks to the apiserver
// through a proxy that counts every request.
func TestSteadyCycleReadsNoScale(t *testing.T) {
	ns := newNamespace(t, "e2e-steady")
	const n = 3
	for i := range n {
		name := fmt.Sprintf("steady-%d", i)
		// 50Mi of 100Mi at a 50 % target: a ratio of 1, nothing to scale.
		mustApply(t, deploymentYAML(ns, name, 1, "100Mi", "50Mi"))
		mustApply(t, memHpaYAML(ns, name, fmt.Sprintf(`
scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: %s}
minReplicas: 1
maxReplicas: 4
targetUtilizationPercentage: 50`, name)))
	}
	for i := range n {
		mustKubectl(t, "rollout", "status", fmt.Sprintf("deployment/steady-%d", i), "-n", ns, "--timeout=120s")
	}
	proxy := startAPIProxy(t)
	const scaler = "scaler-steady"
	startScalerFor(t, scaler, "--kubeconfig="+proxy.Kubeconfig)

	// Steady: every MemHpa measured its pods at the target.
	err := harness.Poll(testCtx(t), faultReaction, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		for i := range n {
			m := getMemHpa(t, ns, fmt.Sprintf("steady-%d", i))
			if m.Status.CurrentUtilizationPercentage == nil || *m.Status.CurrentUtilizationPercentage != 50 {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("the MemHpas never measured 50 %%: %v\n%s", err, mustKubectl(t, "get", "memhpa", "-n", ns, "-o", "wide"))
	}
	// One more cycle, so that the status writes of the first ones are over.
	waitCycles(t, scaler, cycles(t, scaler)+1)

	const steadyCycles = 3
	from, before := cycles(t, scaler), proxy.requestsSeen()
	to := waitCycles(t, scaler, from+steadyCycles)
	after := proxy.requestsSeen()
	var inNamespace []string
	scaleGets := 0
	for req, count := range after {
		d := count - before[req]
		if d == 0 || !strings.Contains(req, "/namespaces/"+ns+"/") {
			continue
		}
		inNamespace = append(inNamespace, fmt.Sprintf("%s ×%d", req, d))
		if strings.HasPrefix(req, "GET ") && strings.HasSuffix(req, "/scale") {
			scaleGets += d
		}
	}
	slices.Sort(inNamespace)
	t.Logf("%d MemHpas, %d cycles: %d GETs of /scale (%.1f a cycle); requests about the namespace: %v",
		n, to-from, scaleGets, float64(scaleGets)/float64(to-from), inNamespace)
	if scaleGets != 0 {
		t.Errorf("%d GETs of /scale in %d steady cycles of %d MemHpas on Deployments, want 0", scaleGets, to-from, n)
	}
	if len(inNamespace) != 0 {
		t.Errorf("requests about the MemHpas' namespace in steady cycles: %v, want none", inNamespace)
	}
}

var cycleCount = regexp.MustCompile(`(?m)^memhpa_scaler_cycle_duration_seconds_count (\d+)$`)

// cycles is how many cycles the scaler has finished.
func cycles(t *testing.T, scaler string) int {
	t.Helper()
	m := cycleCount.FindStringSubmatch(scalerMetrics(t, scaler))
	if m == nil {
		return 0
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitCycles waits until the scaler has finished at least n cycles and
// returns how many it has.
func waitCycles(t *testing.T, scaler string, n int) int {
	t.Helper()
	var got int
	err := harness.Poll(testCtx(t), faultReaction, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		got = cycles(t, scaler)
		return got >= n, nil
	})
	if err != nil {
		t.Fatalf("scaler %s finished %d cycles, want %d: %v", scaler, got, n, err)
	}
	return got
}
