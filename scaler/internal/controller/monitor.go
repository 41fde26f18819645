package controller

import (
	"context"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	clientmetrics "k8s.io/client-go/tools/metrics"

	v1alpha1 "github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
)

// Label values of the reconciliation metrics, the HPA's
// (pkg/controller/podautoscaler/monitor).
const (
	ActionScaleUp   = "scale_up"
	ActionScaleDown = "scale_down"
	ActionNone      = "none"

	ErrorSpec     = "spec"
	ErrorInternal = "internal"
	ErrorNone     = "none"
)

// duplicateSeriesHelp is the help of memhpa_scaler_duplicate_series_containers.
const duplicateSeriesHelp = "Containers of a MemHpa's pods that more than one Prometheus series reported at its last evaluation " +
	"(two scrape jobs of one kubelet, two agents writing into one store), each counted once at its largest figure; " +
	"--memory-metric-selector picks one job."

// Monitor holds the scaler's own Prometheus metrics, served on /metrics
// (the memory samples it reads come from promsource).
type Monitor struct {
	reconciliations *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	queryDuration   *prometheus.HistogramVec
	queryFailures   *prometheus.CounterVec
	desired         *prometheus.GaugeVec
	duplicates      *prometheus.GaugeVec
	status          *statusMetrics
	seriesMu        sync.Mutex
	seriesOf        map[string][2]string // MemHpas with series in desired or duplicates, by namespace/name
	memhpas         prometheus.Gauge
	cycleDuration   prometheus.Histogram
	cycleOverruns   prometheus.Counter
	// KubeRequests counts the scaler's apiserver requests; register it with
	// client-go through RegisterClientMetrics.
	KubeRequests *KubeRequests
	// Leader is 1 while this process holds the lease (with shards: one of
	// theirs at least).
	Leader prometheus.Gauge
	// ShardLeader is 1 for each shard whose lease this process holds, 0 for
	// the others; it has no series without shards.
	ShardLeader *prometheus.GaugeVec
}

// NewMonitor registers the metrics with reg.
func NewMonitor(reg prometheus.Registerer) *Monitor {
	m := &Monitor{
		reconciliations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "memhpa_scaler_reconciliations_total",
			Help: "Reconciliations of MemHpas, by action (scale_up, scale_down, none) and error (spec, internal, none).",
		}, []string{"action", "error"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "memhpa_scaler_reconciliation_duration_seconds",
			Help:    "Duration of one MemHpa reconciliation, by action and error.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"action", "error"}),
		queryDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "memhpa_scaler_prometheus_query_duration_seconds",
			Help:    "Duration of a Prometheus query (the cycle's one), by result (success, failure).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}, []string{"result"}),
		queryFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "memhpa_scaler_prometheus_query_failures_total",
			Help: "Failed Prometheus queries, by reason (timeout, unreachable, server_error, client_error, bad_response, other).",
		}, []string{"reason"}),
		desired: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "memhpa_scaler_desired_replicas",
			Help: "Replicas the scaler last asked for, per MemHpa, by its mode (Scale, or DryRun: would have asked for).",
		}, []string{"namespace", "memhpa", "mode"}),
		duplicates: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "memhpa_scaler_duplicate_series_containers",
			Help: duplicateSeriesHelp,
		}, []string{"namespace", "memhpa"}),
		status: newStatusMetrics(),
		memhpas: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "memhpa_scaler_memhpas",
			Help: "MemHpas known to the scaler.",
		}),
		cycleDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "memhpa_scaler_cycle_duration_seconds",
			Help: "Duration of one full cycle: from the periodic resync that queues every MemHpa until the last of " +
				"those MemHpas has been reconciled (successfully or not) or deleted. A resync that finds the " +
				"previous cycle unfinished starts no new one (see memhpa_scaler_cycle_overruns_total).",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
		}),
		cycleOverruns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "memhpa_scaler_cycle_overruns_total",
			Help: "Periodic resyncs that found the previous cycle unfinished: a cycle took longer than --sync-period.",
		}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "memhpa_scaler_leader",
			Help: "1 while this scaler holds the leader-election lease (with --shards above 1: the lease of one shard at least), else 0.",
		}),
		ShardLeader: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "memhpa_scaler_shard_leader",
			Help: "With --shards above 1: 1 for each shard whose lease this scaler holds, else 0.",
		}, []string{"shard"}),
		KubeRequests: &KubeRequests{
			results: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "memhpa_scaler_kube_requests_total",
				Help: "Requests of the scaler to the Kubernetes apiserver (informers' lists and watches included), by HTTP verb and status code (<error> when none came back).",
			}, []string{"verb", "code"}),
			latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Name:    "memhpa_scaler_kube_request_duration_seconds",
				Help:    "Latency of the scaler's requests to the Kubernetes apiserver, by HTTP verb.",
				Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
			}, []string{"verb"}),
			throttled: prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Name:    "memhpa_scaler_kube_rate_limiter_duration_seconds",
				Help:    "Time the scaler's requests waited for client-go's client-side rate limiter, by HTTP verb.",
				Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
			}, []string{"verb"}),
		},
	}
	reg.MustRegister(m.reconciliations, m.duration, m.queryDuration, m.queryFailures, m.desired, m.duplicates, m.memhpas,
		m.cycleDuration, m.cycleOverruns, m.Leader, m.ShardLeader,
		m.KubeRequests.results, m.KubeRequests.latency, m.KubeRequests.throttled)
	reg.MustRegister(m.status.collectors()...)
	m.initQueryFailures()
	return m
}

// KubeRequests adapts client-go's request metrics (k8s.io/client-go/tools/metrics)
// to the scaler's registry.
type KubeRequests struct {
	results   *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	throttled *prometheus.HistogramVec
}

// Increment implements clientmetrics.ResultMetric.
func (k *KubeRequests) Increment(_ context.Context, code, method, _ string) {
	k.results.WithLabelValues(method, code).Inc()
}

// RegisterClientMetrics makes every client-go REST client of the process
// report to k. client-go accepts one registration per process; later calls
// do nothing.
func RegisterClientMetrics(k *KubeRequests) {
	clientmetrics.Register(clientmetrics.RegisterOpts{
		RequestResult:      k,
		RequestLatency:     latencyMetric{k.latency},
		RateLimiterLatency: latencyMetric{k.throttled},
	})
}

// latencyMetric is a clientmetrics.LatencyMetric by verb only: the URL would
// make a series per object.
type latencyMetric struct{ h *prometheus.HistogramVec }

func (l latencyMetric) Observe(_ context.Context, verb string, _ url.URL, d time.Duration) {
	l.h.WithLabelValues(verb).Observe(d.Seconds())
}

func (m *Monitor) observeReconcile(action, errLabel string, d time.Duration) {
	m.reconciliations.WithLabelValues(action, errLabel).Inc()
	m.duration.WithLabelValues(action, errLabel).Observe(d.Seconds())
}

func (m *Monitor) observeQuery(d time.Duration, failure string) {
	result := "success"
	if failure != "" {
		result = "failure"
		m.queryFailures.WithLabelValues(failure).Inc()
	}
	m.queryDuration.WithLabelValues(result).Observe(d.Seconds())
}

func (m *Monitor) observeCycle(d time.Duration) { m.cycleDuration.Observe(d.Seconds()) }

// setDesired sets the desired-replicas series of one MemHpa: one series,
// labelled with its mode (unset is Scale), so a mode switch drops the other.
func (m *Monitor) setDesired(ns, name string, mode v1alpha1.ScalingMode, replicas int32) {
	if mode != v1alpha1.ScalingModeDryRun {
		mode = v1alpha1.ScalingModeScale
	}
	other := v1alpha1.ScalingModeDryRun
	if mode == v1alpha1.ScalingModeDryRun {
		other = v1alpha1.ScalingModeScale
	}
	m.perMemHpa(ns, name, func() {
		// By its full labels: a partial match walks every series, which
		// made each decision cost as much as all MemHpas (the square of
		// them a cycle: 90 % of the scaler's CPU at 10,000 MemHpas).
		m.desired.DeleteLabelValues(ns, name, string(other))
		m.desired.WithLabelValues(ns, name, string(mode)).Set(float64(replicas))
	})
}

// setDuplicates sets the duplicated-containers series of one MemHpa.
func (m *Monitor) setDuplicates(ns, name string, containers int) {
	m.perMemHpa(ns, name, func() { m.duplicates.WithLabelValues(ns, name).Set(float64(containers)) })
}

// perMemHpa runs set, which writes a series labelled with one MemHpa, and
// remembers the MemHpa so that its series can be dropped with it.
func (m *Monitor) perMemHpa(ns, name string, set func()) {
	m.seriesMu.Lock()
	defer m.seriesMu.Unlock()
	if m.seriesOf == nil {
		m.seriesOf = map[string][2]string{}
	}
	m.seriesOf[ns+"/"+name] = [2]string{ns, name}
	set()
}

// dropMemHpa deletes the series of one MemHpa.
func (m *Monitor) dropMemHpa(ns, name string) {
	m.seriesMu.Lock()
	defer m.seriesMu.Unlock()
	delete(m.seriesOf, ns+"/"+name)
	m.deleteSeries(ns, name)
}

// dropMemHpasExcept deletes the series of every MemHpa not in live (by
// namespace/name key), so that a deleted MemHpa, or its deleted namespace,
// leaves no series behind.
func (m *Monitor) dropMemHpasExcept(live map[string]types.UID) {
	m.seriesMu.Lock()
	defer m.seriesMu.Unlock()
	for key, lv := range m.seriesOf {
		if _, ok := live[key]; !ok {
			delete(m.seriesOf, key)
			m.deleteSeries(lv[0], lv[1])
		}
	}
}

func (m *Monitor) deleteSeries(ns, name string) {
	for _, mode := range []v1alpha1.ScalingMode{v1alpha1.ScalingModeScale, v1alpha1.ScalingModeDryRun} {
		m.desired.DeleteLabelValues(ns, name, string(mode))
	}
	m.duplicates.DeleteLabelValues(ns, name)
	m.status.delete(ns, name)
}
