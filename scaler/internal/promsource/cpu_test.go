package promsource

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/memhpa/memhpa/scaler/internal/promquery"
)

// TestPrometheusCPUUsage: one query for the namespaces, with the memory
// query's selector and the configured window; the answer in millicores.
func TestPrometheusCPUUsage(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Errorf("parse form: %v", err)
		}
		got = append(got, r.Form.Get("query"))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, vector(series("a", "web-1", "90.4")))
	}))
	defer srv.Close()
	sel, err := promquery.ParseSelector(`job="kubelet"`)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPrometheus(Config{URL: srv.URL, Timeout: time.Second, Metric: metric, Selector: sel,
		CPUMetric: "container_cpu_usage_seconds_total", CPURateWindow: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	samples, err := p.CPUUsage(context.Background(), []string{"b", "a"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`1000 * max by (namespace, pod, container) (rate(container_cpu_usage_seconds_total{container!="", container!="POD", job="kubelet", namespace=~"a|b"}[20s]))`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("queries (-want +got):\n%s", diff)
	}
	if m := samples.Bytes[k("a", "web-1")]; m != 90 {
		t.Errorf("millicores of a/web-1 = %d, want 90", m)
	}
}

func TestFakeCPUUsage(t *testing.T) {
	f := NewFake()
	f.SetCPU("a", "web-1", 250)
	f.Set("a", "web-1", 1<<20)
	got, err := f.CPUUsage(context.Background(), []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	if m := got.Bytes[k("a", "web-1")]; m != 250 {
		t.Errorf("millicores = %d, want 250 (memory must not leak into CPU)", m)
	}
	if q := f.CPUQueries(); len(q) != 1 || len(f.Queries()) != 0 {
		t.Errorf("cpu queries %v, memory queries %v; want one and none", q, f.Queries())
	}
}
