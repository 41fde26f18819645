package admission

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// ErrVPACacheNotSynced is returned by VPAWatcher.VerticalPodAutoscalers in
// the moments after the VPA API appeared, before its informer has listed.
var ErrVPACacheNotSynced = errors.New("the VerticalPodAutoscaler cache has not synced yet")

// ResourceDiscovery is the part of discovery a VPAWatcher asks
// (discovery.DiscoveryInterface has it).
type ResourceDiscovery interface {
	ServerResourcesForGroupVersion(groupVersion string) (*metav1.APIResourceList, error)
}

// Default intervals of a VPAWatcher's discovery.
const (
	DefaultVPADiscoveryInterval = time.Minute
	DefaultVPADiscoveryMinGap   = 10 * time.Second
)

// VPAWatcher keeps VerticalPodAutoscalers in an informer while the cluster
// serves their API, read as unstructured objects (no dependency on the VPA's
// Go module). It asks discovery whether the API is served at start, every
// interval, and after a review found it missing (at most once per minGap),
// so that a VPA CRD installed after the webhook started is seen within a
// minute, and at once when a MemHpa is reviewed ten seconds later; it stops
// the informer when the API goes away.
type VPAWatcher struct {
	discovery ResourceDiscovery
	client    dynamic.Interface
	interval  time.Duration
	minGap    time.Duration
	kick      chan struct{}

	mu       sync.Mutex
	informer cache.SharedIndexInformer // nil while the API is not served
	stop     context.CancelFunc
}

var _ VPALookup = (*VPAWatcher)(nil)

// NewVPAWatcher returns a watcher (not running: call Run) that asks disc
// every interval (DefaultVPADiscoveryInterval when 0), and at most once per
// minGap after a miss (DefaultVPADiscoveryMinGap when 0).
func NewVPAWatcher(disc ResourceDiscovery, client dynamic.Interface, interval, minGap time.Duration) *VPAWatcher {
	if interval <= 0 {
		interval = DefaultVPADiscoveryInterval
	}
	if minGap <= 0 {
		minGap = DefaultVPADiscoveryMinGap
	}
	return &VPAWatcher{discovery: disc, client: client, interval: interval, minGap: minGap, kick: make(chan struct{}, 1)}
}

// Run checks discovery until ctx is done, then stops the informer.
func (w *VPAWatcher) Run(ctx context.Context) {
	ticker := time.NewTicker(w.interval)
	defer ticker.Stop()
	defer w.setInformer(nil, nil)
	for {
		w.check(ctx)
		last := time.Now()
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-w.kick:
			// A miss: look again now, but not more often than minGap.
			if wait := w.minGap - time.Since(last); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		}
	}
}

// check starts or stops the informer as discovery says the API is served.
func (w *VPAWatcher) check(ctx context.Context) {
	logger := klog.FromContext(ctx)
	served, err := w.served()
	if err != nil {
		logger.Error(err, "Could not tell whether the cluster serves VerticalPodAutoscalers; checking again later")
		return
	}
	w.mu.Lock()
	running := w.informer != nil
	w.mu.Unlock()
	switch {
	case served && !running:
		logger.Info("The cluster serves VerticalPodAutoscalers: watching them", "resource", VPAResource.String())
		infCtx, cancel := context.WithCancel(ctx)
		f := dynamicinformer.NewFilteredDynamicSharedInformerFactory(w.client, 0, metav1.NamespaceAll, nil)
		inf := f.ForResource(VPAResource).Informer()
		if err := inf.SetTransform(trimVPA); err != nil {
			cancel()
			logger.Error(err, "Could not set up the VerticalPodAutoscaler informer")
			return
		}
		if err := inf.AddIndexers(cache.Indexers{byTargetIndex: vpaTargetIndex}); err != nil {
			cancel()
			logger.Error(err, "Could not set up the VerticalPodAutoscaler informer")
			return
		}
		f.Start(infCtx.Done())
		w.setInformer(inf, cancel)
	case !served && running:
		logger.Info("The cluster no longer serves VerticalPodAutoscalers: stopped watching them", "resource", VPAResource.String())
		w.setInformer(nil, nil)
	}
}

// served asks discovery whether the VPA resource is served.
func (w *VPAWatcher) served() (bool, error) {
	list, err := w.discovery.ServerResourcesForGroupVersion(VPAResource.GroupVersion().String())
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("discover %s: %w", VPAResource.GroupVersion(), err)
	}
	return slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == VPAResource.Resource }), nil
}

// setInformer replaces the informer, stopping the previous one.
func (w *VPAWatcher) setInformer(inf cache.SharedIndexInformer, stop context.CancelFunc) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stop != nil {
		w.stop()
	}
	w.informer, w.stop = inf, stop
}

// InMemory implements InMemoryLookup: the watcher never reads the apiserver
// for a review (before its informer has synced it answers with an error).
func (w *VPAWatcher) InMemory(string, schema.GroupKind, string) bool { return true }

// VerticalPodAutoscalers implements VPALookup with an index read. While the
// API is not served there are none, and discovery is asked again soon.
func (w *VPAWatcher) VerticalPodAutoscalers(_ context.Context, namespace, targetName string) ([]VerticalPodAutoscaler, error) {
	w.mu.Lock()
	inf := w.informer
	w.mu.Unlock()
	if inf == nil {
		select {
		case w.kick <- struct{}{}:
		default: // a check is already due
		}
		return nil, nil
	}
	if !inf.HasSynced() {
		return nil, ErrVPACacheNotSynced
	}
	objs, err := byIndex(inf, byTargetIndex, "VerticalPodAutoscalers", namespace+"/"+targetName,
		func(u *unstructured.Unstructured) unstructured.Unstructured { return *u })
	if err != nil {
		return nil, err
	}
	out := make([]VerticalPodAutoscaler, 0, len(objs))
	for i := range objs {
		v, err := vpaFromUnstructured(&objs[i]) // decoding copies: the cache is not handed out
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func vpaTargetIndex(obj any) ([]string, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("index VerticalPodAutoscalers: unexpected %T", obj)
	}
	name, _, _ := unstructured.NestedString(u.Object, "spec", "targetRef", "name")
	return []string{u.GetNamespace() + "/" + name}, nil
}

// trimVPA keeps of a VerticalPodAutoscaler its identity and the parts of its
// spec the rule reads; its status (recommendations) is dropped.
func trimVPA(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil // a tombstone
	}
	out := &unstructured.Unstructured{Object: map[string]any{}}
	out.SetAPIVersion(u.GetAPIVersion())
	out.SetKind(u.GetKind())
	out.SetName(u.GetName())
	out.SetNamespace(u.GetNamespace())
	out.SetUID(u.GetUID())
	out.SetResourceVersion(u.GetResourceVersion())
	out.SetDeletionTimestamp(u.GetDeletionTimestamp())
	if spec, ok := u.Object["spec"].(map[string]any); ok {
		kept := map[string]any{}
		for _, k := range []string{"targetRef", "updatePolicy", "resourcePolicy"} {
			if v, ok := spec[k]; ok {
				kept[k] = v
			}
		}
		out.Object["spec"] = kept
	}
	return out, nil
}
