package promquery

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/common/model"
)

// both is the query's shape: the largest figure of each container, and the
// number of series of each container seen in more than one.
func both(series string) string {
	return `max by (namespace, pod, container) (` + series + `) or label_replace(count by (namespace, pod, container) (` +
		series + `) > 1, "memhpa_figure", "series_count", "namespace", ".*")`
}

func TestQuery(t *testing.T) {
	job, err := ParseSelector(`job="kubelet", metrics_path=~"/metrics/(cadvisor|resource)"`)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		metric     string
		selector   Selector
		namespaces []string
		want       string
		wantErr    bool
	}{
		{
			name: "one namespace", metric: "container_memory_working_set_bytes", namespaces: []string{"web"},
			want: both(`container_memory_working_set_bytes{container!="", container!="POD", namespace=~"web"}`),
		},
		{
			name: "namespaces sorted and deduplicated", metric: "container_memory_working_set_bytes", namespaces: []string{"b", "a", "b"},
			want: both(`container_memory_working_set_bytes{container!="", container!="POD", namespace=~"a|b"}`),
		},
		{
			name: "a name cannot widen the match", metric: "m", namespaces: []string{"a.*"},
			want: both(`m{container!="", container!="POD", namespace=~"a\\.\\*"}`),
		},
		{
			name: "the selector's matchers come before the namespaces", metric: "m", selector: job, namespaces: []string{"a"},
			want: both(`m{container!="", container!="POD", job="kubelet", metrics_path=~"/metrics/(cadvisor|resource)", namespace=~"a"}`),
		},
		{name: "invalid metric name", metric: `m{x="y"}`, namespaces: []string{"a"}, wantErr: true},
		{name: "no namespace", metric: "m", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Query(tc.metric, tc.selector, tc.namespaces)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, want error %t", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("query =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// sample is one container's largest figure, as the query's max by returns it.
func sample(ns, pod, container string, v float64) *model.Sample {
	m := model.Metric{}
	for name, value := range map[model.LabelName]string{"namespace": ns, "pod": pod, "container": container} {
		if value != "" {
			m[name] = model.LabelValue(value)
		}
	}
	return &model.Sample{Metric: m, Value: model.SampleValue(v)}
}

// seriesCount is the query's count of the series of a container seen in
// more than one.
func seriesCount(ns, pod, container string, n float64) *model.Sample {
	s := sample(ns, pod, container, n)
	s.Metric[FigureLabel] = SeriesCount
	return s
}

// none is an empty answer's maps.
func none() Samples {
	return Samples{Bytes: map[Key]int64{}, Rejected: map[Key]string{}, Duplicated: map[Key][]string{}}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   model.Vector
		want Samples
	}{
		{name: "empty", in: nil, want: none()},
		{
			name: "several pods, same pod name in two namespaces",
			in:   model.Vector{sample("a", "web-1", "app", 100), sample("b", "web-1", "app", 200.4), sample("a", "web-2", "app", 300.6)},
			want: Samples{Bytes: map[Key]int64{{"a", "web-1"}: 100, {"b", "web-1"}: 200, {"a", "web-2"}: 301}, Rejected: map[Key]string{}, Duplicated: map[Key][]string{}},
		},
		{
			name: "a pod's containers are summed",
			in:   model.Vector{sample("a", "web-1", "app", 100), sample("a", "web-1", "sidecar", 20.4), sample("a", "web-2", "app", 7)},
			want: Samples{Bytes: map[Key]int64{{"a", "web-1"}: 120, {"a", "web-2"}: 7}, Rejected: map[Key]string{}, Duplicated: map[Key][]string{}},
		},
		{
			// Two scrape jobs of one kubelet: the query's max by gives one
			// figure per container, and its count says there were two.
			name: "a container in two series counts once, and is reported",
			in: model.Vector{sample("a", "web-1", "app", 100), sample("a", "web-1", "sidecar", 20), seriesCount("a", "web-1", "app", 2),
				sample("a", "web-2", "app", 7)},
			want: Samples{Bytes: map[Key]int64{{"a", "web-1"}: 120, {"a", "web-2"}: 7}, Rejected: map[Key]string{},
				Duplicated: map[Key][]string{{"a", "web-1"}: {"app"}}},
		},
		{
			name: "every container of a pod in several series",
			in: model.Vector{seriesCount("a", "web-1", "sidecar", 3), seriesCount("a", "web-1", "app", 2),
				sample("a", "web-1", "sidecar", 20), sample("a", "web-1", "app", 100)},
			want: Samples{Bytes: map[Key]int64{{"a", "web-1"}: 120}, Rejected: map[Key]string{},
				Duplicated: map[Key][]string{{"a", "web-1"}: {"app", "sidecar"}}},
		},
		{
			// max by never answers a container twice, but an answer that did
			// is read the same way: the largest, reported.
			name: "a container twice in the answer itself",
			in:   model.Vector{sample("a", "web-1", "app", 100), sample("a", "web-1", "app", 90)},
			want: Samples{Bytes: map[Key]int64{{"a", "web-1"}: 100}, Rejected: map[Key]string{}, Duplicated: map[Key][]string{{"a", "web-1"}: {"app"}}},
		},
		{
			name: "a count without a figure measures nothing",
			in:   model.Vector{seriesCount("a", "web-1", "app", 2)},
			want: Samples{Bytes: map[Key]int64{}, Rejected: map[Key]string{}, Duplicated: map[Key][]string{{"a", "web-1"}: {"app"}}},
		},
		{
			name: "NaN, ±Inf and negative are rejected, not zero",
			in: model.Vector{sample("a", "nan", "app", math.NaN()), sample("a", "inf", "app", math.Inf(1)), sample("a", "-inf", "app", math.Inf(-1)),
				sample("a", "neg", "app", -1), sample("a", "ok", "app", 0)},
			want: Samples{Bytes: map[Key]int64{{"a", "ok"}: 0}, Rejected: map[Key]string{
				{"a", "nan"}: RejectNaN, {"a", "inf"}: RejectInf, {"a", "-inf"}: RejectInf, {"a", "neg"}: RejectNegative}, Duplicated: map[Key][]string{}},
		},
		{
			// A pod without one of its containers would look smaller than it is.
			name: "one unusable container rejects the whole pod",
			in:   model.Vector{sample("a", "web-1", "app", 100), sample("a", "web-1", "sidecar", math.NaN()), sample("a", "web-1", "init", 5)},
			want: Samples{Bytes: map[Key]int64{}, Rejected: map[Key]string{{"a", "web-1"}: RejectNaN}, Duplicated: map[Key][]string{}},
		},
		{
			name: "missing labels",
			in:   model.Vector{sample("", "web-1", "app", 1), sample("a", "", "app", 2), sample("a", "web-2", "", 3)},
			want: Samples{Bytes: map[Key]int64{}, Rejected: map[Key]string{{"", "web-1"}: RejectNoLabels, {"a", ""}: RejectNoLabels,
				{"a", "web-2"}: RejectNoLabels}, Duplicated: map[Key][]string{}},
		},
		{
			name: "too large for int64",
			in:   model.Vector{sample("a", "big", "app", 1e19)},
			want: Samples{Bytes: map[Key]int64{}, Rejected: map[Key]string{{"a", "big"}: RejectTooLarge}, Duplicated: map[Key][]string{}},
		},
		{
			name: "containers whose sum overflows int64",
			in:   model.Vector{sample("a", "big", "app", 9e18), sample("a", "big", "sidecar", 9e18)},
			want: Samples{Bytes: map[Key]int64{}, Rejected: map[Key]string{{"a", "big"}: RejectTooLarge}, Duplicated: map[Key][]string{}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Containers has its own test (container_test.go).
			if diff := cmp.Diff(tc.want, Parse(tc.in), cmpopts.IgnoreFields(Samples{}, "Containers")); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestInNamespace(t *testing.T) {
	s := Parse(model.Vector{sample("a", "web-1", "app", 1), sample("b", "web-1", "app", 2), sample("a", "nan", "app", math.NaN()),
		seriesCount("a", "web-1", "app", 2), seriesCount("b", "web-1", "app", 2)})
	want := NamespaceSamples{
		Bytes:      map[string]int64{"web-1": 1},
		Rejected:   map[string]string{"nan": RejectNaN},
		Duplicated: map[string][]string{"web-1": {"app"}},
	}
	if diff := cmp.Diff(want, s.InNamespace("a"), cmpopts.IgnoreFields(NamespaceSamples{}, "Containers")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
