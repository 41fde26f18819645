package promquery

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"
)

func TestQuery(t *testing.T) {
	for _, tc := range []struct {
		name       string
		metric     string
		namespaces []string
		want       string
		wantErr    bool
	}{
		{
			name: "one namespace", metric: "container_memory_working_set_bytes", namespaces: []string{"web"},
			want: `sum by (namespace, pod) (container_memory_working_set_bytes{container!="", container!="POD", namespace=~"web"})`,
		},
		{
			name: "namespaces sorted and deduplicated", metric: "container_memory_working_set_bytes", namespaces: []string{"b", "a", "b"},
			want: `sum by (namespace, pod) (container_memory_working_set_bytes{container!="", container!="POD", namespace=~"a|b"})`,
		},
		{
			name: "a name cannot widen the match", metric: "m", namespaces: []string{"a.*"},
			want: `sum by (namespace, pod) (m{container!="", container!="POD", namespace=~"a\\.\\*"})`,
		},
		{name: "invalid metric name", metric: `m{x="y"}`, namespaces: []string{"a"}, wantErr: true},
		{name: "no namespace", metric: "m", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Query(tc.metric, tc.namespaces)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, want error %t", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("query =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func sample(ns, pod string, v float64) *model.Sample {
	m := model.Metric{}
	if ns != "" {
		m["namespace"] = model.LabelValue(ns)
	}
	if pod != "" {
		m["pod"] = model.LabelValue(pod)
	}
	return &model.Sample{Metric: m, Value: model.SampleValue(v)}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   model.Vector
		want Samples
	}{
		{name: "empty", in: nil, want: Samples{Bytes: map[Key]int64{}, Rejected: map[Key]string{}}},
		{
			name: "several series, same pod name in two namespaces",
			in:   model.Vector{sample("a", "web-1", 100), sample("b", "web-1", 200.4), sample("a", "web-2", 300.6)},
			want: Samples{Bytes: map[Key]int64{{"a", "web-1"}: 100, {"b", "web-1"}: 200, {"a", "web-2"}: 301}, Rejected: map[Key]string{}},
		},
		{
			name: "NaN, ±Inf and negative are rejected, not zero",
			in: model.Vector{sample("a", "nan", math.NaN()), sample("a", "inf", math.Inf(1)), sample("a", "-inf", math.Inf(-1)),
				sample("a", "neg", -1), sample("a", "ok", 0)},
			want: Samples{Bytes: map[Key]int64{{"a", "ok"}: 0}, Rejected: map[Key]string{
				{"a", "nan"}: RejectNaN, {"a", "inf"}: RejectInf, {"a", "-inf"}: RejectInf, {"a", "neg"}: RejectNegative}},
		},
		{
			name: "a duplicated pod is rejected, however many times it appears",
			in:   model.Vector{sample("a", "web-1", 100), sample("a", "web-1", 100), sample("a", "web-1", 5), sample("a", "web-2", 7)},
			want: Samples{Bytes: map[Key]int64{{"a", "web-2"}: 7}, Rejected: map[Key]string{{"a", "web-1"}: RejectDuplicate}},
		},
		{
			name: "missing labels",
			in:   model.Vector{sample("", "web-1", 1), sample("a", "", 2)},
			want: Samples{Bytes: map[Key]int64{}, Rejected: map[Key]string{{"", "web-1"}: RejectNoLabels, {"a", ""}: RejectNoLabels}},
		},
		{
			name: "too large for int64",
			in:   model.Vector{sample("a", "big", 1e19)},
			want: Samples{Bytes: map[Key]int64{}, Rejected: map[Key]string{{"a", "big"}: RejectTooLarge}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Parse(tc.in)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestInNamespace(t *testing.T) {
	s := Parse(model.Vector{sample("a", "web-1", 1), sample("b", "web-1", 2), sample("a", "nan", math.NaN())})
	bytes, rejected := s.InNamespace("a")
	if diff := cmp.Diff(map[string]int64{"web-1": 1}, bytes); diff != "" {
		t.Errorf("bytes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"nan": RejectNaN}, rejected); diff != "" {
		t.Errorf("rejected (-want +got):\n%s", diff)
	}
}
