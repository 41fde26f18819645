package controller

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	"github.com/memhpa/memhpa/scaler/internal/gen"
	memhpalisters "github.com/memhpa/memhpa/webhook/pkg/generated/listers/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

// TestSelectorIndexFindsEveryMatch: on random selectors (equality-based,
// set-based, mixed, empty) filed in two namespaces and refiled or removed at
// random, the candidates for a set of pods include every MemHpa whose
// current selector matches one of them, and none of another namespace.
func TestSelectorIndexFindsEveryMatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 7))
	keys, values := []string{"app", "tier", "track"}, []string{"x", "y", "z"}
	requirement := func() string {
		k, v, w := keys[rng.IntN(len(keys))], values[rng.IntN(len(values))], values[rng.IntN(len(values))]
		return []string{k + "=" + v, k + "==" + v, k + "!=" + v, k + " in (" + v + ")", k + " in (" + v + "," + w + ")",
			k + " notin (" + v + ")", k, "!" + k}[rng.IntN(8)]
	}
	randomSelector := func() labels.Selector {
		if rng.IntN(10) == 0 {
			return labels.Everything()
		}
		reqs := make([]string, 1+rng.IntN(3))
		for i := range reqs {
			reqs[i] = requirement()
		}
		s, err := labels.Parse(strings.Join(reqs, ","))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	x := newSelectorIndex()
	current := map[string]labels.Selector{}
	namespaces := []string{"a", "b"}
	for i := range 3000 {
		key := fmt.Sprintf("%s/m-%d", namespaces[rng.IntN(2)], rng.IntN(300))
		ns, _, _ := cache.SplitMetaNamespaceKey(key)
		if rng.IntN(5) == 0 {
			x.remove(key)
			delete(current, key)
		} else {
			sel := randomSelector()
			x.set(key, ns, sel)
			current[key] = sel
		}
		if i%10 != 0 {
			continue
		}
		var pods []*corev1.Pod
		for j := range 1 + rng.IntN(3) {
			l := map[string]string{}
			for _, k := range keys {
				if rng.IntN(3) > 0 {
					l[k] = values[rng.IntN(len(values))]
				}
			}
			pods = append(pods, gen.Pod(fmt.Sprintf("p-%d", j), gen.InNamespace("a"), gen.WithLabels(l)))
		}
		got := x.candidates("a", pods)
		for key, sel := range current {
			matches := false
			for _, p := range pods {
				matches = matches || (!sel.Empty() && sel.Matches(labels.Set(p.Labels)))
			}
			if strings.HasPrefix(key, "a/") && matches && !slices.Contains(got, key) {
				t.Fatalf("candidates for %v lack %s (selector %q): %v", pods[0].Labels, key, sel, got)
			}
		}
		for _, key := range got {
			if !strings.HasPrefix(key, "a/") {
				t.Fatalf("candidate %s of another namespace", key)
			}
			if _, ok := current[key]; !ok {
				t.Fatalf("candidate %s was removed", key)
			}
		}
	}
}

// BenchmarkOtherAutoscalers is the check for a second autoscaler of one
// MemHpa in a namespace of n MemHpas, each on its own Deployment with its
// own app label: it grew with n (every other MemHpa tried) before the
// indexes.
func BenchmarkOtherAutoscalers(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{memhpaTargetIndex: indexMemHpaTargets})
			c := &Controller{state: map[string]memHpaState{}, memhpas: memhpalisters.NewMemHpaLister(idx), memhpaIndex: idx, selectors: newSelectorIndex()}
			for i := range n {
				h := memhpagen.MemHpa(fmt.Sprintf("m-%d", i), memhpagen.WithRef("apps/v1", "Deployment", fmt.Sprintf("d-%d", i)))
				if err := idx.Add(h); err != nil {
					b.Fatal(err)
				}
				c.setSelector(memhpagen.Namespace+"/"+h.Name, h.UID, labels.SelectorFromSet(labels.Set{"app": fmt.Sprintf("d-%d", i)}))
			}
			h, _ := c.memhpas.MemHpas(memhpagen.Namespace).Get("m-7")
			pods := []*corev1.Pod{gen.Pod("p", gen.WithLabels(map[string]string{"app": "d-7", "pod-template-hash": "h"}))}
			for b.Loop() {
				if got := c.otherAutoscalers(h, pods); len(got) != 0 {
					b.Fatalf("others = %v", got)
				}
			}
		})
	}
}
