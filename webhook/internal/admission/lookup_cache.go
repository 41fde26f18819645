package admission

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/pkg/generated/clientset/versioned"
	"github.com/memhpa/memhpa/webhook/pkg/generated/informers/externalversions"
)

// byTargetIndex indexes MemHpas and HPAs by "namespace/scaleTargetRef.name",
// so the owner checks of a review are one map read, not a list.
const byTargetIndex = "byScaleTarget"

// CachedLookup is a Lookup over shared informers, the way a production
// webhook reads (KEDA's webhook does the same): reviews read memory, not the
// apiserver. It caches MemHpas and autoscaling/v2 HPAs (indexed by target),
// LimitRanges, and the pod templates of Deployments and StatefulSets, trimmed
// to what the checks read. ReplicaSets are not cached: a cluster keeps ten old
// ReplicaSets per Deployment and MemHpas rarely target one directly, so their
// templates are read live.
//
// Until its informers have synced, and whenever a workload is not in the
// cache (created a moment ago, or not cached), it reads live through the
// fallback Lookup. A MemHpa or HPA created within the watch latency may be
// missed by the owner checks; live reads race with a concurrent create in the
// same way, since admission is not a transaction.
//
// Live reads are bounded, so that reviews for random names cannot become
// apiserver load: all of them share one token bucket (WithLiveReadLimit; a
// read it refuses fails with ErrLiveReadThrottled), and a workload read live
// and found missing is answered "not found" without another read for a few
// seconds (WithNotFoundCache). A workload created in that window is still
// found as soon as its informer has it; only an uncached kind (ReplicaSet)
// can be reported missing for those seconds, a warning and nothing more.
//
// Everything it returns is a copy: callers may change it freely, and the
// cache's objects are never handed out.
type CachedLookup struct {
	live            Lookup
	kubeFactory     informers.SharedInformerFactory
	memhpaFactory   externalversions.SharedInformerFactory
	memHpas         cache.SharedIndexInformer
	hpas            cache.SharedIndexInformer
	limitRanges     cache.SharedIndexInformer
	templates       map[schema.GroupKind]cache.SharedIndexInformer
	informersSynced []cache.InformerSynced
	guard           *lookupGuard
}

var (
	_ Lookup         = (*CachedLookup)(nil)
	_ InMemoryLookup = (*CachedLookup)(nil)
)

// NewCachedLookup builds the informers over kube and memhpa (not started:
// call Start) with live as the fallback, normally NewClientLookup of the same
// clients.
func NewCachedLookup(kube kubernetes.Interface, memhpa versioned.Interface, live Lookup, opts ...CachedLookupOption) (*CachedLookup, error) {
	// No resync: nothing handles events, the informers only keep the stores.
	kf := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithTransform(TrimForCache))
	mf := externalversions.NewSharedInformerFactoryWithOptions(memhpa, 0, externalversions.WithTransform(TrimForCache))
	l := &CachedLookup{
		live:          live,
		kubeFactory:   kf,
		memhpaFactory: mf,
		memHpas:       mf.Autoscaling().V1alpha1().MemHpas().Informer(),
		hpas:          kf.Autoscaling().V2().HorizontalPodAutoscalers().Informer(),
		limitRanges:   kf.Core().V1().LimitRanges().Informer(),
		templates: map[schema.GroupKind]cache.SharedIndexInformer{
			{Group: "apps", Kind: "Deployment"}:  kf.Apps().V1().Deployments().Informer(),
			{Group: "apps", Kind: "StatefulSet"}: kf.Apps().V1().StatefulSets().Informer(),
		},
		guard: newLookupGuard(opts),
	}
	if err := l.memHpas.AddIndexers(cache.Indexers{byTargetIndex: memHpaTargetIndex}); err != nil {
		return nil, fmt.Errorf("index MemHpas by target: %w", err)
	}
	if err := l.hpas.AddIndexers(cache.Indexers{byTargetIndex: hpaTargetIndex}); err != nil {
		return nil, fmt.Errorf("index HorizontalPodAutoscalers by target: %w", err)
	}
	for _, inf := range append([]cache.SharedIndexInformer{l.memHpas, l.hpas, l.limitRanges}, slices.Collect(maps.Values(l.templates))...) {
		l.informersSynced = append(l.informersSynced, inf.HasSynced)
	}
	return l, nil
}

// Start starts the informers; they stop when ctx is done.
func (l *CachedLookup) Start(ctx context.Context) {
	l.kubeFactory.Start(ctx.Done())
	l.memhpaFactory.Start(ctx.Done())
}

// Synced reports whether every informer has listed its objects once (for
// readiness).
func (l *CachedLookup) Synced() bool {
	for _, synced := range l.informersSynced {
		if !synced() {
			return false
		}
	}
	return true
}

// WaitForSync waits until Synced or ctx is done, and reports Synced.
func (l *CachedLookup) WaitForSync(ctx context.Context) bool {
	return cache.WaitForCacheSync(ctx.Done(), l.informersSynced...)
}

// InMemory implements InMemoryLookup: every informer has synced, and the
// target's pod template is cached, or known missing, or of a kind that has
// none. A read may still go live a moment later (a missing entry expired
// between the two): it is then made in the review's goroutine, bounded by
// the review's context as every client-go call is.
func (l *CachedLookup) InMemory(namespace string, gk schema.GroupKind, name string) bool {
	if !l.Synced() {
		return false
	}
	if !podTemplateKind(gk) {
		return true
	}
	if inf, ok := l.templates[gk]; ok {
		if _, exists, err := inf.GetIndexer().GetByKey(namespace + "/" + name); err == nil && exists {
			return true
		}
	}
	return l.guard.notFound.get(WorkloadKey{Namespace: namespace, GroupKind: gk, Name: name}) != nil
}

// Counts returns the counters of live reads so far.
func (l *CachedLookup) Counts() LookupCounts { return l.guard.counts() }

// readLive reads through the fallback when the live-read limit allows it;
// what names the read in the error otherwise.
func readLive[T any](g *lookupGuard, what string, read func() (T, error)) (T, error) {
	if !g.allow() {
		var zero T
		return zero, fmt.Errorf("%s: %w", what, ErrLiveReadThrottled)
	}
	return read()
}

// MemHpas implements Lookup with an index read: only MemHpas of namespace
// whose target is named targetName.
func (l *CachedLookup) MemHpas(ctx context.Context, namespace, targetName string) ([]v1alpha1.MemHpa, error) {
	if !l.memHpas.HasSynced() {
		return readLive(l.guard, "list MemHpas in namespace "+strconv.Quote(namespace), func() ([]v1alpha1.MemHpa, error) {
			return l.live.MemHpas(ctx, namespace, targetName)
		})
	}
	return byIndex(l.memHpas, byTargetIndex, "MemHpas", namespace+"/"+targetName, func(m *v1alpha1.MemHpa) v1alpha1.MemHpa { return *m.DeepCopy() })
}

// HorizontalPodAutoscalers implements Lookup with an index read: only HPAs of
// namespace whose target is named targetName.
func (l *CachedLookup) HorizontalPodAutoscalers(ctx context.Context, namespace, targetName string) ([]autoscalingv2.HorizontalPodAutoscaler, error) {
	if !l.hpas.HasSynced() {
		return readLive(l.guard, "list HorizontalPodAutoscalers in namespace "+strconv.Quote(namespace), func() ([]autoscalingv2.HorizontalPodAutoscaler, error) {
			return l.live.HorizontalPodAutoscalers(ctx, namespace, targetName)
		})
	}
	return byIndex(l.hpas, byTargetIndex, "HorizontalPodAutoscalers", namespace+"/"+targetName,
		func(h *autoscalingv2.HorizontalPodAutoscaler) autoscalingv2.HorizontalPodAutoscaler {
			return *h.DeepCopy()
		})
}

// LimitRanges implements Lookup with a namespace index read.
func (l *CachedLookup) LimitRanges(ctx context.Context, namespace string) ([]corev1.LimitRange, error) {
	if !l.limitRanges.HasSynced() {
		return readLive(l.guard, "list LimitRanges in namespace "+strconv.Quote(namespace), func() ([]corev1.LimitRange, error) {
			return l.live.LimitRanges(ctx, namespace)
		})
	}
	return byIndex(l.limitRanges, cache.NamespaceIndex, "LimitRanges", namespace, func(lr *corev1.LimitRange) corev1.LimitRange { return *lr.DeepCopy() })
}

// PodTemplate implements Lookup. A cached template holds only what TrimForCache
// keeps. A workload missing from the cache, or of a kind it does not cache,
// is read live, unless it was found missing a moment ago.
func (l *CachedLookup) PodTemplate(ctx context.Context, namespace string, gk schema.GroupKind, name string) (*corev1.PodTemplateSpec, error) {
	if !podTemplateKind(gk) {
		return nil, ErrUnsupportedKind // known without a read, so it costs no token
	}
	if inf, ok := l.templates[gk]; ok && inf.HasSynced() {
		obj, exists, err := inf.GetIndexer().GetByKey(namespace + "/" + name)
		if err != nil {
			return nil, fmt.Errorf("read cached %s %s/%s: %w", gk, namespace, name, err)
		}
		if exists {
			switch w := obj.(type) {
			case *appsv1.Deployment:
				return w.Spec.Template.DeepCopy(), nil
			case *appsv1.StatefulSet:
				return w.Spec.Template.DeepCopy(), nil
			}
			return nil, fmt.Errorf("read cached %s %s/%s: unexpected %T in the cache", gk, namespace, name, obj)
		}
	}
	key := WorkloadKey{Namespace: namespace, GroupKind: gk, Name: name}
	if err := l.guard.notFound.get(key); err != nil {
		l.guard.notFoundHits.Add(1)
		return nil, err
	}
	template, err := readLive(l.guard, fmt.Sprintf("get %s %s/%s", gk, namespace, name), func() (*corev1.PodTemplateSpec, error) {
		return l.live.PodTemplate(ctx, namespace, gk, name)
	})
	if apierrors.IsNotFound(err) {
		l.guard.notFound.add(key, err)
	}
	return template, err
}

// byIndex returns copies of the objects of inf's index under key.
func byIndex[T any, P *T](inf cache.SharedIndexInformer, index, what, key string, copyOf func(P) T) ([]T, error) {
	objs, err := inf.GetIndexer().ByIndex(index, key)
	if err != nil {
		return nil, fmt.Errorf("read cached %s %q: %w", what, key, err)
	}
	out := make([]T, 0, len(objs))
	for _, obj := range objs {
		p, ok := obj.(P)
		if !ok {
			return nil, fmt.Errorf("read cached %s %q: unexpected %T in the cache", what, key, obj)
		}
		out = append(out, copyOf(p))
	}
	return out, nil
}

func memHpaTargetIndex(obj any) ([]string, error) {
	m, ok := obj.(*v1alpha1.MemHpa)
	if !ok {
		return nil, fmt.Errorf("index MemHpas: unexpected %T", obj)
	}
	return []string{m.Namespace + "/" + m.Spec.ScaleTargetRef.Name}, nil
}

func hpaTargetIndex(obj any) ([]string, error) {
	h, ok := obj.(*autoscalingv2.HorizontalPodAutoscaler)
	if !ok {
		return nil, fmt.Errorf("index HorizontalPodAutoscalers: unexpected %T", obj)
	}
	return []string{h.Namespace + "/" + h.Spec.ScaleTargetRef.Name}, nil
}

// TrimForCache is the informers' transform: it keeps of a Deployment or
// StatefulSet only its identity and its pod template's containers' names,
// resources and restart policies (all that the checks read), and drops the
// managed fields of every other object, so the webhook's memory grows with
// the number of workloads by a few hundred bytes each.
func TrimForCache(obj any) (any, error) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return &appsv1.Deployment{ObjectMeta: trimMeta(o.ObjectMeta), Spec: appsv1.DeploymentSpec{Template: trimTemplate(o.Spec.Template)}}, nil
	case *appsv1.StatefulSet:
		return &appsv1.StatefulSet{ObjectMeta: trimMeta(o.ObjectMeta), Spec: appsv1.StatefulSetSpec{Template: trimTemplate(o.Spec.Template)}}, nil
	case metav1.Object:
		// Freshly decoded and not yet stored: the transform may change it.
		o.SetManagedFields(nil)
	}
	return obj, nil
}

// trimMeta keeps what the store's keys and the watch need.
func trimMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion, DeletionTimestamp: m.DeletionTimestamp}
}

func trimTemplate(t corev1.PodTemplateSpec) corev1.PodTemplateSpec {
	trim := func(cs []corev1.Container) []corev1.Container {
		if cs == nil {
			return nil
		}
		out := make([]corev1.Container, len(cs))
		for i, c := range cs {
			out[i] = corev1.Container{Name: c.Name, Resources: c.Resources, RestartPolicy: c.RestartPolicy}
		}
		return out
	}
	return corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: trim(t.Spec.Containers), InitContainers: trim(t.Spec.InitContainers)}}
}
