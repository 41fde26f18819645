package controller

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/tools/cache"
)

// podLabelIndex indexes pods by namespace and label: one key
// "namespace/key=value" per label. A label key holds no "=" and a namespace no
// "/", so a key names one namespace and one label.
const podLabelIndex = "namespaceLabel"

func podLabelKey(namespace, key, value string) string {
	return namespace + "/" + key + "=" + value
}

// indexPodLabels is the index function of podLabelIndex.
func indexPodLabels(obj any) ([]string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	keys := make([]string, 0, len(pod.Labels))
	for k, v := range pod.Labels {
		keys = append(keys, podLabelKey(pod.Namespace, k, v))
	}
	return keys, nil
}

// indexedPods returns the pods of namespace that match selector through the
// label index, and whether it could: only a selector that requires some
// label to have one value (k=v, k==v, k in (v): what a Deployment's
// matchLabels become) narrows the search, to the pods with the rarest of
// those labels, which are then matched against the whole selector. Any
// other selector (set-based only, or empty) is left to the namespace walk.
// The answer is the walk's: every pod the selector matches carries each
// label it requires.
func indexedPods(index cache.Indexer, namespace string, selector labels.Selector) ([]*corev1.Pod, bool, error) {
	reqs, selectable := selector.Requirements()
	if !selectable {
		return nil, true, nil // labels.Nothing()
	}
	var candidates []any
	found := false
	for _, r := range reqs {
		op := r.Operator()
		if (op != selection.Equals && op != selection.DoubleEquals && op != selection.In) || r.Values().Len() != 1 {
			continue
		}
		objs, err := index.ByIndex(podLabelIndex, podLabelKey(namespace, r.Key(), r.Values().UnsortedList()[0]))
		if err != nil {
			return nil, false, fmt.Errorf("look up pods by label: %w", err)
		}
		if !found || len(objs) < len(candidates) {
			candidates, found = objs, true
		}
		if len(candidates) == 0 {
			break
		}
	}
	if !found {
		return nil, false, nil
	}
	pods := make([]*corev1.Pod, 0, len(candidates))
	for _, obj := range candidates {
		if p, ok := obj.(*corev1.Pod); ok && selector.Matches(labels.Set(p.Labels)) {
			pods = append(pods, p)
		}
	}
	return pods, true, nil
}
