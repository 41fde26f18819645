package controller

import (
	"context"
	"fmt"
	"time"

	"github.com/memhpa/memhpa/scaler/internal/calc"
	"github.com/memhpa/memhpa/scaler/internal/promquery"
	"github.com/memhpa/memhpa/scaler/internal/promsource"
	v1alpha1 "github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
)

// CPU beside memory: a second batched query per cycle, sent only when a
// MemHpa sets spec.cpuTargetUtilizationPercentage, and only for the
// namespaces of such MemHpas.

// cpuAsSource lets a sampler run the CPU query: the same cache, the same
// one query per cycle, the same query metrics.
type cpuAsSource struct{ promsource.CPUSource }

func (c cpuAsSource) WorkingSet(ctx context.Context, namespaces []string) (promquery.Samples, error) {
	return c.CPUUsage(ctx, namespaces)
}

// newCPUSampler is the sampler of the CPU query, nil when the source has no
// CPU query.
func newCPUSampler(src promsource.Source, memory *sampler) *sampler {
	cs, ok := src.(promsource.CPUSource)
	if !ok {
		return nil
	}
	return &sampler{source: cpuAsSource{cs}, clock: memory.clock, maxAge: memory.maxAge, monitor: memory.monitor}
}

// cpuSamples are the CPU samples of a MemHpa of namespace ns with a CPU
// target: from the cycle's CPU query, stamped with its time and window.
func (c *Controller) cpuSamples(ctx context.Context, ns string) calc.CPUSamples {
	if c.cpuSampler == nil {
		return calc.CPUSamples{Err: fmt.Errorf("the Prometheus source has no CPU query")}
	}
	split, err := c.cpuSampler.inNamespace(ctx, ns, c.cpuNamespacesInPlay)
	c.cpuSampler.mu.Lock()
	at := c.cpuSampler.at
	c.cpuSampler.mu.Unlock()
	return calc.CPUSamples{MilliCores: split.Bytes, Containers: split.Containers, At: at, Window: c.config.CPURateWindow, Err: err}
}

// cpuNamespacesInPlay lists the namespaces that have a MemHpa with a CPU
// target.
func (c *Controller) cpuNamespacesInPlay() []string {
	return c.namespacesWhere(func(h *v1alpha1.MemHpa) bool { return h.Spec.CPUTargetUtilizationPercentage != nil })
}

// targetsOf is the TARGETS column: memory alone as before ("45%/80%"), or
// both as kubectl get hpa prints two resource metrics
// ("memory: 45%/80%, cpu: 90%/60%").
func targetsOf(spec *v1alpha1.MemHpaSpec, memory, cpu *int32) string {
	mem := targets(memory, v1alpha1.EffectiveTargetUtilizationPercentage(spec))
	if spec.CPUTargetUtilizationPercentage == nil {
		return mem
	}
	return "memory: " + mem + ", cpu: " + targets(cpu, *spec.CPUTargetUtilizationPercentage)
}

// cpuUtilization is the CPU utilization of a recommendation, nil without one.
func cpuUtilization(rec calc.Recommendation) *int32 {
	if rec.CPU == nil {
		return nil
	}
	return rec.CPU.Utilization
}

// DefaultCPURateWindow is the window of the CPU rate: at least two scrape
// intervals of the usual 15 s to 30 s, short enough to follow a load.
const DefaultCPURateWindow = time.Minute
