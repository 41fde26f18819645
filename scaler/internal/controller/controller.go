// Package controller is the scaler's thin shell around calc: informers for
// MemHpas and pods, a rate-limited work queue fed every sync period and at
// once when a MemHpa is created or its spec changes, one batched Prometheus
// query per cycle, the /scale subresource of any target through a RESTMapper,
// and the status, conditions, events and metrics that tell users what
// happened. The decision itself is calc's; this package gathers its input and
// writes its outcome.
package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	autoscalinginformers "k8s.io/client-go/informers/autoscaling/v2"
	coreinformers "k8s.io/client-go/informers/core/v1"
	autoscalinglisters "k8s.io/client-go/listers/autoscaling/v2"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/scale"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/memhpa/memhpa/scaler/internal/calc"
	"github.com/memhpa/memhpa/scaler/internal/promsource"
	v1alpha1 "github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/pkg/generated/clientset/versioned"
	informers "github.com/memhpa/memhpa/webhook/pkg/generated/informers/externalversions/autoscaling/v1alpha1"
	listers "github.com/memhpa/memhpa/webhook/pkg/generated/listers/autoscaling/v1alpha1"
)

// FieldManager names the scaler's writes.
const FieldManager = "memhpa-scaler"

// Config holds the controller's settings.
type Config struct {
	// SyncPeriod is how often every MemHpa is evaluated.
	SyncPeriod time.Duration
	// Calc holds the decision's settings (tolerance, stabilisation window).
	Calc calc.Config
	// CPURateWindow is the window of the CPU query's rate (cpu.go); zero
	// means DefaultCPURateWindow.
	CPURateWindow time.Duration
}

// Controller reconciles MemHpas.
type Controller struct {
	client   versioned.Interface
	memhpas  listers.MemHpaLister
	pods     corelisters.PodLister
	hpas     autoscalinglisters.HorizontalPodAutoscalerLister
	scales   scale.ScalesGetter
	mapper   meta.RESTMapper
	recorder record.EventRecorder
	clock    clock.Clock
	config   Config
	monitor  *Monitor
	sampler  *sampler
	queue    workqueue.TypedRateLimitingInterface[string]
	synced   []cache.InformerSynced
	cycle    cycle

	// cpuSampler runs the CPU query (cpu.go); nil when the source has none.
	cpuSampler *sampler
	// scaleCaches read the scale of the apps/v1 kinds from informers.
	scaleCaches map[schema.GroupResource]cachedScale
	// podIndex finds pods by namespace and label (podsOf).
	podIndex cache.Indexer
	// memhpaIndex finds MemHpas by target, selectors those whose selector
	// may match a pod (otherAutoscalers).
	memhpaIndex cache.Indexer
	selectors   *selectorIndex
	// shards, when set, admits only the MemHpas of the shards this process
	// leads, each with its shard's leadership as context.
	shards Shards

	mu sync.Mutex
	// state is what the controller remembers of each MemHpa between
	// reconciles, by key; an entry holds the UID it belongs to, so that a
	// MemHpa deleted and created again under the same name starts afresh
	// even when a reconcile in flight wrote the old one back.
	state map[string]memHpaState
}

// memHpaState is one MemHpa's memory between reconciles.
type memHpaState struct {
	uid     types.UID
	history calc.History
	// selector is the target's pod selector as last read, for the
	// ambiguity check of other MemHpas in the namespace.
	selector labels.Selector
	// conflicts counts scale writes refused in a row with a conflict.
	conflicts int
	// oomReported holds the restart count of each recent OOM kill already
	// reported by an event, so that each kill is reported once.
	oomReported map[oomKey]int32
}

// oomKey names a container of one pod (by UID too: a StatefulSet's pod
// created again under its name starts its restart count afresh).
type oomKey struct {
	pod       string
	uid       types.UID
	container string
}

// Deps are the controller's collaborators.
type Deps struct {
	Client  versioned.Interface
	MemHpas informers.MemHpaInformer
	Pods    coreinformers.PodInformer
	// HPAs, when set, are checked for a HorizontalPodAutoscaler on a
	// MemHpa's target (two autoscalers on one workload).
	HPAs     autoscalinginformers.HorizontalPodAutoscalerInformer
	Scales   scale.ScalesGetter
	Mapper   meta.RESTMapper
	Source   promsource.Source
	Recorder record.EventRecorder
	Clock    clock.Clock
	Monitor  *Monitor

	// Workloads, when set, serve the scale of Deployments, StatefulSets and
	// ReplicaSets from their caches; other kinds, and these when not cached,
	// are read with a GET of /scale.
	Workloads *WorkloadInformers

	// Shards, when set, are the shards this process leads (internal/shard):
	// a MemHpa is reconciled only while its namespace's shard is led, and
	// with that shard's leadership as its context instead of Run's.
	Shards Shards
}

// Shards says which namespaces this process leads (shard.Set is one).
type Shards interface {
	Leads(namespace string) bool
	// Enter admits one reconcile in namespace's shard: its leadership
	// context, and done to call when the reconcile is over; false when the
	// shard is not led.
	Enter(namespace string) (ctx context.Context, done func(), ok bool)
}

// New returns a controller; its informers must be started by the caller.
func New(d Deps, cfg Config) (*Controller, error) {
	if cfg.Calc.SyncPeriod == 0 {
		// One fact: the cap's period is the controller's.
		cfg.Calc.SyncPeriod = cfg.SyncPeriod
	}
	smp := &sampler{source: d.Source, clock: d.Clock, maxAge: cfg.SyncPeriod, monitor: d.Monitor}
	c := &Controller{
		client:   d.Client,
		memhpas:  d.MemHpas.Lister(),
		pods:     d.Pods.Lister(),
		scales:   d.Scales,
		mapper:   d.Mapper,
		recorder: d.Recorder,
		clock:    d.Clock,
		config:   cfg,
		monitor:  d.Monitor,
		sampler:  smp,
		// Failed items are retried with backoff, but never sooner than 1 s nor
		// later than a sync period: the next cycle retries anyway.
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Second, cfg.SyncPeriod),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "memhpa"}),
		synced: []cache.InformerSynced{d.MemHpas.Informer().HasSynced, d.Pods.Informer().HasSynced},
		state:  map[string]memHpaState{},
		shards: d.Shards,
	}
	if cfg.CPURateWindow == 0 {
		c.config.CPURateWindow = DefaultCPURateWindow
	}
	c.cpuSampler = newCPUSampler(d.Source, smp)
	c.scaleCaches = scaleCaches(d.Workloads)
	if err := d.Pods.Informer().AddIndexers(cache.Indexers{podLabelIndex: indexPodLabels}); err != nil {
		return nil, fmt.Errorf("add the pod label index: %w", err)
	}
	c.podIndex = d.Pods.Informer().GetIndexer()
	if err := d.MemHpas.Informer().AddIndexers(cache.Indexers{memhpaTargetIndex: indexMemHpaTargets}); err != nil {
		return nil, fmt.Errorf("add the MemHpa target index: %w", err)
	}
	c.memhpaIndex = d.MemHpas.Informer().GetIndexer()
	c.selectors = newSelectorIndex()
	if d.HPAs != nil {
		c.hpas = d.HPAs.Lister()
		c.synced = append(c.synced, d.HPAs.Informer().HasSynced)
	}
	_, err := d.MemHpas.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueue,
		UpdateFunc: func(old, cur any) {
			// A spec change (a new generation) or an annotation change (a
			// pause) is evaluated at once, through the same history, so an
			// edit cannot force an instant scale-down; status writes (ours)
			// are not.
			o, ok1 := old.(*v1alpha1.MemHpa)
			n, ok2 := cur.(*v1alpha1.MemHpa)
			if ok1 && ok2 && o.Generation == n.Generation && maps.Equal(o.Annotations, n.Annotations) {
				return
			}
			c.enqueue(cur)
		},
		DeleteFunc: c.forget,
	})
	if err != nil {
		return nil, fmt.Errorf("add MemHpa event handler: %w", err)
	}
	return c, nil
}

func (c *Controller) enqueue(obj any) {
	key, err := cache.MetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	if ns, _, _ := cache.SplitMetaNamespaceKey(key); !c.leads(ns) {
		return
	}
	c.queue.Add(key)
}

// leads reports whether this process reconciles the MemHpas of namespace
// ns: always without shards.
func (c *Controller) leads(ns string) bool {
	return c.shards == nil || c.shards.Leads(ns)
}

// TakeOver starts on the MemHpas of the namespaces in (a shard just
// acquired): what this process remembered of them is dropped, as a new
// leader starts without it, and they are queued at once rather than at the
// next resync.
func (c *Controller) TakeOver(in func(namespace string) bool) {
	for _, key := range c.keysIn(in) {
		c.dropState(key)
		c.queue.Add(key)
	}
}

// Release drops what this process remembers of the MemHpas of the
// namespaces in (a shard no longer led), their metric series included: the
// replica that leads them now exports those.
func (c *Controller) Release(in func(namespace string) bool) {
	// The MemHpas remembered and those cached, each once.
	keys := map[string]struct{}{}
	c.mu.Lock()
	for key := range c.state {
		if ns, _, _ := cache.SplitMetaNamespaceKey(key); in(ns) {
			keys[key] = struct{}{}
		}
	}
	c.mu.Unlock()
	for _, key := range c.keysIn(in) {
		keys[key] = struct{}{}
	}
	for key := range keys {
		c.dropState(key)
	}
}

// keysIn lists the keys of the cached MemHpas of the namespaces in.
func (c *Controller) keysIn(in func(namespace string) bool) []string {
	all, err := c.memhpas.List(labels.Everything())
	if err != nil {
		return nil
	}
	var keys []string
	for _, h := range all {
		if in(h.Namespace) {
			if key, err := cache.MetaNamespaceKeyFunc(h); err == nil {
				keys = append(keys, key)
			}
		}
	}
	return keys
}

func (c *Controller) forget(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.Forget(key)
	c.dropState(key)
}

// dropState forgets a MemHpa: its history and its metric series.
func (c *Controller) dropState(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.state, key)
	c.selectors.remove(key)
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	c.monitor.dropMemHpa(ns, name)
}

// collectGarbage drops the state of every MemHpa that is not in live: a
// reconcile in flight while its MemHpa was deleted (or its namespace) may
// have written it back after the delete handler ran.
func (c *Controller) collectGarbage(live map[string]types.UID) {
	c.mu.Lock()
	var gone []string
	for key, st := range c.state {
		if uid, ok := live[key]; !ok || uid != st.uid {
			gone = append(gone, key)
		}
	}
	c.mu.Unlock()
	for _, key := range gone {
		c.dropState(key)
	}
	c.monitor.dropMemHpasExcept(live)
}

// Run evaluates every MemHpa every sync period with the given number of
// workers. Two contexts end it:
//
//   - ctx is the leadership: every request of the work is made with it, so
//     when the lease is lost the requests in flight are cancelled and nothing
//     is written afterwards (each write checks it first, too);
//   - stop is the graceful shutdown: no new item is taken, the items in
//     flight finish on the live ctx, and Run returns, so that the caller
//     releases the lease only when nothing acts any more.
func (c *Controller) Run(ctx, stop context.Context, workers int) error {
	logger := klog.FromContext(ctx)
	defer utilruntime.HandleCrashWithContext(ctx)
	// Either context ends the loop.
	loopCtx, cancelLoop := context.WithCancel(ctx)
	defer cancelLoop()
	defer context.AfterFunc(stop, cancelLoop)()

	logger.Info("Waiting for informer caches")
	if !cache.WaitForNamedCacheSyncWithContext(loopCtx, c.synced...) {
		c.queue.ShutDown()
		return fmt.Errorf("wait for informer caches: %w", loopCtx.Err())
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for c.processNextItem(ctx, loopCtx) {
			}
		})
	}
	go wait.UntilWithContext(loopCtx, c.resync, c.config.SyncPeriod)
	logger.Info("Started workers", "workers", workers, "syncPeriod", c.config.SyncPeriod)
	<-loopCtx.Done()
	logger.Info("Shutting down workers", "leading", ctx.Err() == nil)
	c.queue.ShutDown()
	wg.Wait()
	return nil
}

// resync starts a cycle: the next query is fresh and every MemHpa is queued.
func (c *Controller) resync(ctx context.Context) {
	all, err := c.memhpas.List(labels.Everything())
	if err != nil {
		klog.FromContext(ctx).Error(err, "Failed to list MemHpas")
		return
	}
	c.monitor.memhpas.Set(float64(len(all)))
	c.sampler.invalidate()
	if c.cpuSampler != nil {
		c.cpuSampler.invalidate()
	}
	keys := make([]string, 0, len(all))
	live := make(map[string]types.UID, len(all))
	for _, h := range all {
		if !c.leads(h.Namespace) {
			continue // another replica's shard: its state is dropped below
		}
		if key, err := cache.MetaNamespaceKeyFunc(h); err == nil {
			keys = append(keys, key)
			live[key] = h.UID
		}
	}
	c.collectGarbage(live)
	if !c.cycle.begin(c.clock.Now(), keys) {
		c.monitor.cycleOverruns.Inc()
	}
	for _, key := range keys {
		c.queue.Add(key)
	}
}

// processNextItem reconciles one queued MemHpa with ctx (the leadership, or
// its shard's). Once loop is done it takes no new work: what is still queued
// is left for the next leader.
func (c *Controller) processNextItem(ctx, loop context.Context) bool {
	key, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	defer c.queue.Done(key)
	if loop.Err() != nil {
		return false
	}
	if c.shards != nil {
		ns, _, _ := cache.SplitMetaNamespaceKey(key)
		shardCtx, done, ok := c.shards.Enter(ns)
		if !ok {
			// Another replica's shard (or one lost since it was queued).
			c.queue.Forget(key)
			c.endReconcile(key)
			return true
		}
		defer done()
		ctx = shardCtx
	}
	err := c.sync(ctx, key)
	c.endReconcile(key)
	if err != nil {
		// Reported once, here, at the top of the work item.
		utilruntime.HandleErrorWithContext(ctx, err, "Failed to reconcile MemHpa", "key", key)
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

// endReconcile counts key's reconcile as done in the cycle, and observes
// the cycle's duration when it was the cycle's last.
func (c *Controller) endReconcile(key string) {
	if d, last := c.cycle.done(key, c.clock.Now()); last {
		c.monitor.observeCycle(d)
	}
}

// namespacesInPlay lists the namespaces that have MemHpas.
func (c *Controller) namespacesInPlay() []string {
	return c.namespacesWhere(func(*v1alpha1.MemHpa) bool { return true })
}

// namespacesWhere lists, sorted, the namespaces that have a MemHpa for
// which keep is true.
func (c *Controller) namespacesWhere(keep func(*v1alpha1.MemHpa) bool) []string {
	all, err := c.memhpas.List(labels.Everything())
	if err != nil {
		return nil
	}
	var ns []string
	for _, h := range all {
		if keep(h) && c.leads(h.Namespace) {
			ns = append(ns, h.Namespace)
		}
	}
	slices.Sort(ns)
	return slices.Compact(ns)
}

// podsOf lists the pods of a namespace that match the selector: through the
// pod label index when the selector allows it, else by a walk of the
// namespace's pods.
func (c *Controller) podsOf(ns string, selector labels.Selector) ([]*corev1.Pod, error) {
	if pods, ok, err := indexedPods(c.podIndex, ns, selector); ok || err != nil {
		return pods, err
	}
	pods, err := c.pods.Pods(ns).List(selector)
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	return pods, nil
}
