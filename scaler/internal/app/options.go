// Package app is the scaler as a program: its command line (Options:
// AddFlags, Validate, Complete) and Run, which wires the clients, the
// informers, the health server and leader election around the controller.
// cmd/scaler only parses the command line and calls Run.
package app

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"k8s.io/client-go/tools/leaderelection"
	logsapi "k8s.io/component-base/logs/api/v1"
	_ "k8s.io/component-base/logs/json/register" // --logging-format=json

	"github.com/memhpa/memhpa/scaler/internal/calc"
	"github.com/memhpa/memhpa/scaler/internal/controller"
	"github.com/memhpa/memhpa/scaler/internal/promquery"
	"github.com/memhpa/memhpa/scaler/internal/promsource"
)

// DefaultPrometheusTimeout is the deadline of one Prometheus query when
// --prometheus-timeout is not set and --sync-period is longer.
const DefaultPrometheusTimeout = 10 * time.Second

// MaxShards bounds --shards: every replica polls each Lease it does not hold
// once a retry period, so 64 shards and 3 replicas are about 100 Lease
// requests every 2 s.
const MaxShards = 64

// Options are the command line, exactly as docs/architecture.md lists it.
// Validate reports what is wrong with them and changes nothing; Complete
// turns them into a Config, deriving what the flags leave unset.
type Options struct {
	promName, promNamespace, promScheme string
	promPort                            int
	prometheusURL                       string
	bearerTokenFile, caFile             string
	prometheusTimeout                   time.Duration // 0: derived by Complete
	maxResponseBytes                    int64
	allowInsecureBearerToken            bool
	syncPeriod                          time.Duration
	kubeconfig                          string
	leaderElect                         bool
	leNamespace, leID                   string
	leaseDuration, renewDeadline        time.Duration
	retryPeriod                         time.Duration
	shards                              int
	healthPort                          int
	tolerance                           float64
	memoryMetric                        string
	memoryMetricSelector                string
	downscaleStabilization              time.Duration
	oomKillWindow                       time.Duration
	cpuMetric                           string
	cpuRateWindow                       time.Duration
	cpuInitializationPeriod             time.Duration
	initialReadinessDelay               time.Duration
	kubeAPIQPS                          float64
	kubeAPIBurst                        int
	kubeAPITimeout                      time.Duration
	profiling                           bool
	// Logging is component-base's --logging-format, -v and friends; the
	// caller applies it once per process (logsapi.ValidateAndApply).
	Logging *logsapi.LoggingConfiguration
}

// NewOptions returns the options; AddFlags sets their defaults.
func NewOptions() *Options {
	return &Options{Logging: logsapi.NewLoggingConfiguration()}
}

// benchFlags is empty in the product. A build with the memhpabench tag (make
// bench) adds its comparison flag through it (querymode_bench.go), so that
// the product has neither the flag nor its code.
var benchFlags []func(*flag.FlagSet)

// AddFlags registers the flags, with their defaults, on fs.
func (o *Options) AddFlags(fs *flag.FlagSet) {
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
	fs.DurationVar(&o.prometheusTimeout, "prometheus-timeout", 0, fmt.Sprintf("Deadline of one Prometheus query, shorter than --sync-period. "+
		"Unset (0): %v, or half of --sync-period when that is not longer than %v.", DefaultPrometheusTimeout, DefaultPrometheusTimeout))
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
	fs.IntVar(&o.shards, "shards", 1, fmt.Sprintf("Number of shards the MemHpas are split into by namespace, each with its own Lease "+
		"(--leader-election-id-<i>; one shard: --leader-election-id itself), at most %d; every replica leads the shards it wins. "+
		"Needs --leader-elect; change it with no scaler running (replicas of two counts would act on the same MemHpas).", MaxShards))
	fs.IntVar(&o.healthPort, "health-port", 8082, "Port of /healthz, /readyz and /metrics.")
	fs.Float64Var(&o.tolerance, "tolerance", 0.1, "Default tolerance on the usage ratio before a MemHpa scales, in both directions.")
	fs.StringVar(&o.memoryMetric, "memory-metric", "container_memory_working_set_bytes", "Prometheus series of a container's memory use, in bytes.")
	fs.StringVar(&o.memoryMetricSelector, "memory-metric-selector", "", "Extra label matchers on --memory-metric, comma-separated, "+
		`values in double quotes: job="kubelet",metrics_path="/metrics/cadvisor" reads one of two scrape jobs that export the same containers.`)
	fs.DurationVar(&o.downscaleStabilization, "downscale-stabilization", 5*time.Minute, "Scale-down stabilisation window of MemHpas without behavior.scaleDown.stabilizationWindowSeconds.")
	fs.DurationVar(&o.oomKillWindow, "oom-kill-window", calc.DefaultOOMKillWindow, "How long an OOM kill counts: a counted container "+
		"whose last termination was an OOM kill that finished within it counts at 100 % of its limit, and its MemHpa does not scale down; 0 turns this off.")
	fs.StringVar(&o.cpuMetric, "cpu-metric", "container_cpu_usage_seconds_total",
		"Prometheus counter of a container's CPU time, in core-seconds, for MemHpas with spec.cpuTargetUtilizationPercentage (read with --memory-metric-selector too).")
	fs.DurationVar(&o.cpuRateWindow, "cpu-rate-window", controller.DefaultCPURateWindow,
		"Window of the rate of --cpu-metric, in whole seconds; at least two of Prometheus's scrape intervals, or a pod has no CPU rate.")
	fs.DurationVar(&o.cpuInitializationPeriod, "cpu-initialization-period", calc.DefaultCPUInitializationPeriod,
		"After a pod starts, how long its CPU counts only once it has been Ready for a whole --cpu-rate-window (kube-controller-manager's --horizontal-pod-autoscaler-cpu-initialization-period).")
	fs.DurationVar(&o.initialReadinessDelay, "initial-readiness-delay", calc.DefaultInitialReadinessDelay,
		"After a pod starts, how long a readiness change counts as its initial readiness: a pod not Ready since then is left out of CPU (kube-controller-manager's --horizontal-pod-autoscaler-initial-readiness-delay).")
	fs.Float64Var(&o.kubeAPIQPS, "kube-api-qps", 500, "Client-side limit of requests per second to the apiserver (a MemHpa whose target is not a Deployment, StatefulSet or ReplicaSet costs one GET of its target's /scale per cycle; those three are read from informers); API priority and fairness protects the server.")
	fs.IntVar(&o.kubeAPIBurst, "kube-api-burst", 1000, "Burst of requests to the apiserver above --kube-api-qps.")
	fs.DurationVar(&o.kubeAPITimeout, "kube-api-timeout", 30*time.Second, "Timeout of one apiserver request of the work (reads of /scale, writes of /scale and status); watches have none. The Lease's requests time out after half of --leader-election-renew-deadline.")
	fs.BoolVar(&o.profiling, "profiling", false, "Serve Go's pprof profiles on the health port under /debug/pprof/.")
	for _, add := range benchFlags {
		add(fs)
	}
	logsapi.AddGoFlags(o.Logging, fs)
}

// Validate reports every invalid flag at once, one error each, and changes
// nothing.
func (o *Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.syncPeriod <= 0 {
		bad("--sync-period must be positive, got %v", o.syncPeriod)
	}
	if o.prometheusTimeout < 0 || (o.prometheusTimeout > 0 && o.prometheusTimeout >= o.syncPeriod) {
		bad("--prometheus-timeout must be positive and shorter than --sync-period (%v), or unset, got %v", o.syncPeriod, o.prometheusTimeout)
	}
	if o.maxResponseBytes <= 0 {
		bad("--prometheus-max-response-bytes must be positive, got %d", o.maxResponseBytes)
	}
	if _, err := promquery.ParseSelector(o.memoryMetricSelector); err != nil {
		bad("--memory-metric-selector: %w", err)
	}
	if o.tolerance < 0 {
		bad("--tolerance must not be negative, got %v", o.tolerance)
	}
	if o.downscaleStabilization < 0 {
		bad("--downscale-stabilization must not be negative, got %v", o.downscaleStabilization)
	}
	if o.oomKillWindow < 0 {
		bad("--oom-kill-window must not be negative, got %v", o.oomKillWindow)
	}
	if o.cpuRateWindow < 2*time.Second || o.cpuRateWindow%time.Second != 0 {
		bad("--cpu-rate-window must be a whole number of seconds, at least 2s, got %v", o.cpuRateWindow)
	}
	if o.cpuInitializationPeriod < 0 {
		bad("--cpu-initialization-period must not be negative, got %v", o.cpuInitializationPeriod)
	}
	if o.initialReadinessDelay < 0 {
		bad("--initial-readiness-delay must not be negative, got %v", o.initialReadinessDelay)
	}
	if o.kubeAPIQPS <= 0 {
		bad("--kube-api-qps must be positive, got %v", o.kubeAPIQPS)
	}
	if o.kubeAPIBurst < 1 {
		bad("--kube-api-burst must be positive, got %d", o.kubeAPIBurst)
	}
	if o.kubeAPITimeout <= 0 {
		bad("--kube-api-timeout must be positive, got %v", o.kubeAPITimeout)
	}
	if o.promScheme != "http" && o.promScheme != "https" {
		bad("-prom-scheme must be http or https, got %q", o.promScheme)
	}
	if o.healthPort <= 0 || o.healthPort > 65535 {
		bad("--health-port must be a port number, got %d", o.healthPort)
	}
	if o.shards < 1 || o.shards > MaxShards {
		bad("--shards must be between 1 and %d, got %d", MaxShards, o.shards)
	}
	if o.shards > 1 && !o.leaderElect {
		bad("--shards=%d needs --leader-elect: the shards are Leases", o.shards)
	}
	if o.leaderElect && !(o.leaseDuration > o.renewDeadline && float64(o.renewDeadline) > leaderelection.JitterFactor*float64(o.retryPeriod)) {
		bad("leader election needs --leader-election-lease-duration (%v) > --leader-election-renew-deadline (%v) > %.1f × --leader-election-retry-period (%v)",
			o.leaseDuration, o.renewDeadline, leaderelection.JitterFactor, o.retryPeriod)
	}
	return errors.Join(errs...)
}

// Complete validates the options and returns the Config they mean. It
// derives, and says so here, what a flag leaves unset: the Prometheus
// deadline (DefaultPrometheusTimeout, or half the sync period when that is
// not longer, so that the default fits a short period too) and the address
// of Prometheus from -prom-* when --prometheus-url is empty.
func (o *Options) Complete() (Config, error) {
	if err := o.Validate(); err != nil {
		return Config{}, err
	}
	sel, err := promquery.ParseSelector(o.memoryMetricSelector)
	if err != nil {
		return Config{}, fmt.Errorf("--memory-metric-selector: %w", err) // Validate has seen it parse
	}
	timeout := o.prometheusTimeout
	if timeout == 0 {
		timeout = DefaultPrometheusTimeout
		if timeout >= o.syncPeriod {
			timeout = o.syncPeriod / 2
		}
	}
	return Config{
		Prometheus: promsource.Config{
			URL:                      o.prometheusAddress(),
			BearerTokenFile:          o.bearerTokenFile,
			AllowInsecureBearerToken: o.allowInsecureBearerToken,
			CAFile:                   o.caFile,
			Timeout:                  timeout,
			Metric:                   o.memoryMetric,
			Selector:                 sel,
			MaxResponseBytes:         o.maxResponseBytes,
			CPUMetric:                o.cpuMetric,
			CPURateWindow:            o.cpuRateWindow,
		},
		SyncPeriod: o.syncPeriod,
		Calc: calc.Config{Tolerance: o.tolerance, DownscaleStabilization: o.downscaleStabilization, SyncPeriod: o.syncPeriod,
			OOMKillWindow:           o.oomKillWindow,
			CPUInitializationPeriod: o.cpuInitializationPeriod, InitialReadinessDelay: o.initialReadinessDelay},
		Kubeconfig: o.kubeconfig,
		KubeAPI:    KubeAPI{QPS: float32(o.kubeAPIQPS), Burst: o.kubeAPIBurst, Timeout: o.kubeAPITimeout},
		LeaderElection: LeaderElection{
			Enabled: o.leaderElect, Namespace: o.leNamespace, Name: o.leID,
			LeaseDuration: o.leaseDuration, RenewDeadline: o.renewDeadline, RetryPeriod: o.retryPeriod,
			Shards: o.shards,
		},
		HealthPort: o.healthPort,
		Profiling:  o.profiling,
	}, nil
}

// prometheusAddress is --prometheus-url, or scheme://name.namespace.svc:port.
func (o *Options) prometheusAddress() string {
	if o.prometheusURL != "" {
		return o.prometheusURL
	}
	return fmt.Sprintf("%s://%s.%s.svc:%d", o.promScheme, o.promName, o.promNamespace, o.promPort)
}

// Config is what the scaler runs with: the options, completed.
type Config struct {
	// Prometheus is how to reach Prometheus and what to ask it.
	Prometheus promsource.Config
	// SyncPeriod is how often every MemHpa is evaluated.
	SyncPeriod time.Duration
	// Calc holds the decision's settings.
	Calc calc.Config
	// Kubeconfig is a kubeconfig's path; empty: in-cluster.
	Kubeconfig string
	// KubeAPI are the client's limits on apiserver requests.
	KubeAPI KubeAPI
	// LeaderElection says whether and how to hold the Lease.
	LeaderElection LeaderElection
	// HealthPort serves /healthz, /readyz, /metrics (and pprof).
	HealthPort int
	// Profiling serves pprof on HealthPort.
	Profiling bool
}

// KubeAPI are the client-side limits of the scaler's apiserver requests.
type KubeAPI struct {
	QPS   float32
	Burst int
	// Timeout is of one request of the work; watches have none.
	Timeout time.Duration
}

// LeaderElection is the Lease that elects one active scaler.
type LeaderElection struct {
	Enabled bool
	// Namespace of the Lease; empty: the pod's namespace, else kube-system
	// (resolved by Run, which reads the service account's namespace).
	Namespace, Name                           string
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Shards is the number of shards, each with its Lease; 1: one Lease
	// named Name, the scaler without shards.
	Shards int
}
