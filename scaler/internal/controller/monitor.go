package controller

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
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

// Metrics are the scaler's own Prometheus metrics, served on /metrics.
type Metrics struct {
	reconciliations *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	queryDuration   *prometheus.HistogramVec
	queryFailures   *prometheus.CounterVec
	desired         *prometheus.GaugeVec
	memhpas         prometheus.Gauge
	// Leader is 1 while this process holds the lease.
	Leader prometheus.Gauge
}

// NewMetrics registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
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
			Help:    "Duration of the batched Prometheus query, by result (success, failure).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}, []string{"result"}),
		queryFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "memhpa_scaler_prometheus_query_failures_total",
			Help: "Failed Prometheus queries, by reason (timeout, unreachable, server_error, client_error, bad_response, other).",
		}, []string{"reason"}),
		desired: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "memhpa_scaler_desired_replicas",
			Help: "Replicas the scaler last asked for, per MemHpa.",
		}, []string{"namespace", "memhpa"}),
		memhpas: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "memhpa_scaler_memhpas",
			Help: "MemHpas known to the scaler.",
		}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "memhpa_scaler_leader",
			Help: "1 while this scaler holds the leader-election lease, else 0.",
		}),
	}
	reg.MustRegister(m.reconciliations, m.duration, m.queryDuration, m.queryFailures, m.desired, m.memhpas, m.Leader)
	return m
}

func (m *Metrics) observeReconcile(action, errLabel string, d time.Duration) {
	m.reconciliations.WithLabelValues(action, errLabel).Inc()
	m.duration.WithLabelValues(action, errLabel).Observe(d.Seconds())
}

func (m *Metrics) observeQuery(d time.Duration, failure string) {
	result := "success"
	if failure != "" {
		result = "failure"
		m.queryFailures.WithLabelValues(failure).Inc()
	}
	m.queryDuration.WithLabelValues(result).Observe(d.Seconds())
}
