package controller

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/memhpa/memhpa/scaler/internal/promsource"
	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
)

// Help of the per-MemHpa series that a dashboard draws beside
// memhpa_scaler_desired_replicas (charts/memhpa/dashboards).
const (
	utilizationHelp = "Memory use of a MemHpa's pods as a percentage of their memory limits, at its last evaluation; " +
		"absent while it could not be measured (as status.currentUtilizationPercentage)."
	targetUtilizationHelp = "Target memory utilization of a MemHpa, percent of the limits (spec.targetUtilizationPercentage or its default)."
	cpuUtilizationHelp    = "CPU use of a MemHpa's pods as a percentage of their CPU requests, at its last evaluation; " +
		"only with spec.cpuTargetUtilizationPercentage, absent while it could not be measured (as status.currentCPUUtilizationPercentage)."
	cpuTargetHelp       = "Target CPU utilization of a MemHpa, percent of the requests (spec.cpuTargetUtilizationPercentage); only when set."
	currentReplicasHelp = "Replicas of a MemHpa's target as the scaler last read them from its /scale (status.currentReplicas)."
	rescalesHelp        = "Scale writes of a MemHpa that succeeded, by direction (up, down)."
)

// Label values of memhpa_scaler_rescales_total.
const (
	DirectionUp   = "up"
	DirectionDown = "down"
)

// statusMetrics are the per-MemHpa series that mirror its status, so that a
// dashboard can draw utilization against target and current against desired
// replicas per MemHpa; they are dropped with the MemHpa.
type statusMetrics struct {
	utilization *prometheus.GaugeVec
	target      *prometheus.GaugeVec
	cpu         *prometheus.GaugeVec
	cpuTarget   *prometheus.GaugeVec
	current     *prometheus.GaugeVec
	rescales    *prometheus.CounterVec
}

func newStatusMetrics() *statusMetrics {
	perMemHpa := []string{"namespace", "memhpa"}
	return &statusMetrics{
		utilization: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "memhpa_scaler_memory_utilization_percent", Help: utilizationHelp}, perMemHpa),
		target:      prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "memhpa_scaler_memory_target_utilization_percent", Help: targetUtilizationHelp}, perMemHpa),
		cpu:         prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "memhpa_scaler_cpu_utilization_percent", Help: cpuUtilizationHelp}, perMemHpa),
		cpuTarget:   prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "memhpa_scaler_cpu_target_utilization_percent", Help: cpuTargetHelp}, perMemHpa),
		current:     prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "memhpa_scaler_current_replicas", Help: currentReplicasHelp}, perMemHpa),
		rescales:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "memhpa_scaler_rescales_total", Help: rescalesHelp}, append(perMemHpa, "direction")),
	}
}

func (s *statusMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{s.utilization, s.target, s.cpu, s.cpuTarget, s.current, s.rescales}
}

// setStatus sets the status series of one MemHpa from its status and
// targets: a utilization that was not measured has no series (missing is
// never zero), nor has CPU without a CPU target. Both directions of the rescale counter exist from the first
// evaluation on, so that increase() over them is 0 rather than empty.
func (m *Monitor) setStatus(ns, name string, st *v1alpha1.MemHpaStatus, target int32, cpuTarget *int32) {
	s := m.status
	m.perMemHpa(ns, name, func() {
		if st.CurrentUtilizationPercentage != nil {
			s.utilization.WithLabelValues(ns, name).Set(float64(*st.CurrentUtilizationPercentage))
		} else {
			s.utilization.DeleteLabelValues(ns, name)
		}
		s.target.WithLabelValues(ns, name).Set(float64(target))
		if cpuTarget != nil && st.CurrentCPUUtilizationPercentage != nil {
			s.cpu.WithLabelValues(ns, name).Set(float64(*st.CurrentCPUUtilizationPercentage))
		} else {
			s.cpu.DeleteLabelValues(ns, name)
		}
		if cpuTarget != nil {
			s.cpuTarget.WithLabelValues(ns, name).Set(float64(*cpuTarget))
		} else {
			s.cpuTarget.DeleteLabelValues(ns, name)
		}
		s.current.WithLabelValues(ns, name).Set(float64(st.CurrentReplicas))
		s.rescales.WithLabelValues(ns, name, DirectionUp)
		s.rescales.WithLabelValues(ns, name, DirectionDown)
	})
}

// countRescale counts one successful scale write of a MemHpa from current to
// desired replicas.
func (m *Monitor) countRescale(ns, name string, current, desired int32) {
	direction := DirectionUp
	if desired < current {
		direction = DirectionDown
	}
	m.perMemHpa(ns, name, func() { m.status.rescales.WithLabelValues(ns, name, direction).Inc() })
}

func (s *statusMetrics) delete(ns, name string) {
	s.utilization.DeleteLabelValues(ns, name)
	s.target.DeleteLabelValues(ns, name)
	s.cpu.DeleteLabelValues(ns, name)
	s.cpuTarget.DeleteLabelValues(ns, name)
	s.current.DeleteLabelValues(ns, name)
	s.rescales.DeleteLabelValues(ns, name, DirectionUp)
	s.rescales.DeleteLabelValues(ns, name, DirectionDown)
}

// initQueryFailures creates the failures series of every reason at 0, so
// that a dashboard's rate() of them is 0, not empty, until one fails.
func (m *Monitor) initQueryFailures() {
	for _, reason := range promsource.FailureReasons {
		m.queryFailures.WithLabelValues(reason)
	}
}
