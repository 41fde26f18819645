package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/memhpa/memhpa/webhook/internal/admission"
)

// Values of the result label.
const (
	resultAllowed = "allowed"
	resultDenied  = "denied"
	// resultError is an HTTP-level failure: the request never reached a
	// Reviewer or it panicked; reason then says which (a metav1.StatusReason).
	resultError = "error"
)

// metrics are the webhook's own series, in a registry of their own so that
// two servers (in tests) never share counters.
type metrics struct {
	registry   *prometheus.Registry
	admissions *prometheus.CounterVec
	latency    *prometheus.HistogramVec
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		admissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "memhpa",
			Subsystem: "webhook",
			Name:      "admission_requests_total",
			Help:      "Admission requests answered, by webhook (mutate, validate), operation, result (allowed, denied, error) and reason (the status reason of a denial or of an HTTP error).",
		}, []string{"webhook", "operation", "result", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "memhpa",
			Subsystem: "webhook",
			Name:      "admission_duration_seconds",
			Help:      "Time from reading an admission request to writing its answer, by webhook and result.",
			// The apiserver's budget is timeoutSeconds (a few seconds); a
			// healthy answer takes well under 100 ms.
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"webhook", "result"}),
	}
	m.registry.MustRegister(
		m.admissions,
		m.latency,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// watchInFlight exports inFlight, the number of reviews in flight.
func (m *metrics) watchInFlight(inFlight func() int) {
	m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "memhpa",
		Subsystem: "webhook",
		Name:      "in_flight_reviews",
		Help:      "Admission reviews being read or answered now; beyond --max-in-flight-reviews or --max-in-flight-body-bytes more are refused with 429 (counted in admission_requests_total with reason TooManyRequests).",
	}, func() float64 { return float64(inFlight()) }))
}

// watchLookup exports the counters of the cross-object checks' live reads.
func (m *metrics) watchLookup(counts func() admission.LookupCounts) {
	for _, c := range []struct {
		name, help string
		value      func(admission.LookupCounts) int64
	}{
		{"live_reads_total", "Reads of the apiserver by the cross-object checks, for what the informer caches could not answer.",
			func(c admission.LookupCounts) int64 { return c.LiveReads }},
		{"live_reads_throttled_total", "Reads the cross-object checks did not make because the live-read limit was reached; each admitted its object with a warning.",
			func(c admission.LookupCounts) int64 { return c.Throttled }},
		{"not_found_cache_hits_total", "Workloads answered not found from the memory of a recent live read instead of a new one.",
			func(c admission.LookupCounts) int64 { return c.NotFoundHits }},
	} {
		m.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "memhpa", Subsystem: "webhook", Name: c.name, Help: c.help,
		}, func() float64 { return float64(c.value(counts())) }))
	}
}

func (m *metrics) observe(webhook, operation, result, reason string, took time.Duration) {
	m.admissions.WithLabelValues(webhook, operation, result, reason).Inc()
	m.latency.WithLabelValues(webhook, result).Observe(took.Seconds())
}

// operationLabel bounds the operation label to the four operations the
// apiserver sends: anyone who can reach the port could otherwise mint series.
func operationLabel(op admissionv1.Operation) string {
	switch op {
	case admissionv1.Create, admissionv1.Update, admissionv1.Delete, admissionv1.Connect:
		return string(op)
	case "":
		return ""
	default:
		return "other"
	}
}
