package controller

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/memhpa/memhpa/scaler/internal/gen"
)

// podStore is a pod cache indexed as the controller's informer is, and a
// controller that reads it.
func podStore(t testing.TB, pods []*corev1.Pod) (*Controller, corelisters.PodLister) {
	t.Helper()
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{
		cache.NamespaceIndex: cache.MetaNamespaceIndexFunc,
		podLabelIndex:        indexPodLabels,
	})
	for _, p := range pods {
		if err := idx.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	lister := corelisters.NewPodLister(idx)
	return &Controller{pods: lister, podIndex: idx}, lister
}

func names(pods []*corev1.Pod) []string {
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.Namespace + "/" + p.Name
	}
	slices.Sort(out)
	return out
}

// TestPodsOfMatchesTheNamespaceWalk: on random pods and random selectors,
// equality-based, set-based and mixed, podsOf returns exactly the pods the
// lister's walk of the namespace returns; and the index is what answers the
// selectors that require a label value.
func TestPodsOfMatchesTheNamespaceWalk(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 1))
	namespaces := []string{"a", "b", "c"}
	keys := []string{"app", "tier", "track", "example.com/role"}
	values := []string{"x", "y", "z"}
	var pods []*corev1.Pod
	for i := range 600 {
		l := map[string]string{}
		for _, k := range keys {
			if rng.IntN(10) < 6 {
				l[k] = values[rng.IntN(len(values))]
			}
		}
		pods = append(pods, gen.Pod(fmt.Sprintf("p-%d", i), gen.InNamespace(namespaces[rng.IntN(len(namespaces))]), gen.WithLabels(l)))
	}
	c, lister := podStore(t, pods)

	requirement := func() string {
		k, v, w := keys[rng.IntN(len(keys))], values[rng.IntN(len(values))], values[rng.IntN(len(values))]
		switch rng.IntN(8) {
		case 0:
			return k + "=" + v
		case 1:
			return k + "==" + v
		case 2:
			return k + "!=" + v
		case 3:
			return k + " in (" + v + ")"
		case 4:
			return k + " in (" + v + "," + w + ")"
		case 5:
			return k + " notin (" + v + ")"
		case 6:
			return k
		default:
			return "!" + k
		}
	}
	selectors := []labels.Selector{labels.Everything(), labels.Nothing()}
	for range 2000 {
		reqs := make([]string, 1+rng.IntN(3))
		for i := range reqs {
			reqs[i] = requirement()
		}
		s, err := labels.Parse(strings.Join(reqs, ","))
		if err != nil {
			t.Fatal(err)
		}
		selectors = append(selectors, s)
	}
	// What a Deployment's selector becomes (the scale's status.selector).
	for range 200 {
		ml := map[string]string{}
		for _, k := range keys[:1+rng.IntN(len(keys))] {
			ml[k] = values[rng.IntN(len(values))]
		}
		s, err := metav1.LabelSelectorAsSelector(&metav1.LabelSelector{MatchLabels: ml})
		if err != nil {
			t.Fatal(err)
		}
		selectors = append(selectors, s)
	}
	indexed := 0
	for _, sel := range selectors {
		for _, ns := range append(namespaces, "none") {
			got, err := c.podsOf(ns, sel)
			if err != nil {
				t.Fatal(err)
			}
			want, err := lister.Pods(ns).List(sel)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(names(got), names(want)) {
				t.Fatalf("podsOf(%q, %q) = %v, the namespace walk %v", ns, sel, names(got), names(want))
			}
			if _, ok, _ := indexedPods(c.podIndex, ns, sel); ok {
				indexed++
			}
		}
	}
	if indexed == 0 {
		t.Error("the index answered no selector")
	}
	t.Logf("%d selectors × %d namespaces, %d answered by the index", len(selectors), len(namespaces)+1, indexed)
}

// BenchmarkPodsOf is one MemHpa's pod lookup in a namespace of 1,000
// Deployments with 10 pods each: the namespace walk against the index.
func BenchmarkPodsOf(b *testing.B) {
	var pods []*corev1.Pod
	for d := range 1000 {
		for i := range 10 {
			pods = append(pods, gen.Pod(fmt.Sprintf("web-%d-%d", d, i),
				gen.WithLabels(map[string]string{"app": fmt.Sprintf("web-%d", d), "pod-template-hash": fmt.Sprintf("h%d", d)})))
		}
	}
	c, lister := podStore(b, pods)
	sel := labels.SelectorFromSet(labels.Set{"app": "web-500"})
	ns := pods[0].Namespace
	b.Run("walk", func(b *testing.B) {
		for b.Loop() {
			if got, _ := lister.Pods(ns).List(sel); len(got) != 10 {
				b.Fatalf("%d pods", len(got))
			}
		}
	})
	b.Run("index", func(b *testing.B) {
		for b.Loop() {
			if got, _ := c.podsOf(ns, sel); len(got) != 10 {
				b.Fatalf("%d pods", len(got))
			}
		}
	})
}
