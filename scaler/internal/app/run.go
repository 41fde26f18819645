package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/scale"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/memhpa/memhpa/scaler/internal/controller"
	"github.com/memhpa/memhpa/scaler/internal/health"
	"github.com/memhpa/memhpa/scaler/internal/leader"
	"github.com/memhpa/memhpa/scaler/internal/promsource"
	"github.com/memhpa/memhpa/scaler/internal/shard"
	"github.com/memhpa/memhpa/webhook/pkg/generated/clientset/versioned"
	"github.com/memhpa/memhpa/webhook/pkg/generated/clientset/versioned/scheme"
	memhpainformers "github.com/memhpa/memhpa/webhook/pkg/generated/informers/externalversions"
)

// workers is the number of MemHpas reconciled at once (the HPA's default
// --concurrent-horizontal-pod-autoscaler-syncs).
const workers = 5

// benchSetup is empty in the product; a build with the memhpabench tag sets
// the controller's query mode through it (querymode_bench.go).
var benchSetup []func(*controller.Controller) error

// benchDeps is empty in the product; a build with the memhpabench tag
// changes the controller's collaborators through it (scalemode_bench.go).
var benchDeps []func(*controller.Deps)

// Run wires the clients, the event recorder, the informers, the health
// server and leader election around the controller, and runs it until ctx
// ends or the lease is lost.
func Run(ctx context.Context, c Config) error {
	logger := klog.FromContext(ctx)
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	cfg.UserAgent = "memhpa-scaler"
	// client-go's default 5 QPS would make a cycle of 1,000 MemHpas on kinds
	// read by GET of /scale (not Deployments, StatefulSets or ReplicaSets,
	// which come from informers) last 200 s; the server has API priority and
	// fairness.
	cfg.QPS, cfg.Burst = c.KubeAPI.QPS, c.KubeAPI.Burst
	// Reads and writes of the work get a timeout, so that a hung request can
	// hold neither a reconcile nor the shutdown; informers' watches cannot
	// have one (client-go applies it to the whole stream,
	// kubernetes/kubernetes#23899), and end with their context instead.
	watchCfg := rest.CopyConfig(cfg)
	cfg.Timeout = c.KubeAPI.Timeout

	// Registered before the first client is built, so every request counts.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := controller.NewMonitor(reg)
	controller.RegisterClientMetrics(m.KubeRequests)

	kube, client, err := newClients(cfg)
	if err != nil {
		return err
	}
	kubeWatch, clientWatch, err := newClients(watchCfg)
	if err != nil {
		return err
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return fmt.Errorf("create discovery client: %w", err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))
	scales, err := scale.NewForConfig(cfg, mapper, dynamic.LegacyAPIPathResolverFunc, scale.NewDiscoveryScaleKindResolver(disc))
	if err != nil {
		return fmt.Errorf("create scale client: %w", err)
	}
	source, err := promsource.NewPrometheus(c.Prometheus)
	if err != nil {
		return fmt.Errorf("create prometheus client: %w", err)
	}

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartStructuredLogging(3)
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "memhpa-scaler"})

	memhpaFactory := memhpainformers.NewSharedInformerFactory(clientWatch, 0)
	podFactory := kubeinformers.NewSharedInformerFactoryWithOptions(kubeWatch, 0, kubeinformers.WithTransform(controller.TransformPod))
	hpaFactory := kubeinformers.NewSharedInformerFactoryWithOptions(kubeWatch, 0, kubeinformers.WithTransform(controller.TransformHPA))
	// The scales of Deployments, StatefulSets and ReplicaSets come from these
	// informers, started always (not when a MemHpa first targets a kind):
	// trimmed, a workload costs about 1.8 KB (docs/decisions.md), and a
	// leader that takes over has them warm.
	appsFactory := kubeinformers.NewSharedInformerFactoryWithOptions(kubeWatch, 0, kubeinformers.WithTransform(controller.TransformWorkload))
	deps := controller.Deps{
		Client: client, MemHpas: memhpaFactory.Autoscaling().V1alpha1().MemHpas(), Pods: podFactory.Core().V1().Pods(),
		HPAs:   hpaFactory.Autoscaling().V2().HorizontalPodAutoscalers(),
		Scales: scales, Mapper: mapper, Source: source, Recorder: recorder, Clock: clock.RealClock{}, Monitor: m,
		Workloads: &controller.WorkloadInformers{
			Deployments:  appsFactory.Apps().V1().Deployments(),
			StatefulSets: appsFactory.Apps().V1().StatefulSets(),
			ReplicaSets:  appsFactory.Apps().V1().ReplicaSets(),
		},
	}
	var shards *shard.Set
	if c.LeaderElection.Enabled && c.LeaderElection.Shards > 1 {
		shards = shard.NewSet(c.LeaderElection.Shards, c.LeaderElection.RetryPeriod, clock.RealClock{})
		deps.Shards = shards
	}
	for _, change := range benchDeps {
		change(&deps)
	}
	ctrl, err := controller.New(deps, controller.Config{
		SyncPeriod:    c.SyncPeriod,
		Calc:          c.Calc,
		CPURateWindow: c.Prometheus.CPURateWindow,
	})
	if err != nil {
		return err
	}
	for _, setup := range benchSetup {
		if err := setup(ctrl); err != nil {
			return err
		}
	}

	var ready atomic.Bool
	var electionHealth *leaderelection.HealthzAdaptor
	live := []health.Checker(nil)
	if c.LeaderElection.Enabled {
		// /healthz fails once this process has held the lease unrenewed past
		// its expiry (plus this slack): the kubelet then restarts a leader
		// that is stuck.
		electionHealth = leaderelection.NewLeaderHealthzAdaptor(c.LeaderElection.LeaseDuration)
		live = append(live, electionHealth)
	}
	// With shards, the same for the lease of each (the first is electionHealth).
	shardHealth := []*leaderelection.HealthzAdaptor{electionHealth}
	for range c.LeaderElection.Shards - 1 {
		shardHealth = append(shardHealth, leaderelection.NewLeaderHealthzAdaptor(c.LeaderElection.LeaseDuration))
		live = append(live, shardHealth[len(shardHealth)-1])
	}
	srv := health.NewServer(health.Options{Port: c.HealthPort, Registry: reg, Ready: ready.Load, Live: live, Profiling: c.Profiling})
	srvErr := make(chan error, 1)
	go func() {
		logger.Info("Serving health and metrics", "port", c.HealthPort)
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			srvErr <- fmt.Errorf("serve health and metrics: %w", err)
		}
	}()
	defer func() {
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()

	// Informers run on every replica, so that a new leader starts warm. They
	// stop through informerCtx, which is cancelled whenever run returns (a
	// lost lease included) before the factories' Shutdown waits for them:
	// stopped on the process context alone, Shutdown would wait forever.
	informerCtx, stopInformers := context.WithCancel(ctx)
	type factory interface {
		Start(<-chan struct{})
		Shutdown()
		WaitForCacheSync(<-chan struct{}) map[reflect.Type]bool
	}
	// The workload informers are not waited for: until they have synced
	// (or while RBAC refuses them their list) scales are read by GET.
	waited := []factory{memhpaFactory, podFactory, hpaFactory}
	for _, f := range append(waited, appsFactory) {
		f.Start(informerCtx.Done())
		defer f.Shutdown()
	}
	defer stopInformers() // runs before the Shutdowns (deferred last, run first)
	for _, f := range waited {
		for typ, ok := range f.WaitForCacheSync(informerCtx.Done()) {
			if !ok {
				return fmt.Errorf("sync informer of %v: %w", typ, ctx.Err())
			}
		}
	}
	ready.Store(true)

	// The work stops gracefully on SIGTERM (ctx) and at once when the
	// leadership context ends; a failing health server ends both.
	stopCtx, stopWork := context.WithCancel(ctx)
	defer stopWork()
	var serveErr error
	go func() {
		select {
		case serveErr = <-srvErr:
			stopWork()
		case <-stopCtx.Done():
		}
	}()
	lead := func(leadCtx context.Context) error { return ctrl.Run(leadCtx, stopCtx, workers) }
	switch {
	case !c.LeaderElection.Enabled:
		m.Leader.Set(1)
		err = lead(context.WithoutCancel(ctx))
	case shards != nil:
		err = runSharded(stopCtx, c.LeaderElection, cfg, shards, shardHealth, m, ctrl)
	default:
		err = runElected(stopCtx, c.LeaderElection, cfg, electionHealth, m, lead)
	}
	stopWork()
	return errors.Join(err, serveErr)
}

// newClients returns the Kubernetes and the MemHpa clients of cfg.
func newClients(cfg *rest.Config) (*kubernetes.Clientset, *versioned.Clientset, error) {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("create kubernetes client: %w", err)
	}
	client, err := versioned.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("create MemHpa client: %w", err)
	}
	return kube, client, nil
}

// runElected runs lead only while this process holds the Lease; a lost lease
// returns leader.ErrLost, and main exits (kube-controller-manager's rule): the
// kubelet starts the container again, clean.
func runElected(ctx context.Context, le LeaderElection, cfg *rest.Config, hc *leaderelection.HealthzAdaptor, m *controller.Monitor, lead func(context.Context) error) error {
	base, err := leaseConfig(le, cfg)
	if err != nil {
		return err
	}
	base.Name, base.Health = le.Name, hc
	base.OnLeading = func(b bool) {
		if b {
			m.Leader.Set(1)
		} else {
			m.Leader.Set(0)
		}
	}
	return leader.Run(ctx, base, lead)
}

// leaseConfig is the part of every Lease's election that flags and the
// process give: namespace, identity, timings and client.
func leaseConfig(le LeaderElection, cfg *rest.Config) (leader.Config, error) {
	host, err := os.Hostname()
	if err != nil {
		return leader.Config{}, fmt.Errorf("get hostname for the leader identity: %w", err)
	}
	ns := le.Namespace
	if ns == "" {
		ns = podNamespace()
	}
	leaseCfg := rest.CopyConfig(cfg)
	leaseCfg.Timeout = leader.ClientTimeout(le.RenewDeadline)
	leases, err := kubernetes.NewForConfig(rest.AddUserAgent(leaseCfg, "leader-election"))
	if err != nil {
		return leader.Config{}, fmt.Errorf("create leader election client: %w", err)
	}
	return leader.Config{
		Namespace: ns, Identity: host + "_" + strconv.Itoa(os.Getpid()),
		LeaseDuration: le.LeaseDuration, RenewDeadline: le.RenewDeadline, RetryPeriod: le.RetryPeriod,
		Client: leases.CoordinationV1(),
	}, nil
}

// runSharded runs the controller for the life of the process and campaigns
// for the Lease of every shard at once; the controller reconciles the
// MemHpas of the shards this process leads, each inside its shard's
// leadership (controller.Deps.Shards). A lost shard's work stops at once,
// what the process remembered of its MemHpas is dropped, and it campaigns
// for the shard again; the process does not exit as it does with one Lease:
// that would drop every other shard it leads too, and clean state for the
// lost shard is had without a restart (Controller.Release, TakeOver).
func runSharded(ctx context.Context, le LeaderElection, cfg *rest.Config, set *shard.Set, hcs []*leaderelection.HealthzAdaptor, m *controller.Monitor, ctrl *controller.Controller) error {
	logger := klog.FromContext(ctx)
	base, err := leaseConfig(le, cfg)
	if err != nil {
		return err
	}
	// A campaign that cannot run (a bad configuration) stops everything,
	// gracefully.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	work := make(chan error, 1)
	go func() { work <- ctrl.Run(context.WithoutCancel(ctx), ctx, workers) }()

	var (
		mu      sync.Mutex
		leading = map[int]bool{}
		wg      sync.WaitGroup
		errs    = make([]error, set.N())
	)
	for i := range set.N() {
		label := strconv.Itoa(i)
		m.ShardLeader.WithLabelValues(label).Set(0)
		in := func(ns string) bool { return shard.Of(ns, set.N()) == i }
		lc := base
		lc.Name, lc.Health, lc.Acquire = shard.LeaseName(le.Name, i, set.N()), hcs[i], set.Acquire(i)
		lc.OnLeading = func(b bool) {
			mu.Lock()
			defer mu.Unlock()
			if b {
				leading[i] = true
				m.ShardLeader.WithLabelValues(label).Set(1)
			} else {
				delete(leading, i)
				m.ShardLeader.WithLabelValues(label).Set(0)
			}
			m.Leader.Set(float64(min(len(leading), 1)))
		}
		lead := func(leadCtx context.Context) error {
			set.Lead(leadCtx, ctx, i, func() { ctrl.TakeOver(in) })
			ctrl.Release(in)
			return nil
		}
		wg.Go(func() {
			for {
				err := leader.Run(ctx, lc, lead)
				set.Released(i)
				if !errors.Is(err, leader.ErrLost) || ctx.Err() != nil {
					if err != nil {
						errs[i] = fmt.Errorf("shard %d: %w", i, err)
						stop()
					}
					return
				}
				logger.Info("Lost the lease of a shard, campaigning again", "shard", i, "lease", klog.KRef(lc.Namespace, lc.Name))
			}
		})
	}
	wg.Wait()
	stop()
	return errors.Join(append(errs, <-work)...)
}

// podNamespace is the namespace of the service account, or kube-system.
func podNamespace() string {
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil && len(b) > 0 {
		return string(b)
	}
	return "kube-system"
}
