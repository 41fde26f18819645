package promquery

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"
)

func TestCPUQuery(t *testing.T) {
	job, err := ParseSelector(`job="kubelet"`)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		metric     string
		selector   Selector
		namespaces []string
		window     time.Duration
		want       string
		wantErr    bool
	}{
		{
			name: "the rate of each container, the largest of its series, in millicores", metric: "container_cpu_usage_seconds_total",
			namespaces: []string{"b", "a", "b"}, window: time.Minute,
			want: `1000 * max by (namespace, pod, container) (rate(container_cpu_usage_seconds_total{container!="", container!="POD", namespace=~"a|b"}[1m]))`,
		},
		{
			name: "the memory query's selector, and a window Prometheus parses", metric: "m", selector: job, namespaces: []string{"a"}, window: 90 * time.Second,
			want: `1000 * max by (namespace, pod, container) (rate(m{container!="", container!="POD", job="kubelet", namespace=~"a"}[1m30s]))`,
		},
		{name: "a window below a second", metric: "m", namespaces: []string{"a"}, window: 500 * time.Millisecond, wantErr: true},
		{name: "a window of fractional seconds", metric: "m", namespaces: []string{"a"}, window: 1500 * time.Millisecond, wantErr: true},
		{name: "invalid metric name", metric: "m-x", namespaces: []string{"a"}, window: time.Minute, wantErr: true},
		{name: "no namespace", metric: "m", window: time.Minute, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CPUQuery(tc.metric, tc.selector, tc.namespaces, tc.window)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, want error %t", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("query =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestParseCPU: the CPU answer goes through Parse, millicores rounded, a
// pod's containers summed, a NaN rate rejecting its pod.
func TestParseCPU(t *testing.T) {
	sample := func(pod, container string, v float64) *model.Sample {
		return &model.Sample{Metric: model.Metric{"namespace": "a", "pod": model.LabelValue(pod), "container": model.LabelValue(container)}, Value: model.SampleValue(v)}
	}
	got := Parse(model.Vector{sample("p", "app", 90.4), sample("p", "proxy", 9.6), sample("q", "app", math.NaN())})
	want := map[Key]int64{{Namespace: "a", Pod: "p"}: 100}
	if diff := cmp.Diff(want, got.Bytes); diff != "" {
		t.Errorf("millicores per pod (-want +got):\n%s", diff)
	}
	if got.Rejected[Key{Namespace: "a", Pod: "q"}] != RejectNaN {
		t.Errorf("rejected = %v, want q for NaN", got.Rejected)
	}
	if c := got.Containers[Key{Namespace: "a", Pod: "p"}]; c["app"] != 90 || c["proxy"] != 10 {
		t.Errorf("millicores per container = %v, want app 90, proxy 10", c)
	}
}
