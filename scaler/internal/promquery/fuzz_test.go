package promquery_test

import (
	"bytes"
	"context"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/memhpa/memhpa/scaler/internal/promquery"
)

// cannedClient is an api.Client that answers every request with one status
// and body, without a network: the fuzzer's bytes go through client_golang's
// own decoding exactly as an answer from Prometheus would.
type cannedClient struct {
	status int
	body   []byte
}

func (c cannedClient) URL(ep string, _ map[string]string) *url.URL {
	return &url.URL{Scheme: "http", Host: "prometheus.invalid", Path: ep}
}

func (c cannedClient) Do(_ context.Context, req *http.Request) (*http.Response, []byte, error) {
	resp := &http.Response{
		StatusCode: c.status,
		Status:     http.StatusText(c.status),
		Header:     http.Header{"Content-Type": []string{"application/json"}},
		Body:       io.NopCloser(bytes.NewReader(c.body)),
		Request:    req,
	}
	return resp, c.body, nil
}

var _ api.Client = cannedClient{}

// statuses are the HTTP codes a fuzzed answer may come with; the fuzzer picks
// one by index.
var statuses = []int{200, 400, 422, 500, 503, 204, 302}

// FuzzPrometheusResponse feeds arbitrary bytes, as the body of the answer to
// the scaler's query, through client_golang's decoding (what promsource.Prometheus
// calls) and then Parse. Nothing may panic, and whatever comes back must keep
// Parse's promises: a pod is either measured or rejected, never both; a
// measured pod has a namespace and a name, every container of it a name and
// finite, non-negative figures, and it is measured at the sum over its
// containers of the largest figure of each; a pod with a NaN figure is never
// measured; a container is listed as duplicated exactly when the answer
// counts several series for it or holds two figures of it. Seed corpus:
// testdata/fuzz/FuzzPrometheusResponse.
func FuzzPrometheusResponse(f *testing.F) {
	for _, seed := range []struct {
		status uint8
		body   string
	}{
		{0, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"container":"app","namespace":"a","pod":"p"},"value":[1700000000.5,"1048576"]}]}}`},
		{0, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"container":"app","namespace":"a","pod":"p"},"value":[1,"100"]},{"metric":{"container":"side","namespace":"a","pod":"p"},"value":[1,"20"]},{"metric":{"container":"app","memhpa_figure":"series_count","namespace":"a","pod":"p"},"value":[1,"2"]}]}}`},
		{0, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"container":"app","namespace":"a","pod":"p"},"value":[1,"1"]},{"metric":{"container":"app","namespace":"a","pod":"p"},"value":[1,"NaN"]}]}}`},
		{0, `{"status":"success","data":{"resultType":"vector","result":[]}}`},
		{0, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"namespace":"a","pod":"p"},"value":[1,"NaN"]},{"metric":{"namespace":"a","pod":"q"},"value":[1,"+Inf"]},{"metric":{"namespace":"a","pod":"r"},"value":[1,"-5"]}]}}`},
		{0, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"namespace":"a","pod":"p"},"value":[1,"1"]},{"metric":{"namespace":"a","pod":"p"},"value":[1,"2"]},{"metric":{"pod":"x"},"value":[1,"3"]}]}}`},
		{0, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"namespace":"a","pod":"p"},"values":[[1,"1"]]}]}}`},
		{0, `{"status":"success","data":{"resultType":"scalar","result":[1,"1e300"]}}`},
		{0, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"namespace":"a","pod":"p"},"value":[1,"9.3e18"]}]}}`},
		{0, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"namespace":"a","pod":"p"},"histogram":[1,{"count":"1","sum":"2","buckets":[[0,"0","1","1"]]}]}]}}`},
		{3, `{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}`},
		{1, `{"status":"error","errorType":"bad_data","error":"parse error"}`},
		{4, `<html>503 Service Unavailable</html>`},
		{0, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"namespace":"a","pod":"p"},"value":[1,"1"]}]},"warnings":["w"],"infos":["i"]}`},
		{0, `{"status":"success","data":`},
		{0, `null`},
	} {
		f.Add(seed.status, []byte(seed.body))
	}

	f.Fuzz(func(t *testing.T, status uint8, body []byte) {
		client := cannedClient{status: statuses[int(status)%len(statuses)], body: body}
		v, _, _, err := promv1.NewAPI(client).Query(context.Background(), "q", time.Time{})
		if err != nil {
			return
		}
		vec, ok := v.(model.Vector)
		if !ok {
			return // promsource.Prometheus refuses any other type with an error
		}
		s := promquery.Parse(vec)
		checkSamples(t, vec, s)
	})
}

// checkSamples asserts Parse's promises about s, the result of Parse(vec).
func checkSamples(t *testing.T, vec model.Vector, s promquery.Samples) {
	t.Helper()
	if s.Bytes == nil || s.Rejected == nil || s.Duplicated == nil {
		t.Fatalf("Parse returned a nil map: %+v", s)
	}
	// What the answer says of each pod, worked out here on its own.
	type figures struct {
		max     map[string]float64 // largest figure by container
		count   map[string]int     // figures by container
		series  map[string]bool    // containers the answer counts several series of
		nan     bool
		labels  bool // every sample names its container
		figured bool // at least one figure
	}
	pods := map[promquery.Key]*figures{}
	for _, sample := range vec {
		if sample == nil {
			continue
		}
		k := promquery.Key{Namespace: string(sample.Metric["namespace"]), Pod: string(sample.Metric["pod"])}
		p := pods[k]
		if p == nil {
			p = &figures{max: map[string]float64{}, count: map[string]int{}, series: map[string]bool{}, labels: true}
			pods[k] = p
		}
		c := string(sample.Metric["container"])
		if c == "" {
			p.labels = false
			continue
		}
		if sample.Metric[promquery.FigureLabel] == promquery.SeriesCount {
			p.series[c] = true
			continue
		}
		f := float64(sample.Value)
		p.nan = p.nan || math.IsNaN(f)
		if p.count[c] == 0 || f > p.max[c] {
			p.max[c] = f
		}
		p.count[c]++
		p.figured = true
	}
	if len(s.Bytes)+len(s.Rejected) > len(pods) {
		t.Fatalf("%d measured and %d rejected pods from %d distinct keys", len(s.Bytes), len(s.Rejected), len(pods))
	}
	for k, b := range s.Bytes {
		if _, both := s.Rejected[k]; both {
			t.Fatalf("pod %s both measured (%d) and rejected (%q)", k, b, s.Rejected[k])
		}
		p := pods[k]
		if k.Namespace == "" || k.Pod == "" || p == nil || !p.labels {
			t.Fatalf("measured a pod without namespace, pod or container label: %s = %d", k, b)
		}
		if p.nan {
			t.Fatalf("pod %s with a NaN figure measured as %d", k, b)
		}
		want := 0.0
		for c, f := range p.max {
			if math.IsInf(f, 0) || f < 0 {
				t.Fatalf("pod %s: container %s at %v, yet the pod is measured as %d", k, c, f, b)
			}
			want += math.Round(f)
		}
		if math.Abs(float64(b)-want) > math.Max(float64(len(p.max)), want*1e-9) {
			t.Fatalf("pod %s: containers %v measured as %d, want %v", k, p.max, b, want)
		}
	}
	for k, p := range pods {
		_, measured := s.Bytes[k]
		_, rejected := s.Rejected[k]
		if p.figured && !measured && !rejected {
			t.Fatalf("pod %s has figures %v but is neither measured nor rejected", k, p.max)
		}
		var dups []string
		for c := range p.count {
			if p.count[c] > 1 || p.series[c] {
				dups = append(dups, c)
			}
		}
		for c := range p.series {
			if p.count[c] == 0 {
				dups = append(dups, c)
			}
		}
		if k.Namespace == "" || k.Pod == "" || !p.labels {
			continue // rejected for its labels; its duplicates may go unlisted
		}
		slices.Sort(dups)
		if !slices.Equal(dups, s.Duplicated[k]) {
			t.Fatalf("pod %s: duplicated containers %v, want %v", k, s.Duplicated[k], dups)
		}
	}
	// InNamespace partitions the answer.
	total := 0
	for ns := range namespaces(s) {
		n := s.InNamespace(ns)
		total += len(n.Bytes) + len(n.Rejected)
	}
	if total != len(s.Bytes)+len(s.Rejected) {
		t.Fatalf("InNamespace over every namespace gives %d pods, want %d", total, len(s.Bytes)+len(s.Rejected))
	}
}

func namespaces(s promquery.Samples) map[string]bool {
	out := map[string]bool{}
	for k := range s.Bytes {
		out[k.Namespace] = true
	}
	for k := range s.Rejected {
		out[k.Namespace] = true
	}
	return out
}
