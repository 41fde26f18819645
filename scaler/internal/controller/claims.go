package controller

import (
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/tools/cache"

	v1alpha1 "github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
)

// memhpaTargetIndex indexes MemHpas by their target: "namespace/group/kind/name",
// the version left out as targetOf does.
const memhpaTargetIndex = "target"

func targetIndexKey(namespace string, w workload) string {
	return namespace + "/" + w.groupKind.Group + "/" + w.groupKind.Kind + "/" + w.name
}

// indexMemHpaTargets is the index function of memhpaTargetIndex.
func indexMemHpaTargets(obj any) ([]string, error) {
	h, ok := obj.(*v1alpha1.MemHpa)
	if !ok {
		return nil, nil
	}
	return []string{targetIndexKey(h.Namespace, targetOf(h.Spec.ScaleTargetRef))}, nil
}

// selectorIndex finds the MemHpas whose last-read target selector may match a
// pod without trying every MemHpa of the namespace: otherAutoscalers asked
// each MemHpa about each other one, so a cycle cost the square of a
// namespace's MemHpas (1,000 in one namespace: a million selector matches).
// A selector that requires a label to have one value (k=v, k==v, k in (v):
// a Deployment's matchLabels) is filed under the first such requirement, by
// key: a pod it matches carries that label, so looking up each label of the
// pods finds it. Any other selector is filed under its namespace and is
// always a candidate. Candidates are then matched for real (selectsAny).
type selectorIndex struct {
	mu sync.Mutex
	// byLabel holds MemHpa keys by "namespace/key=value" (podLabelKey).
	byLabel map[string]map[string]struct{}
	// unindexed holds, by namespace, the MemHpa keys whose selector has no
	// single-value requirement.
	unindexed map[string]map[string]struct{}
	// filed is where each MemHpa key is: its byLabel key, or its namespace
	// in unindexed.
	filed map[string]filing
}

type filing struct {
	at        string
	unindexed bool
}

func newSelectorIndex() *selectorIndex {
	return &selectorIndex{byLabel: map[string]map[string]struct{}{}, unindexed: map[string]map[string]struct{}{}, filed: map[string]filing{}}
}

// set files MemHpa key of namespace under selector, in place of where it was.
func (x *selectorIndex) set(key, namespace string, selector labels.Selector) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.removeLocked(key)
	if selector == nil || selector.Empty() {
		return
	}
	f := filing{at: namespace, unindexed: true}
	if reqs, selectable := selector.Requirements(); selectable {
		// Requirements come sorted by key: the first single-value one is
		// a stable choice.
		for _, r := range reqs {
			op := r.Operator()
			if (op == selection.Equals || op == selection.DoubleEquals || op == selection.In) && r.Values().Len() == 1 {
				f = filing{at: podLabelKey(namespace, r.Key(), r.Values().UnsortedList()[0])}
				break
			}
		}
	}
	m := x.byLabel
	if f.unindexed {
		m = x.unindexed
	}
	if m[f.at] == nil {
		m[f.at] = map[string]struct{}{}
	}
	m[f.at][key] = struct{}{}
	x.filed[key] = f
}

// remove forgets MemHpa key.
func (x *selectorIndex) remove(key string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.removeLocked(key)
}

func (x *selectorIndex) removeLocked(key string) {
	f, ok := x.filed[key]
	if !ok {
		return
	}
	m := x.byLabel
	if f.unindexed {
		m = x.unindexed
	}
	delete(m[f.at], key)
	if len(m[f.at]) == 0 {
		delete(m, f.at)
	}
	delete(x.filed, key)
}

// candidates returns, sorted, the keys of the MemHpas of namespace whose
// selector may match one of pods: every one that does is among them.
func (x *selectorIndex) candidates(namespace string, pods []*corev1.Pod) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	seen := map[string]struct{}{}
	for key := range x.unindexed[namespace] {
		seen[key] = struct{}{}
	}
	for _, p := range pods {
		for k, v := range p.Labels {
			for key := range x.byLabel[podLabelKey(namespace, k, v)] {
				seen[key] = struct{}{}
			}
		}
	}
	out := make([]string, 0, len(seen))
	for key := range seen {
		out = append(out, key)
	}
	slices.Sort(out)
	return out
}

// memhpasOnTarget returns the MemHpas of namespace whose target is w.
func (c *Controller) memhpasOnTarget(namespace string, w workload) []*v1alpha1.MemHpa {
	objs, err := c.memhpaIndex.ByIndex(memhpaTargetIndex, targetIndexKey(namespace, w))
	if err != nil {
		return nil
	}
	out := make([]*v1alpha1.MemHpa, 0, len(objs))
	for _, obj := range objs {
		if h, ok := obj.(*v1alpha1.MemHpa); ok {
			out = append(out, h)
		}
	}
	return out
}

// memhpaByKey is the cached MemHpa of key, nil when there is none.
func (c *Controller) memhpaByKey(key string) *v1alpha1.MemHpa {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	h, err := c.memhpas.MemHpas(ns).Get(name)
	if err != nil {
		return nil
	}
	return h
}
