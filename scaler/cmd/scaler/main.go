// Command scaler is memhpa's controller: it scales the targets of MemHpas on
// the memory their pods use, measured by Prometheus as a share of the pods'
// memory limits. Flags → config → run; the work is in internal/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/scale"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	logsapi "k8s.io/component-base/logs/api/v1"
	_ "k8s.io/component-base/logs/json/register" // --logging-format=json
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/memhpa/memhpa/scaler/internal/calc"
	"github.com/memhpa/memhpa/scaler/internal/controller"
	"github.com/memhpa/memhpa/scaler/internal/metrics"
	"github.com/memhpa/memhpa/scaler/internal/promquery"
	"github.com/memhpa/memhpa/webhook/pkg/generated/clientset/versioned"
	"github.com/memhpa/memhpa/webhook/pkg/generated/clientset/versioned/scheme"
	memhpainformers "github.com/memhpa/memhpa/webhook/pkg/generated/informers/externalversions"
)

// workers is the number of MemHpas reconciled at once (the HPA's default
// --concurrent-horizontal-pod-autoscaler-syncs).
const workers = 5

// options are the command line, exactly as docs/architecture.md lists it.
type options struct {
	promName, promNamespace, promScheme string
	promPort                            int
	prometheusURL                       string
	bearerTokenFile, caFile             string
	prometheusTimeout                   time.Duration
	maxResponseBytes                    int64
	allowInsecureBearerToken            bool
	syncPeriod                          time.Duration
	kubeconfig                          string
	leaderElect                         bool
	leNamespace, leID                   string
	leaseDuration, renewDeadline        time.Duration
	retryPeriod                         time.Duration
	healthPort                          int
	tolerance                           float64
	memoryMetric                        string
	memoryMetricSelector                string
	selector                            promquery.Selector // memoryMetricSelector, parsed by validate
	downscaleStabilization              time.Duration
	queryMode                           string
	kubeAPIQPS                          float64
	kubeAPIBurst                        int
	profiling                           bool
	timeoutSet                          bool
	logging                             *logsapi.LoggingConfiguration
}

func (o *options) addFlags(fs *flag.FlagSet) {
	// The original design's single-dash names; Go's flag package accepts
	// -name and --name alike.
	fs.StringVar(&o.promName, "prom-name", "prometheus", "Service name of Prometheus.")
	fs.StringVar(&o.promNamespace, "prom-namespace", "kube-system", "Namespace of the Prometheus Service.")
	fs.IntVar(&o.promPort, "prom-port", 9090, "Port of the Prometheus Service.")
	fs.StringVar(&o.promScheme, "prom-scheme", "http", "Scheme of the Prometheus Service (http or https).")
	fs.StringVar(&o.prometheusURL, "prometheus-url", "", "Full URL of Prometheus; overrides -prom-name, -prom-namespace, -prom-port and -prom-scheme.")
	fs.StringVar(&o.bearerTokenFile, "prometheus-bearer-token-file", "", "File with a bearer token for Prometheus, re-read on every query.")
	fs.StringVar(&o.caFile, "prometheus-ca-file", "", "CA bundle that signs Prometheus's serving certificate.")
	fs.BoolVar(&o.allowInsecureBearerToken, "prometheus-allow-insecure-bearer-token", false,
		"Send --prometheus-bearer-token-file's token over plain http too (for a sidecar that encrypts the traffic); without it the scaler refuses to start.")
	fs.DurationVar(&o.prometheusTimeout, "prometheus-timeout", 10*time.Second, "Deadline of one Prometheus query.")
	fs.Int64Var(&o.maxResponseBytes, "prometheus-max-response-bytes", metrics.DefaultMaxResponseBytes,
		"Largest Prometheus answer the scaler reads, in bytes; a larger one fails the cycle's query (decoding costs about six times the size in memory).")
	fs.DurationVar(&o.syncPeriod, "sync-period", 30*time.Second, "How often every MemHpa is evaluated.")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "Path to a kubeconfig; in-cluster configuration when empty.")
	fs.BoolVar(&o.leaderElect, "leader-elect", true, "Elect one active scaler among replicas with a Lease.")
	fs.StringVar(&o.leNamespace, "leader-election-namespace", "", "Namespace of the Lease (default: the pod's namespace, else kube-system).")
	fs.StringVar(&o.leID, "leader-election-id", "memhpa-scaler", "Name of the Lease.")
	fs.DurationVar(&o.leaseDuration, "leader-election-lease-duration", 15*time.Second, "How long a non-leader waits after the last renewal before taking over.")
	fs.DurationVar(&o.renewDeadline, "leader-election-renew-deadline", 10*time.Second, "How long the leader retries renewing before giving up leadership.")
	fs.DurationVar(&o.retryPeriod, "leader-election-retry-period", 2*time.Second, "How long to wait between attempts to acquire or renew the Lease.")
	fs.IntVar(&o.healthPort, "health-port", 8082, "Port of /healthz, /readyz and /metrics.")
	fs.Float64Var(&o.tolerance, "tolerance", 0.1, "Default tolerance on the usage ratio before a MemHpa scales, in both directions.")
	fs.StringVar(&o.memoryMetric, "memory-metric", "container_memory_working_set_bytes", "Prometheus series of a container's memory use, in bytes.")
	fs.StringVar(&o.memoryMetricSelector, "memory-metric-selector", "", "Extra label matchers on --memory-metric, comma-separated, "+
		`values in double quotes: job="kubelet",metrics_path="/metrics/cadvisor" reads one of two scrape jobs that export the same containers.`)
	fs.DurationVar(&o.downscaleStabilization, "downscale-stabilization", 5*time.Minute, "Scale-down stabilisation window of MemHpas without behavior.scaleDown.stabilizationWindowSeconds.")
	fs.Float64Var(&o.kubeAPIQPS, "kube-api-qps", 500, "Client-side limit of requests per second to the apiserver (every MemHpa costs one GET of its target's /scale per cycle); API priority and fairness protects the server.")
	fs.IntVar(&o.kubeAPIBurst, "kube-api-burst", 1000, "Burst of requests to the apiserver above --kube-api-qps.")
	fs.BoolVar(&o.profiling, "profiling", false, "Serve Go's pprof profiles on the health port under /debug/pprof/.")
	fs.StringVar(&o.queryMode, "prometheus-query-mode", string(controller.QueryBatched), "Not for production: exists only for make bench's comparison. "+
		"batched sends one Prometheus query per cycle; per-memhpa sends one per MemHpa for its own pods.")
	o.logging = logsapi.NewLoggingConfiguration()
	logsapi.AddGoFlags(o.logging, fs)
}

// noteExplicit records which defaults the command line overrode.
func (o *options) noteExplicit(fs *flag.FlagSet) {
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "prometheus-timeout" {
			o.timeoutSet = true
		}
	})
}

func (o *options) validate() error {
	var errs []error
	if o.syncPeriod <= 0 {
		errs = append(errs, fmt.Errorf("--sync-period must be positive, got %v", o.syncPeriod))
	}
	if !o.timeoutSet && o.prometheusTimeout >= o.syncPeriod {
		// The default deadline (10 s) must fit in a short period too.
		o.prometheusTimeout = o.syncPeriod / 2
	}
	if o.prometheusTimeout <= 0 || o.prometheusTimeout >= o.syncPeriod {
		errs = append(errs, fmt.Errorf("--prometheus-timeout must be positive and shorter than --sync-period, got %v", o.prometheusTimeout))
	}
	if o.maxResponseBytes <= 0 {
		errs = append(errs, fmt.Errorf("--prometheus-max-response-bytes must be positive, got %d", o.maxResponseBytes))
	}
	sel, err := promquery.ParseSelector(o.memoryMetricSelector)
	if err != nil {
		errs = append(errs, fmt.Errorf("--memory-metric-selector: %w", err))
	}
	o.selector = sel
	if o.tolerance < 0 {
		errs = append(errs, fmt.Errorf("--tolerance must not be negative, got %v", o.tolerance))
	}
	if o.downscaleStabilization < 0 {
		errs = append(errs, fmt.Errorf("--downscale-stabilization must not be negative, got %v", o.downscaleStabilization))
	}
	if o.queryMode != string(controller.QueryBatched) && o.queryMode != string(controller.QueryPerMemHpa) {
		errs = append(errs, fmt.Errorf("--prometheus-query-mode must be %s or %s, got %q", controller.QueryBatched, controller.QueryPerMemHpa, o.queryMode))
	}
	if o.kubeAPIQPS <= 0 || o.kubeAPIBurst < 1 {
		errs = append(errs, fmt.Errorf("--kube-api-qps and --kube-api-burst must be positive, got %v and %d", o.kubeAPIQPS, o.kubeAPIBurst))
	}
	if o.promScheme != "http" && o.promScheme != "https" {
		errs = append(errs, fmt.Errorf("-prom-scheme must be http or https, got %q", o.promScheme))
	}
	if o.healthPort <= 0 || o.healthPort > 65535 {
		errs = append(errs, fmt.Errorf("--health-port must be a port number, got %d", o.healthPort))
	}
	if o.leaderElect && !(o.leaseDuration > o.renewDeadline && float64(o.renewDeadline) > leaderelection.JitterFactor*float64(o.retryPeriod)) {
		errs = append(errs, fmt.Errorf("leader election needs lease-duration > renew-deadline > %.1f × retry-period", leaderelection.JitterFactor))
	}
	return errors.Join(errs...)
}

// prometheusConfig is how the flags say to reach Prometheus.
func (o *options) prometheusConfig() metrics.Config {
	return metrics.Config{
		URL:                      o.prometheusAddress(),
		BearerTokenFile:          o.bearerTokenFile,
		AllowInsecureBearerToken: o.allowInsecureBearerToken,
		CAFile:                   o.caFile,
		Timeout:                  o.prometheusTimeout,
		Metric:                   o.memoryMetric,
		Selector:                 o.selector,
		MaxResponseBytes:         o.maxResponseBytes,
	}
}

// prometheusAddress is --prometheus-url, or scheme://name.namespace.svc:port.
func (o *options) prometheusAddress() string {
	if o.prometheusURL != "" {
		return o.prometheusURL
	}
	return fmt.Sprintf("%s://%s.%s.svc:%d", o.promScheme, o.promName, o.promNamespace, o.promPort)
}

func main() {
	o := &options{}
	fs := flag.NewFlagSet(os.Args[0], flag.ExitOnError)
	o.addFlags(fs)
	_ = fs.Parse(os.Args[1:]) // ExitOnError
	o.noteExplicit(fs)
	if err := logsapi.ValidateAndApply(o.logging, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	logger := klog.FromContext(ctx)
	ctx = klog.NewContext(ctx, logger)
	if err := run(ctx, o); err != nil {
		logger.Error(err, "Scaler failed")
		klog.FlushAndExit(klog.ExitFlushTimeout, 1)
	}
	klog.Flush()
}

func run(ctx context.Context, o *options) error {
	logger := klog.FromContext(ctx)
	cfg, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	cfg.UserAgent = "memhpa-scaler"
	// client-go's default 5 QPS would make a cycle of 1,000 MemHpas (one GET
	// of /scale each) last 200 s; the server has API priority and fairness.
	cfg.QPS, cfg.Burst = float32(o.kubeAPIQPS), o.kubeAPIBurst

	// Registered before the first client is built, so every request counts.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := controller.NewMetrics(reg)
	controller.RegisterClientMetrics(m.KubeRequests)

	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("create kubernetes client: %w", err)
	}
	client, err := versioned.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("create MemHpa client: %w", err)
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
	source, err := metrics.NewPrometheus(o.prometheusConfig())
	if err != nil {
		return fmt.Errorf("create prometheus client: %w", err)
	}

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartStructuredLogging(3)
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "memhpa-scaler"})

	memhpaFactory := memhpainformers.NewSharedInformerFactory(client, 0)
	podFactory := kubeinformers.NewSharedInformerFactoryWithOptions(kube, 0, kubeinformers.WithTransform(controller.TransformPod))
	ctrl, err := controller.New(controller.Deps{
		Client: client, MemHpas: memhpaFactory.Autoscaling().V1alpha1().MemHpas(), Pods: podFactory.Core().V1().Pods(),
		Scales: scales, Mapper: mapper, Source: source, Recorder: recorder, Clock: clock.RealClock{}, Metrics: m,
	}, controller.Config{
		SyncPeriod: o.syncPeriod,
		Calc:       calc.Config{Tolerance: o.tolerance, DownscaleStabilization: o.downscaleStabilization},
		QueryMode:  controller.QueryMode(o.queryMode),
	})
	if err != nil {
		return err
	}

	var ready atomic.Bool
	srv := healthServer(o.healthPort, reg, &ready, o.profiling)
	srvErr := make(chan error, 1)
	go func() {
		logger.Info("Serving health and metrics", "port", o.healthPort)
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			srvErr <- fmt.Errorf("serve health and metrics: %w", err)
		}
	}()
	defer func() {
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()

	// Informers run on every replica, so that a new leader starts warm.
	memhpaFactory.Start(ctx.Done())
	podFactory.Start(ctx.Done())
	defer memhpaFactory.Shutdown()
	defer podFactory.Shutdown()
	for typ, ok := range memhpaFactory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("sync informer of %v: %w", typ, ctx.Err())
		}
	}
	for typ, ok := range podFactory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("sync informer of %v: %w", typ, ctx.Err())
		}
	}
	ready.Store(true)

	lead := func(ctx context.Context) error { return ctrl.Run(ctx, workers) }
	if !o.leaderElect {
		m.Leader.Set(1)
		return runUntil(ctx, lead, srvErr)
	}
	return runElected(ctx, o, kube, m, lead, srvErr)
}

// runUntil runs fn until ctx ends or the health server fails.
func runUntil(ctx context.Context, fn func(context.Context) error, srvErr <-chan error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	select {
	case err := <-srvErr:
		cancel()
		<-done
		return err
	case err := <-done:
		return err
	}
}

// runElected runs lead only while this process holds the Lease. On shutdown
// the Lease is released, but only after lead has returned (its work in flight
// finished), so that two scalers never act at once (ReleaseOnCancel's rule).
func runElected(ctx context.Context, o *options, kube kubernetes.Interface, m *controller.Metrics, lead func(context.Context) error, srvErr <-chan error) error {
	logger := klog.FromContext(ctx)
	host, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("get hostname for the leader identity: %w", err)
	}
	id := host + "_" + strconv.Itoa(os.Getpid())
	ns := o.leNamespace
	if ns == "" {
		ns = podNamespace()
	}
	// The elector's own context: cancelling it releases the Lease.
	electCtx, stopElect := context.WithCancel(context.WithoutCancel(ctx))
	defer stopElect()
	var (
		mu      sync.Mutex
		leading bool
		failure error
	)
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: ns, Name: o.leID},
			Client:     kube.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: id},
		},
		ReleaseOnCancel: true,
		LeaseDuration:   o.leaseDuration,
		RenewDeadline:   o.renewDeadline,
		RetryPeriod:     o.retryPeriod,
		Name:            o.leID,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leCtx context.Context) {
				mu.Lock()
				leading = true
				mu.Unlock()
				defer stopElect() // only once the work is done
				logger.Info("Started leading", "lease", klog.KRef(ns, o.leID), "identity", id)
				m.Leader.Set(1)
				defer m.Leader.Set(0)
				// Lead until shutdown, or until the Lease is lost.
				runCtx, cancel := context.WithCancel(leCtx)
				defer cancel()
				defer context.AfterFunc(ctx, cancel)()
				if err := lead(runCtx); err != nil {
					mu.Lock()
					failure = err
					mu.Unlock()
				}
			},
			OnStoppedLeading: func() {
				m.Leader.Set(0)
				logger.Info("Stopped leading", "lease", klog.KRef(ns, o.leID), "identity", id)
			},
		},
	})
	if err != nil {
		return fmt.Errorf("configure leader election: %w", err)
	}
	go func() {
		select {
		case <-ctx.Done():
			// A follower stops at once; a leader stops its elector itself
			// when its work is done.
			mu.Lock()
			defer mu.Unlock()
			if !leading {
				stopElect()
			}
		case err := <-srvErr:
			mu.Lock()
			failure = err
			mu.Unlock()
			stopElect()
		case <-electCtx.Done():
		}
	}()
	elector.Run(electCtx)
	mu.Lock()
	defer mu.Unlock()
	if failure != nil {
		return failure
	}
	if ctx.Err() == nil {
		// Kubernetes controllers exit on a lost lease and start again clean.
		return errors.New("lost the leader election lease")
	}
	return nil
}

// podNamespace is the namespace of the service account, or kube-system.
func podNamespace() string {
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil && len(b) > 0 {
		return string(b)
	}
	return "kube-system"
}

// healthServer serves /healthz (the process is up), /readyz (the caches have
// synced), /metrics and, with profiling, /debug/pprof/.
func healthServer(port int, reg *prometheus.Registry, ready *atomic.Bool, profiling bool) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "informer caches not synced", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	if profiling {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return &http.Server{
		Addr:              net.JoinHostPort("", strconv.Itoa(port)),
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
	}
}
