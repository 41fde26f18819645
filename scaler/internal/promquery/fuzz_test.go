package promquery_test

import (
	"bytes"
	"context"
	"io"
	"math"
	"net/http"
	"net/url"
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
// the scaler's query, through client_golang's decoding (what metrics.Prometheus
// calls) and then Parse. Nothing may panic, and whatever comes back must keep
// Parse's promises: a pod is either measured or rejected, never both; a
// measured pod has a namespace and a name and a finite, non-negative byte
// count equal to its one sample; NaN, Inf, negative and duplicate samples are
// rejected, never read as zero. Seed corpus: testdata/fuzz/FuzzPrometheusResponse.
func FuzzPrometheusResponse(f *testing.F) {
	for _, seed := range []struct {
		status uint8
		body   string
	}{
		{0, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"namespace":"a","pod":"p"},"value":[1700000000.5,"1048576"]}]}}`},
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
			return // metrics.Prometheus refuses any other type with an error
		}
		s := promquery.Parse(vec)
		checkSamples(t, vec, s)
	})
}

// checkSamples asserts Parse's promises about s, the result of Parse(vec).
func checkSamples(t *testing.T, vec model.Vector, s promquery.Samples) {
	t.Helper()
	if s.Bytes == nil || s.Rejected == nil {
		t.Fatalf("Parse returned a nil map: %+v", s)
	}
	count := map[promquery.Key]int{}
	last := map[promquery.Key]float64{}
	for _, sample := range vec {
		if sample == nil {
			continue
		}
		k := promquery.Key{Namespace: string(sample.Metric["namespace"]), Pod: string(sample.Metric["pod"])}
		count[k]++
		last[k] = float64(sample.Value)
	}
	if len(s.Bytes)+len(s.Rejected) > len(count) {
		t.Fatalf("%d measured and %d rejected pods from %d distinct keys", len(s.Bytes), len(s.Rejected), len(count))
	}
	for k, b := range s.Bytes {
		if _, both := s.Rejected[k]; both {
			t.Fatalf("pod %s both measured (%d) and rejected (%q)", k, b, s.Rejected[k])
		}
		if k.Namespace == "" || k.Pod == "" {
			t.Fatalf("measured a sample without namespace or pod: %s = %d", k, b)
		}
		if b < 0 {
			t.Fatalf("pod %s measured at negative %d bytes", k, b)
		}
		if count[k] != 1 {
			t.Fatalf("pod %s has %d samples but is measured at %d", k, count[k], b)
		}
		f := last[k]
		if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
			t.Fatalf("pod %s: unusable sample %v measured as %d", k, f, b)
		}
		if want := math.Round(f); math.Abs(float64(b)-want) > math.Max(1, want*1e-9) {
			t.Fatalf("pod %s: sample %v measured as %d", k, f, b)
		}
	}
	for k := range count {
		_, measured := s.Bytes[k]
		_, rejected := s.Rejected[k]
		if !measured && !rejected {
			t.Fatalf("pod %s neither measured nor rejected", k)
		}
		if count[k] > 1 && measured {
			t.Fatalf("duplicate pod %s measured", k)
		}
	}
	// InNamespace partitions the answer.
	total := 0
	for ns := range namespaces(s) {
		b, r := s.InNamespace(ns)
		total += len(b) + len(r)
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
