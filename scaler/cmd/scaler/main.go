// Command scaler is memhpa's controller: it scales the targets of MemHpas on
// the memory their pods use, measured by Prometheus as a share of the pods'
// memory limits. Flags → config → run; the work is in internal/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"strconv"
	"sync/atomic"
	"syscall"
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
	logsapi "k8s.io/component-base/logs/api/v1"
	_ "k8s.io/component-base/logs/json/register" // --logging-format=json
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/memhpa/memhpa/scaler/internal/calc"
	"github.com/memhpa/memhpa/scaler/internal/controller"
	"github.com/memhpa/memhpa/scaler/internal/health"
	"github.com/memhpa/memhpa/scaler/internal/leader"
	"github.com/memhpa/memhpa/scaler/internal/promquery"
	"github.com/memhpa/memhpa/scaler/internal/promsource"
	"github.com/memhpa/memhpa/webhook/pkg/generated/clientset/versioned"
	"github.com/memhpa/memhpa/webhook/pkg/generated/clientset/versioned/scheme"
	memhpainformers "github.com/memhpa/memhpa/webhook/pkg/generated/informers/externalversions"
)

// workers is the number of MemHpas reconciled at once (the HPA's default
// --concurrent-horizontal-pod-autoscaler-syncs).
const workers = 5

// benchFlags and benchSetup are empty in the product. A build with the
// memhpabench tag (make bench) adds its comparison mode through them
// (querymode_bench.go), so that the product has neither its flag nor its code.
var (
	benchFlags []func(*flag.FlagSet)
	benchSetup []func(*controller.Controller) error
)

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
	kubeAPIQPS                          float64
	kubeAPIBurst                        int
	kubeAPITimeout                      time.Duration
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
	fs.Int64Var(&o.maxResponseBytes, "prometheus-max-response-bytes", promsource.DefaultMaxResponseBytes,
		"Largest Prometheus answer the scaler reads, in bytes; a larger one fails the cycle's query (decoding costs about six times the size in memory).")
	fs.DurationVar(&o.syncPeriod, "sync-period", 30*time.Second, "How often every MemHpa is evaluated.")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "Path to a kubeconfig; in-cluster configuration when empty.")
	fs.BoolVar(&o.leaderElect, "leader-elect", true, "Elect one active scaler among replicas with a Lease.")
	fs.StringVar(&o.leNamespace, "leader-election-namespace", "", "Namespace of the Lease (default: the pod's namespace, else kube-system).")
	fs.StringVar(&o.leID, "leader-election-id", "memhpa-scaler", "Name of the Lease.")
	fs.DurationVar(&o.leaseDuration, "leader-election-lease-duration", 15*time.Second, "How long a non-leader waits after the last renewal before taking over.")
	fs.DurationVar(&o.renewDeadline, "leader-election-renew-deadline", 10*time.Second, "How long the leader retries renewing before giving up leadership.")
	fs.DurationVar(&o.retryPeriod, "leader-election-retry-period", 2*time.Second, "How long to wait between attempts to acquire or renew the Lease.")
	fs.IntVar(&o.healthPort, "health-port", 8082, "Port of /healthz, /readyz and /promsource.")
	fs.Float64Var(&o.tolerance, "tolerance", 0.1, "Default tolerance on the usage ratio before a MemHpa scales, in both directions.")
	fs.StringVar(&o.memoryMetric, "memory-metric", "container_memory_working_set_bytes", "Prometheus series of a container's memory use, in bytes.")
	fs.StringVar(&o.memoryMetricSelector, "memory-metric-selector", "", "Extra label matchers on --memory-metric, comma-separated, "+
		`values in double quotes: job="kubelet",metrics_path="/metrics/cadvisor" reads one of two scrape jobs that export the same containers.`)
	fs.DurationVar(&o.downscaleStabilization, "downscale-stabilization", 5*time.Minute, "Scale-down stabilisation window of MemHpas without behavior.scaleDown.stabilizationWindowSeconds.")
	fs.Float64Var(&o.kubeAPIQPS, "kube-api-qps", 500, "Client-side limit of requests per second to the apiserver (every MemHpa costs one GET of its target's /scale per cycle); API priority and fairness protects the server.")
	fs.IntVar(&o.kubeAPIBurst, "kube-api-burst", 1000, "Burst of requests to the apiserver above --kube-api-qps.")
	fs.DurationVar(&o.kubeAPITimeout, "kube-api-timeout", 30*time.Second, "Timeout of one apiserver request of the work (reads of /scale, writes of /scale and status); watches have none. The Lease's requests time out after half of --leader-election-renew-deadline.")
	fs.BoolVar(&o.profiling, "profiling", false, "Serve Go's pprof profiles on the health port under /debug/pprof/.")
	for _, add := range benchFlags {
		add(fs)
	}
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
	if o.kubeAPIQPS <= 0 || o.kubeAPIBurst < 1 {
		errs = append(errs, fmt.Errorf("--kube-api-qps and --kube-api-burst must be positive, got %v and %d", o.kubeAPIQPS, o.kubeAPIBurst))
	}
	if o.kubeAPITimeout <= 0 {
		errs = append(errs, fmt.Errorf("--kube-api-timeout must be positive, got %v", o.kubeAPITimeout))
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
func (o *options) prometheusConfig() promsource.Config {
	return promsource.Config{
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
	// Reads and writes of the work get a timeout, so that a hung request can
	// hold neither a reconcile nor the shutdown; informers' watches cannot
	// have one (client-go applies it to the whole stream,
	// kubernetes/kubernetes#23899), and end with their context instead.
	watchCfg := rest.CopyConfig(cfg)
	cfg.Timeout = o.kubeAPITimeout

	// Registered before the first client is built, so every request counts.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := controller.NewMonitor(reg)
	controller.RegisterClientMetrics(m.KubeRequests)

	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("create kubernetes client: %w", err)
	}
	kubeWatch, err := kubernetes.NewForConfig(watchCfg)
	if err != nil {
		return fmt.Errorf("create kubernetes client: %w", err)
	}
	client, err := versioned.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("create MemHpa client: %w", err)
	}
	clientWatch, err := versioned.NewForConfig(watchCfg)
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
	source, err := promsource.NewPrometheus(o.prometheusConfig())
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
	ctrl, err := controller.New(controller.Deps{
		Client: client, MemHpas: memhpaFactory.Autoscaling().V1alpha1().MemHpas(), Pods: podFactory.Core().V1().Pods(),
		HPAs:   hpaFactory.Autoscaling().V2().HorizontalPodAutoscalers(),
		Scales: scales, Mapper: mapper, Source: source, Recorder: recorder, Clock: clock.RealClock{}, Monitor: m,
	}, controller.Config{
		SyncPeriod: o.syncPeriod,
		Calc:       calc.Config{Tolerance: o.tolerance, DownscaleStabilization: o.downscaleStabilization, SyncPeriod: o.syncPeriod},
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
	if o.leaderElect {
		// /healthz fails once this process has held the lease unrenewed past
		// its expiry (plus this slack): the kubelet then restarts a leader
		// that is stuck.
		electionHealth = leaderelection.NewLeaderHealthzAdaptor(o.leaseDuration)
		live = append(live, electionHealth)
	}
	srv := health.NewServer(health.Options{Port: o.healthPort, Registry: reg, Ready: ready.Load, Live: live, Profiling: o.profiling})
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

	// Informers run on every replica, so that a new leader starts warm. They
	// stop through informerCtx, which is cancelled whenever run returns (a
	// lost lease included) before the factories' Shutdown waits for them:
	// stopped on the process context alone, Shutdown would wait forever.
	informerCtx, stopInformers := context.WithCancel(ctx)
	factories := []interface {
		Start(<-chan struct{})
		Shutdown()
		WaitForCacheSync(<-chan struct{}) map[reflect.Type]bool
	}{memhpaFactory, podFactory, hpaFactory}
	for _, f := range factories {
		f.Start(informerCtx.Done())
		defer f.Shutdown()
	}
	defer stopInformers() // runs before the Shutdowns (deferred last, run first)
	for _, f := range factories {
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
	if !o.leaderElect {
		m.Leader.Set(1)
		err = lead(context.WithoutCancel(ctx))
	} else {
		err = runElected(stopCtx, o, cfg, electionHealth, m, lead)
	}
	stopWork()
	return errors.Join(err, serveErr)
}

// runElected runs lead only while this process holds the Lease; a lost lease
// returns leader.ErrLost, and main exits (kube-controller-manager's rule): the
// kubelet starts the container again, clean.
func runElected(ctx context.Context, o *options, cfg *rest.Config, hc *leaderelection.HealthzAdaptor, m *controller.Monitor, lead func(context.Context) error) error {
	host, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("get hostname for the leader identity: %w", err)
	}
	ns := o.leNamespace
	if ns == "" {
		ns = podNamespace()
	}
	leaseCfg := rest.CopyConfig(cfg)
	leaseCfg.Timeout = leader.ClientTimeout(o.renewDeadline)
	leases, err := kubernetes.NewForConfig(rest.AddUserAgent(leaseCfg, "leader-election"))
	if err != nil {
		return fmt.Errorf("create leader election client: %w", err)
	}
	return leader.Run(ctx, leader.Config{
		Namespace: ns, Name: o.leID, Identity: host + "_" + strconv.Itoa(os.Getpid()),
		LeaseDuration: o.leaseDuration, RenewDeadline: o.renewDeadline, RetryPeriod: o.retryPeriod,
		Client: leases.CoordinationV1(), Health: hc,
		OnLeading: func(b bool) {
			if b {
				m.Leader.Set(1)
			} else {
				m.Leader.Set(0)
			}
		},
	}, lead)
}

// podNamespace is the namespace of the service account, or kube-system.
func podNamespace() string {
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil && len(b) > 0 {
		return string(b)
	}
	return "kube-system"
}
