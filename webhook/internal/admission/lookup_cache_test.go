package admission

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	memhpafake "github.com/memhpa/memhpa/webhook/pkg/generated/clientset/versioned/fake"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

const otherNS = "other"

var (
	deploymentGK  = schema.GroupKind{Group: "apps", Kind: "Deployment"}
	statefulSetGK = schema.GroupKind{Group: "apps", Kind: "StatefulSet"}
	replicaSetGK  = schema.GroupKind{Group: "apps", Kind: "ReplicaSet"}
)

func inNS[T metav1.Object](ns string, obj T) T {
	obj.SetNamespace(ns)
	return obj
}

func deployment(ns, name string, tpl *corev1.PodTemplateSpec) *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: appsv1.DeploymentSpec{Template: *tpl}}
}

// startCachedLookup starts a CachedLookup over the fakes (falling back to a
// client Lookup of the same fakes) and waits for its caches.
func startCachedLookup(t *testing.T, kube *kubefake.Clientset, memhpa *memhpafake.Clientset) *CachedLookup {
	t.Helper()
	return startCachedLookupWith(t, kube, memhpa, NewClientLookup(kube, memhpa))
}

// startCachedLookupWith is startCachedLookup with live as the fallback.
func startCachedLookupWith(t *testing.T, kube *kubefake.Clientset, memhpa *memhpafake.Clientset, live Lookup) *CachedLookup {
	t.Helper()
	l, err := NewCachedLookup(kube, memhpa, live)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	l.Start(ctx)
	syncCtx, syncCancel := context.WithTimeout(ctx, 10*time.Second)
	defer syncCancel()
	if !l.WaitForSync(syncCtx) {
		t.Fatal("caches did not sync in 10s")
	}
	if !l.Synced() {
		t.Fatal("Synced() = false after WaitForSync")
	}
	// The fakes do not replay what was written before a watch began: wait for
	// the watches. A fake records an action and runs its reactor under one
	// lock, so a write after the record reaches the watcher.
	eventually(t, "the informers watch", func() bool {
		watching := map[string]bool{}
		for _, c := range []interface{ Actions() []clienttesting.Action }{kube, memhpa} {
			for _, a := range c.Actions() {
				watching[a.GetResource().Resource] = watching[a.GetResource().Resource] || a.GetVerb() == "watch"
			}
		}
		for _, r := range []string{"memhpas", "horizontalpodautoscalers", "limitranges", "deployments", "statefulsets"} {
			if !watching[r] {
				return false
			}
		}
		return true
	})
	return l
}

// reads are the list and get calls the clients made (informers' watches
// excluded).
func reads(clients ...interface{ Actions() []clienttesting.Action }) []string {
	var out []string
	for _, c := range clients {
		for _, a := range c.Actions() {
			if a.GetVerb() == "list" || a.GetVerb() == "get" {
				out = append(out, a.GetVerb()+" "+a.GetResource().Resource+" "+a.GetNamespace())
			}
		}
	}
	return out
}

// eventually polls cond every 10ms for at most 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 10*time.Second, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatalf("%s: not within 10s: %v", what, err)
	}
}

func names[T any](items []T, name func(T) string) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, name(it))
	}
	slices.Sort(out)
	return out
}

func memHpaNames(ms []v1alpha1.MemHpa) []string {
	return names(ms, func(m v1alpha1.MemHpa) string { return m.Namespace + "/" + m.Name })
}

func TestCachedLookupReadsTheIndexOnly(t *testing.T) {
	kube := kubefake.NewClientset(
		memhpagen.HPA("hpa-web", "apps/v1", "Deployment", "web"),
		memhpagen.HPA("hpa-web-sts", "apps/v1", "StatefulSet", "web"),
		memhpagen.HPA("hpa-api", "apps/v1", "Deployment", "api"),
		inNS(otherNS, memhpagen.HPA("hpa-web-other", "apps/v1", "Deployment", "web")),
		memhpagen.MemoryLimitRange("mem", "1Gi"),
		inNS(otherNS, memhpagen.MemoryLimitRange("mem-other", "2Gi")),
	)
	memhpa := memhpafake.NewSimpleClientset(
		memhpagen.MemHpa("web"),
		memhpagen.MemHpa("web-2", memhpagen.WithRef("apps/v1", "StatefulSet", "web")),
		memhpagen.MemHpa("api", memhpagen.WithRef("apps/v1", "Deployment", "api")),
		memhpagen.MemHpa("web", memhpagen.WithNamespace(otherNS)),
	)
	l := startCachedLookup(t, kube, memhpa)
	before := len(reads(kube, memhpa))

	tests := []struct {
		name   string
		read   func(context.Context) ([]string, error)
		want   []string
		wantNS string
	}{
		{
			name: "MemHpas of the namespace aimed at web, whatever the kind",
			read: func(ctx context.Context) ([]string, error) {
				ms, err := l.MemHpas(ctx, memhpagen.Namespace, "web")
				return memHpaNames(ms), err
			},
			want: []string{memhpagen.Namespace + "/web", memhpagen.Namespace + "/web-2"},
		},
		{
			name: "MemHpas of another namespace",
			read: func(ctx context.Context) ([]string, error) {
				ms, err := l.MemHpas(ctx, otherNS, "web")
				return memHpaNames(ms), err
			},
			want: []string{otherNS + "/web"},
		},
		{
			name: "no MemHpa aimed at a target",
			read: func(ctx context.Context) ([]string, error) {
				ms, err := l.MemHpas(ctx, memhpagen.Namespace, "nothing")
				return memHpaNames(ms), err
			},
			want: []string{},
		},
		{
			name: "HPAs of the namespace aimed at api",
			read: func(ctx context.Context) ([]string, error) {
				hs, err := l.HorizontalPodAutoscalers(ctx, memhpagen.Namespace, "api")
				return names(hs, func(h autoscalingv2.HorizontalPodAutoscaler) string { return h.Namespace + "/" + h.Name }), err
			},
			want: []string{memhpagen.Namespace + "/hpa-api"},
		},
		{
			name: "HPAs of the namespace aimed at web",
			read: func(ctx context.Context) ([]string, error) {
				hs, err := l.HorizontalPodAutoscalers(ctx, memhpagen.Namespace, "web")
				return names(hs, func(h autoscalingv2.HorizontalPodAutoscaler) string { return h.Namespace + "/" + h.Name }), err
			},
			want: []string{memhpagen.Namespace + "/hpa-web", memhpagen.Namespace + "/hpa-web-sts"},
		},
		{
			name: "LimitRanges of one namespace",
			read: func(ctx context.Context) ([]string, error) {
				lrs, err := l.LimitRanges(ctx, otherNS)
				return names(lrs, func(lr corev1.LimitRange) string { return lr.Namespace + "/" + lr.Name }), err
			},
			want: []string{otherNS + "/mem-other"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.read(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("= %v, want %v", got, tt.want)
			}
		})
	}
	if after := reads(kube, memhpa); len(after) != before {
		t.Errorf("the lookups read the apiserver: %v", after[before:])
	}
}

func TestCachedLookupPodTemplate(t *testing.T) {
	tpl := memhpagen.PodTemplate(memhpagen.Container("app", "1Gi", ""))
	kube := kubefake.NewClientset(
		deployment(memhpagen.Namespace, "web", tpl),
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: memhpagen.Namespace}, Spec: appsv1.StatefulSetSpec{Template: *tpl}},
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs", Namespace: memhpagen.Namespace}, Spec: appsv1.ReplicaSetSpec{Template: *tpl}},
		deployment(otherNS, "elsewhere", tpl),
	)
	// The Deployments' watch never delivers, so a Deployment created after
	// the sync is in the API and not in the cache: only a live GET finds it.
	kube.PrependWatchReactor("deployments", func(clienttesting.Action) (bool, watch.Interface, error) {
		return true, watch.NewFake(), nil
	})
	memhpa := memhpafake.NewSimpleClientset()
	l := startCachedLookup(t, kube, memhpa)
	if _, err := kube.AppsV1().Deployments(memhpagen.Namespace).Create(t.Context(), deployment(memhpagen.Namespace, "fresh", tpl), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	before := len(reads(kube))

	isNotFound := apierrors.IsNotFound
	isUnsupported := func(err error) bool { return errors.Is(err, ErrUnsupportedKind) }
	tests := []struct {
		name     string
		ns       string
		gk       schema.GroupKind
		target   string
		wantErr  func(error) bool
		wantRead string // the live read it makes, if any
	}{
		{name: "cached Deployment", ns: memhpagen.Namespace, gk: deploymentGK, target: "web"},
		{name: "cached StatefulSet", ns: memhpagen.Namespace, gk: statefulSetGK, target: "db"},
		{name: "Deployment created after the sync: live GET", ns: memhpagen.Namespace, gk: deploymentGK, target: "fresh",
			wantRead: "get deployments " + memhpagen.Namespace},
		{name: "missing Deployment: live GET, not found", ns: memhpagen.Namespace, gk: deploymentGK, target: "nope",
			wantErr: isNotFound, wantRead: "get deployments " + memhpagen.Namespace},
		{name: "missing Deployment again: known missing, no read", ns: memhpagen.Namespace, gk: deploymentGK, target: "nope", wantErr: isNotFound},
		{name: "Deployment of another namespace is not found", ns: memhpagen.Namespace, gk: deploymentGK, target: "elsewhere",
			wantErr: isNotFound, wantRead: "get deployments " + memhpagen.Namespace},
		{name: "ReplicaSet: not cached, live GET", ns: memhpagen.Namespace, gk: replicaSetGK, target: "rs",
			wantRead: "get replicasets " + memhpagen.Namespace},
		{name: "custom resource", ns: memhpagen.Namespace, gk: schema.GroupKind{Group: "argoproj.io", Kind: "Rollout"}, target: "web", wantErr: isUnsupported},
		{name: "unknown apps kind", ns: memhpagen.Namespace, gk: schema.GroupKind{Group: "apps", Kind: "DaemonSet"}, target: "web", wantErr: isUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// InMemory promises exactly the reads that make no live read.
			if inMemory := l.InMemory(tt.ns, tt.gk, tt.target); inMemory != (tt.wantRead == "") {
				t.Errorf("InMemory = %v before a read that makes the live reads %q", inMemory, tt.wantRead)
			}
			got, err := l.PodTemplate(t.Context(), tt.ns, tt.gk, tt.target)
			after := reads(kube)
			var live []string
			live, before = after[before:], len(after)
			if tt.wantRead == "" && len(live) != 0 || tt.wantRead != "" && !slices.Equal(live, []string{tt.wantRead}) {
				t.Errorf("live reads = %v, want %q", live, tt.wantRead)
			}
			if tt.wantErr != nil {
				if !tt.wantErr(err) {
					t.Fatalf("error = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			limit := got.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]
			if len(got.Spec.Containers) != 1 || got.Spec.Containers[0].Name != "app" || limit.String() != "1Gi" {
				t.Errorf("template = %+v, want container app with a 1Gi limit", got.Spec)
			}
		})
	}
}

func TestCachedLookupFollowsTheAPI(t *testing.T) {
	kube := kubefake.NewClientset()
	memhpa := memhpafake.NewSimpleClientset()
	l := startCachedLookup(t, kube, memhpa)
	ctx := t.Context()
	tpl := memhpagen.PodTemplate(memhpagen.Container("app", "1Gi", ""))

	// Seen once created (the watch is live), gone once deleted.
	if _, err := memhpa.AutoscalingV1alpha1().MemHpas(memhpagen.Namespace).Create(ctx, memhpagen.MemHpa("late", memhpagen.WithRef("apps/v1", "Deployment", "web")), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.AutoscalingV2().HorizontalPodAutoscalers(memhpagen.Namespace).Create(ctx, memhpagen.HPA("late", "apps/v1", "Deployment", "web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.AppsV1().Deployments(memhpagen.Namespace).Create(ctx, deployment(memhpagen.Namespace, "web", tpl), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cachedCount := func() int {
		ms, _ := l.MemHpas(ctx, memhpagen.Namespace, "web")
		hs, _ := l.HorizontalPodAutoscalers(ctx, memhpagen.Namespace, "web")
		_, inCache, _ := l.templates[deploymentGK].GetIndexer().GetByKey(memhpagen.Namespace + "/web")
		n := len(ms) + len(hs)
		if inCache {
			n++
		}
		return n
	}
	eventually(t, "the new MemHpa, HPA and Deployment are cached", func() bool { return cachedCount() == 3 })

	if err := memhpa.AutoscalingV1alpha1().MemHpas(memhpagen.Namespace).Delete(ctx, "late", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := kube.AutoscalingV2().HorizontalPodAutoscalers(memhpagen.Namespace).Delete(ctx, "late", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := kube.AppsV1().Deployments(memhpagen.Namespace).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted objects leave the cache", func() bool { return cachedCount() == 0 })
	if _, err := l.PodTemplate(ctx, memhpagen.Namespace, deploymentGK, "web"); !apierrors.IsNotFound(err) {
		t.Errorf("PodTemplate of the deleted Deployment: error = %v, want not found", err)
	}
}

func TestCachedLookupReturnsCopies(t *testing.T) {
	tpl := memhpagen.PodTemplate(memhpagen.Container("app", "1Gi", ""))
	tpl.Spec.InitContainers = []corev1.Container{memhpagen.Sidecar("proxy", "64Mi")}
	kube := kubefake.NewClientset(
		deployment(memhpagen.Namespace, "web", tpl),
		memhpagen.HPA("hpa", "apps/v1", "Deployment", "web"),
		memhpagen.MemoryLimitRange("mem", "1Gi"),
	)
	memhpa := memhpafake.NewSimpleClientset(memhpagen.MemHpa("web", memhpagen.WithLabels(map[string]string{"team": "a"})))
	l := startCachedLookup(t, kube, memhpa)
	ctx := t.Context()

	snapshot := func() []any {
		ms, err1 := l.MemHpas(ctx, memhpagen.Namespace, "web")
		hs, err2 := l.HorizontalPodAutoscalers(ctx, memhpagen.Namespace, "web")
		lrs, err3 := l.LimitRanges(ctx, memhpagen.Namespace)
		tp, err4 := l.PodTemplate(ctx, memhpagen.Namespace, deploymentGK, "web")
		if err := errors.Join(err1, err2, err3, err4); err != nil || len(ms) != 1 || len(hs) != 1 || len(lrs) != 1 {
			t.Fatalf("reads = %d MemHpas, %d HPAs, %d LimitRanges, %v", len(ms), len(hs), len(lrs), err)
		}
		return []any{&ms[0], &hs[0], &lrs[0], tp}
	}
	first := snapshot()
	want := snapshot()

	// Change everything a caller could reach.
	m := first[0].(*v1alpha1.MemHpa)
	m.Spec.ScaleTargetRef.Name, m.Labels["team"] = "changed", "b"
	h := first[1].(*autoscalingv2.HorizontalPodAutoscaler)
	h.Spec.ScaleTargetRef.Name, h.Spec.MaxReplicas = "changed", 99
	lr := first[2].(*corev1.LimitRange)
	lr.Spec.Limits[0].Default[corev1.ResourceMemory] = resource.MustParse("1Ki")
	tp := first[3].(*corev1.PodTemplateSpec)
	tp.Spec.Containers[0].Name = "changed"
	tp.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory] = resource.MustParse("1Ki")
	tp.Spec.InitContainers[0].RestartPolicy = nil

	if got := snapshot(); !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("changing returned objects changed the cache:\n got %+v\nwant %+v", got, want)
	}
}

func TestCachedLookupReadsLiveUntilSynced(t *testing.T) {
	kube := kubefake.NewClientset(memhpagen.HPA("hpa", "apps/v1", "Deployment", "web"), deployment(memhpagen.Namespace, "web", memhpagen.PodTemplate(memhpagen.Container("app", "1Gi", ""))))
	memhpa := memhpafake.NewSimpleClientset(memhpagen.MemHpa("web"))
	l, err := NewCachedLookup(kube, memhpa, NewClientLookup(kube, memhpa))
	if err != nil {
		t.Fatal(err)
	}
	// Not started: nothing is cached yet.
	if l.Synced() {
		t.Fatal("Synced() before Start")
	}
	if l.InMemory(memhpagen.Namespace, deploymentGK, "web") {
		t.Error("InMemory before Start: the reads go live")
	}
	ctx := t.Context()
	ms, err1 := l.MemHpas(ctx, memhpagen.Namespace, "web")
	hs, err2 := l.HorizontalPodAutoscalers(ctx, memhpagen.Namespace, "web")
	_, err3 := l.LimitRanges(ctx, memhpagen.Namespace)
	tp, err4 := l.PodTemplate(ctx, memhpagen.Namespace, deploymentGK, "web")
	if err := errors.Join(err1, err2, err3, err4); err != nil || len(ms) != 1 || len(hs) != 1 || tp == nil {
		t.Fatalf("= %d MemHpas, %d HPAs, template %v, %v; want what the API holds", len(ms), len(hs), tp != nil, err)
	}
	want := []string{
		"get deployments " + memhpagen.Namespace,
		"list horizontalpodautoscalers " + memhpagen.Namespace,
		"list limitranges " + memhpagen.Namespace,
		"list memhpas " + memhpagen.Namespace,
	}
	got := reads(kube, memhpa)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("live reads = %v, want %v", got, want)
	}
}

func TestTrimForCache(t *testing.T) {
	full := func() corev1.PodTemplateSpec {
		tpl := memhpagen.PodTemplate(memhpagen.Container("app", "1Gi", ""), memhpagen.Container("log", "", ""))
		tpl.Spec.InitContainers = []corev1.Container{memhpagen.Sidecar("proxy", "64Mi"), memhpagen.Container("migrate", "", "")}
		tpl.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", Value: "a big value"}}
		tpl.Spec.Containers[0].Args = []string{"--serve"}
		tpl.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}
		tpl.Spec.Volumes = []corev1.Volume{{Name: "data"}}
		return *tpl
	}
	meta := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{
			Name: "web", Namespace: memhpagen.Namespace, UID: "u1", ResourceVersion: "42",
			Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"big": "x"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
		}
	}
	trimmedMeta := metav1.ObjectMeta{Name: "web", Namespace: memhpagen.Namespace, UID: "u1", ResourceVersion: "42"}
	trimmedTemplate := corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		Containers: []corev1.Container{
			{Name: "app", Resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
			}},
			{Name: "log"},
		},
		InitContainers: []corev1.Container{
			{Name: "proxy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}}},
			{Name: "migrate"},
		},
	}}
	hpa := memhpagen.HPA("hpa", "apps/v1", "Deployment", "web")
	hpa.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	hpaWant := memhpagen.HPA("hpa", "apps/v1", "Deployment", "web")

	tests := []struct {
		name string
		in   any
		want any
	}{
		{
			name: "Deployment keeps identity and containers' names, resources and restart policies",
			in:   &appsv1.Deployment{ObjectMeta: meta(), Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3), Template: full()}},
			want: &appsv1.Deployment{ObjectMeta: trimmedMeta, Spec: appsv1.DeploymentSpec{Template: trimmedTemplate}},
		},
		{
			name: "StatefulSet likewise",
			in:   &appsv1.StatefulSet{ObjectMeta: meta(), Spec: appsv1.StatefulSetSpec{ServiceName: "db", Template: full()}},
			want: &appsv1.StatefulSet{ObjectMeta: trimmedMeta, Spec: appsv1.StatefulSetSpec{Template: trimmedTemplate}},
		},
		{name: "other objects lose their managed fields only", in: hpa, want: hpaWant},
		{name: "a non-object passes through", in: "tombstone", want: "tombstone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := TrimForCache(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(got, tt.want) {
				t.Errorf("TrimForCache =\n%#v\nwant\n%#v", got, tt.want)
			}
		})
	}
}
