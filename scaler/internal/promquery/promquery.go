// Package promquery builds the one PromQL query the scaler sends per cycle and
// turns its answer into memory working-set bytes per pod. It is pure: no
// client, no clock.
//
// The query sums the working set of each pod's containers (the pause
// container and the pod-level cgroup, which has container="", excluded, as
// metrics-server and the Prometheus adapter do) for every namespace that has
// a MemHpa, grouped by namespace and pod. The controller joins the answer to
// the pods of each target by exact namespace and name, never by a regular
// expression on a workload name, so its cost grows with the number of series
// and not with the number of MemHpas.
package promquery

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
)

// Key names one pod.
type Key struct {
	Namespace string
	Pod       string
}

func (k Key) String() string { return k.Namespace + "/" + k.Pod }

// Rejection reasons of a sample.
const (
	RejectNaN       = "NaN"
	RejectInf       = "Inf"
	RejectNegative  = "negative"
	RejectTooLarge  = "too large"
	RejectDuplicate = "duplicate series"
	RejectNoLabels  = "missing namespace or pod label"
)

// Samples is the answer to one query.
type Samples struct {
	// Bytes is the working set of each pod with one usable sample.
	Bytes map[Key]int64
	// Rejected names the pods whose samples could not be used, and why. Such a
	// pod counts as having no sample: missing is missing, never zero.
	Rejected map[Key]string
}

// Query returns the PromQL for the working set, in bytes, of every pod of the
// given namespaces, from the given cAdvisor metric.
func Query(metric string, namespaces []string) (string, error) {
	if !model.LegacyValidation.IsValidMetricName(metric) {
		return "", fmt.Errorf("invalid metric name %q", metric)
	}
	if len(namespaces) == 0 {
		return "", fmt.Errorf("no namespace to query")
	}
	return fmt.Sprintf(`sum by (namespace, pod) (%s{container!="", container!="POD", namespace=~%q})`,
		metric, alternation(namespaces)), nil
}

// alternation is a regular expression that matches exactly the given names,
// sorted and deduplicated. Namespace and pod names need no quoting; quote
// anyway, so that a name can never widen the match.
func alternation(names []string) string {
	n := slices.Clone(names)
	slices.Sort(n)
	n = slices.Compact(n)
	for i, x := range n {
		n[i] = regexp.QuoteMeta(x)
	}
	return strings.Join(n, "|")
}

// PodsQuery returns the PromQL for the working set of the named pods of one
// namespace, in the same form as Query. It exists only for the benchmark's
// per-MemHpa comparison (one query per MemHpa, as a naive scaler would send);
// the scaler itself sends Query once per cycle.
func PodsQuery(metric, namespace string, pods []string) (string, error) {
	if !model.LegacyValidation.IsValidMetricName(metric) {
		return "", fmt.Errorf("invalid metric name %q", metric)
	}
	if namespace == "" || len(pods) == 0 {
		return "", fmt.Errorf("no pod to query")
	}
	return fmt.Sprintf(`sum by (namespace, pod) (%s{container!="", container!="POD", namespace=%q, pod=~%q})`,
		metric, namespace, alternation(pods)), nil
}

// Parse turns the vector the query returned into per-pod bytes. NaN, ±Inf,
// negative values and pods that appear more than once are rejected, never read
// as zero.
func Parse(v model.Vector) Samples {
	s := Samples{Bytes: map[Key]int64{}, Rejected: map[Key]string{}}
	for _, sample := range v {
		if sample == nil {
			// A null entry in the result (seen by fuzzing) names no pod: skip it.
			continue
		}
		k := Key{Namespace: string(sample.Metric["namespace"]), Pod: string(sample.Metric["pod"])}
		if k.Namespace == "" || k.Pod == "" {
			s.Rejected[k] = RejectNoLabels
			continue
		}
		if _, seen := s.Rejected[k]; seen {
			continue
		}
		if _, dup := s.Bytes[k]; dup {
			delete(s.Bytes, k)
			s.Rejected[k] = RejectDuplicate
			continue
		}
		f := float64(sample.Value)
		switch {
		case math.IsNaN(f):
			s.Rejected[k] = RejectNaN
		case math.IsInf(f, 0):
			s.Rejected[k] = RejectInf
		case f < 0:
			s.Rejected[k] = RejectNegative
		case f >= math.MaxInt64:
			s.Rejected[k] = RejectTooLarge
		default:
			s.Bytes[k] = int64(math.Round(f))
		}
	}
	return s
}

// InNamespace returns the bytes of the pods of one namespace, by pod name, and
// the rejected pods of that namespace with their reasons.
func (s Samples) InNamespace(ns string) (map[string]int64, map[string]string) {
	bytes := map[string]int64{}
	for k, v := range s.Bytes {
		if k.Namespace == ns {
			bytes[k.Pod] = v
		}
	}
	rejected := map[string]string{}
	for k, why := range s.Rejected {
		if k.Namespace == ns {
			rejected[k.Pod] = why
		}
	}
	return bytes, rejected
}
