// Package promquery builds the one PromQL query the scaler sends per cycle and
// turns its answer into memory working-set bytes per pod. It is pure: no
// client, no clock.
//
// The query takes one figure per container: the largest of the series that
// report it (the pause container and the pod-level cgroup, which has
// container="", excluded, as metrics-server and the Prometheus adapter do),
// for every namespace that has a MemHpa. A container scraped by two jobs (the
// kubelet's cAdvisor and resource endpoints, two agents writing into one
// store) would otherwise count twice. The same query also counts the series
// of every container seen in more than one, so that such a container is
// reported rather than hidden; Parse sums the containers of each pod, and
// keeps each container's own figure too, for a MemHpa that names one
// (spec.container) from the same answer. The
// controller joins the answer to the pods of each target by exact namespace
// and name, never by a regular expression on a workload name, so its cost
// grows with the number of series and not with the number of MemHpas.
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

// Rejection reasons of a pod's samples.
const (
	RejectNaN      = "NaN"
	RejectInf      = "Inf"
	RejectNegative = "negative"
	RejectTooLarge = "too large"
	RejectNoLabels = "missing namespace, pod or container label"
)

// FigureLabel marks the query's second part: a sample with
// FigureLabel=SeriesCount is the number of series of one container that more
// than one series reported, not its memory.
const (
	FigureLabel = "memhpa_figure"
	SeriesCount = "series_count"
)

// Samples is the answer to one query.
type Samples struct {
	// Bytes is the working set of each pod whose every container had a
	// usable figure: the sum of its containers'.
	Bytes map[Key]int64
	// Rejected names the pods with a container whose figure could not be
	// used, and why. Such a pod counts as having no sample: missing is
	// missing, never zero, and a pod without one of its containers would
	// look smaller than it is.
	Rejected map[Key]string
	// Duplicated names, per pod, the containers (sorted) that more than one
	// series reported; each counted once, at its largest figure.
	Duplicated map[Key][]string
	// Containers is the working set of each container with a usable
	// figure, by pod and container name. A container whose figure could not
	// be used has no entry, even when its pod is in Bytes' Rejected; a pod
	// with no usable container has none.
	Containers map[Key]map[string]int64
}

// NamespaceSamples are the samples of one namespace, by pod name.
type NamespaceSamples struct {
	Bytes      map[string]int64
	Rejected   map[string]string
	Duplicated map[string][]string
	Containers map[string]map[string]int64
}

// Query returns the PromQL for the working set, in bytes, of every container
// of the pods of the given namespaces, from the given cAdvisor metric and
// only its series that match sel.
func Query(metric string, sel Selector, namespaces []string) (string, error) {
	if len(namespaces) == 0 {
		return "", fmt.Errorf("no namespace to query")
	}
	return query(metric, sel, fmt.Sprintf("namespace=~%q", alternation(namespaces)))
}

// query is one vector of two parts: the largest figure of each container, and
// (marked with FigureLabel) the number of series of each container that has
// more than one. The second part is empty when no series is duplicated, so it
// costs nothing in the usual case. Their label sets differ by FigureLabel, so
// "or" keeps both.
func query(metric string, sel Selector, where string) (string, error) {
	if !model.LegacyValidation.IsValidMetricName(metric) {
		return "", fmt.Errorf("invalid metric name %q", metric)
	}
	matchers := `container!="", container!="POD", `
	if len(sel) > 0 {
		matchers += sel.String() + ", "
	}
	series := metric + "{" + matchers + where + "}"
	const by = "by (namespace, pod, container)"
	// label_replace's regular expression ".*" on namespace always matches: it
	// only adds the label.
	return fmt.Sprintf(`max %[1]s (%[2]s) or label_replace(count %[1]s (%[2]s) > 1, %[3]q, %[4]q, "namespace", ".*")`,
		by, series, FigureLabel, SeriesCount), nil
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

// container is what the answer says of one container.
type container struct {
	bytes  float64
	seen   int  // figures of it in the answer: one from max by
	series bool // the answer's count says several series report it
}

// Parse turns the vector the query returned into per-pod bytes: the sum of
// each pod's containers. A pod with a NaN, ±Inf or negative figure for one of
// its containers is rejected, never read as zero. A container that several
// series report counts once, at its largest figure, and is listed in
// Duplicated.
func Parse(v model.Vector) Samples {
	s := Samples{Bytes: map[Key]int64{}, Rejected: map[Key]string{}, Duplicated: map[Key][]string{}, Containers: map[Key]map[string]int64{}}
	pods := map[Key]map[string]*container{}
	for _, sample := range v {
		if sample == nil {
			// A null entry in the result (seen by fuzzing) names no pod: skip it.
			continue
		}
		k := Key{Namespace: string(sample.Metric["namespace"]), Pod: string(sample.Metric["pod"])}
		name := string(sample.Metric["container"])
		if k.Namespace == "" || k.Pod == "" || name == "" {
			s.Rejected[k] = RejectNoLabels
			continue
		}
		if pods[k] == nil {
			pods[k] = map[string]*container{}
		}
		c := pods[k][name]
		if c == nil {
			c = &container{}
			pods[k][name] = c
		}
		if sample.Metric[FigureLabel] == SeriesCount {
			c.series = true
			continue
		}
		f := float64(sample.Value)
		if c.seen == 0 || f > c.bytes || math.IsNaN(f) {
			c.bytes = f
		}
		c.seen++
	}
	for k, containers := range pods {
		var dups []string
		for name, c := range containers {
			if c.series || c.seen > 1 {
				dups = append(dups, name)
			}
		}
		if len(dups) > 0 {
			slices.Sort(dups)
			s.Duplicated[k] = dups
		}
		if k.Namespace != "" && k.Pod != "" {
			if figures := containerFigures(containers); len(figures) > 0 {
				s.Containers[k] = figures
			}
		}
		if _, rejected := s.Rejected[k]; rejected {
			continue
		}
		if bytes, why := podBytes(containers); why != "" {
			s.Rejected[k] = why
		} else if bytes >= 0 {
			s.Bytes[k] = bytes
		}
	}
	return s
}

// podBytes sums the figures of a pod's containers, or says why it cannot; -1
// when no container has a figure (only counts came back).
func podBytes(containers map[string]*container) (int64, string) {
	var sum int64 = -1
	for _, c := range containers {
		if c.seen == 0 {
			continue
		}
		b, why := figureBytes(c.bytes)
		if why != "" {
			return 0, why
		}
		if sum < 0 {
			sum = 0
		}
		if sum > math.MaxInt64-b {
			return 0, RejectTooLarge
		}
		sum += b
	}
	return sum, ""
}

// containerFigures are the usable figures of a pod's containers, by name.
func containerFigures(containers map[string]*container) map[string]int64 {
	var out map[string]int64
	for name, c := range containers {
		if c.seen == 0 {
			continue
		}
		if b, why := figureBytes(c.bytes); why == "" {
			if out == nil {
				out = make(map[string]int64, len(containers))
			}
			out[name] = b
		}
	}
	return out
}

// figureBytes is one container's figure in whole bytes, or why it is not
// usable.
func figureBytes(f float64) (int64, string) {
	switch {
	case math.IsNaN(f):
		return 0, RejectNaN
	case math.IsInf(f, 0):
		return 0, RejectInf
	case f < 0:
		return 0, RejectNegative
	case f >= math.MaxInt64:
		return 0, RejectTooLarge
	}
	return int64(math.Round(f)), ""
}

// InNamespace returns the samples of the pods of one namespace, by pod name.
func (s Samples) InNamespace(ns string) NamespaceSamples {
	return NamespaceSamples{
		Bytes:      inNamespace(s.Bytes, ns),
		Rejected:   inNamespace(s.Rejected, ns),
		Duplicated: inNamespace(s.Duplicated, ns),
		Containers: inNamespace(s.Containers, ns),
	}
}

// inNamespace is the part of m in namespace ns, by pod name.
func inNamespace[V any](m map[Key]V, ns string) map[string]V {
	out := map[string]V{}
	for k, v := range m {
		if k.Namespace == ns {
			out[k.Pod] = v
		}
	}
	return out
}
