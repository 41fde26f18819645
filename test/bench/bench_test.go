package bench

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/memhpa/memhpa/webhook/pkg/devcerts"
)

func TestQuantileAndMedian(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		out := make([]time.Duration, len(n))
		for i, v := range n {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", ms(7), 0.99, 7 * time.Millisecond},
		{"median of ten", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.5, 5 * time.Millisecond},
		{"p99 of a hundred", ms(seq(1, 100)...), 0.99, 99 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := quantile(tt.sorted, tt.q); got != tt.want {
				t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
	if got := Median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("Median odd = %v, want 2", got)
	}
	if got := Median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("Median even = %v, want 2.5", got)
	}
}

func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// TestRunAgainstBaseline drives the load generator against the baseline server
// for a moment: every request must succeed and be counted, and a fixed rate
// must hold the count near rate × duration.
func TestRunAgainstBaseline(t *testing.T) {
	ca, err := devcerts.NewCA("bench-test-ca", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.Issue(devcerts.ServingOptions{IPs: []net.IP{net.ParseIP("127.0.0.1")}, Validity: time.Hour, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := StartBaseline(kp.CertPEM, kp.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()

	res, err := Run(context.Background(), Load{URL: srv.URL, Body: []byte(`{}`), CA: ca.CertPEM, Clients: 4, Duration: 500 * time.Millisecond})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Failures != 0 || res.Requests == 0 {
		t.Fatalf("got %d requests, %d failures (first error %v); want all to succeed", res.Requests, res.Failures, res.FirstErr)
	}
	if res.P50 <= 0 || res.P99 < res.P50 {
		t.Errorf("p50 %v, p99 %v: want 0 < p50 <= p99", res.P50, res.P99)
	}

	limited, err := Run(context.Background(), Load{URL: srv.URL, Body: []byte(`{}`), CA: ca.CertPEM, Clients: 4, Duration: time.Second, Rate: 50})
	if err != nil {
		t.Fatalf("Run at a fixed rate: %v", err)
	}
	if limited.Requests > 60 {
		t.Errorf("at 50/s for 1s sent %d requests, want at most ~51", limited.Requests)
	}

	bad, err := Run(context.Background(), Load{URL: srv.URL + "-missing", Body: []byte(`{}`), CA: ca.CertPEM, Clients: 2, Duration: 200 * time.Millisecond})
	if err == nil || bad.Failures == 0 {
		t.Errorf("a 404 endpoint: err %v, failures %d; want an error and failures counted", err, bad.Failures)
	}
}
