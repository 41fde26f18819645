package controller

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	v1alpha1 "github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/testing/memhpagen"
)

// step is one event seen by a cycle: a resync over keys, or a key done, at
// a number of seconds after start.
type step struct {
	at     int
	resync []string
	done   string
}

func resyncAt(at int, keys ...string) step { return step{at: at, resync: keys} }
func doneAt(at int, key string) step       { return step{at: at, done: key} }

func TestCycle(t *testing.T) {
	for _, tc := range []struct {
		name         string
		steps        []step
		wantCycles   []time.Duration
		wantOverruns int
	}{
		{
			name:       "ends when the last MemHpa is done",
			steps:      []step{resyncAt(0, "a", "b"), doneAt(1, "b"), doneAt(3, "a")},
			wantCycles: []time.Duration{3 * time.Second},
		},
		{
			name:  "unfinished: nothing observed",
			steps: []step{resyncAt(0, "a", "b"), doneAt(1, "b")},
		},
		{
			name:       "a MemHpa outside the cycle neither ends nor extends it",
			steps:      []step{resyncAt(0, "a"), doneAt(1, "new"), doneAt(2, "a"), doneAt(4, "a")},
			wantCycles: []time.Duration{2 * time.Second},
		},
		{
			name:       "a MemHpa done twice counts once",
			steps:      []step{resyncAt(0, "a", "b"), doneAt(1, "a"), doneAt(2, "a"), doneAt(5, "b")},
			wantCycles: []time.Duration{5 * time.Second},
		},
		{
			name: "a resync during a cycle is an overrun and starts nothing",
			steps: []step{
				resyncAt(0, "a", "b"), doneAt(1, "a"), resyncAt(30, "a", "b", "c"), doneAt(40, "b"),
				doneAt(41, "c"), resyncAt(60, "a"), doneAt(61, "a"),
			},
			wantCycles:   []time.Duration{40 * time.Second, time.Second},
			wantOverruns: 1,
		},
		{
			name:  "no MemHpas: no cycle",
			steps: []step{resyncAt(0), resyncAt(30)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c cycle
			var cycles []time.Duration
			overruns := 0
			for _, s := range tc.steps {
				now := start.Add(time.Duration(s.at) * time.Second)
				if s.resync != nil || s.done == "" {
					if !c.begin(now, s.resync) {
						overruns++
					}
					continue
				}
				if d, last := c.done(s.done, now); last {
					cycles = append(cycles, d)
				}
			}
			if diff := cmp.Diff(tc.wantCycles, cycles); diff != "" {
				t.Errorf("cycles (-want +got):\n%s", diff)
			}
			if overruns != tc.wantOverruns {
				t.Errorf("overruns = %d, want %d", overruns, tc.wantOverruns)
			}
		})
	}
}

// TestCycleMetric runs a resync and its work items through the controller
// with a clock that advances one second per reconciliation.
func TestCycleMetric(t *testing.T) {
	a, b := memhpa("web"), memhpa("api", memhpagen.WithRef("apps/v1", "Deployment", "web"))
	f := newFixture(t, 3, []*v1alpha1.MemHpa{a, b}, pods(3)...)
	f.use(800, 800, 800)
	f.c.resync(f.ctx)
	for f.c.queue.Len() > 0 {
		f.clock.Step(time.Second)
		f.c.processNextItem(f.ctx, f.ctx)
	}
	f.c.resync(f.ctx)
	f.clock.Step(time.Second)
	f.c.processNextItem(f.ctx, f.ctx)
	f.c.resync(f.ctx) // one of two still pending: an overrun
	want := `
# HELP memhpa_scaler_cycle_overruns_total Periodic resyncs that found the previous cycle unfinished: a cycle took longer than --sync-period.
# TYPE memhpa_scaler_cycle_overruns_total counter
memhpa_scaler_cycle_overruns_total 1
`
	if err := testutil.GatherAndCompare(f.reg, strings.NewReader(want), "memhpa_scaler_cycle_overruns_total"); err != nil {
		t.Error(err)
	}
	h := f.c.monitor.cycleDuration
	if n := testutil.CollectAndCount(h); n != 1 {
		t.Fatalf("cycle histograms = %d", n)
	}
	if got := histogram(t, f.reg, "memhpa_scaler_cycle_duration_seconds"); got.count != 1 || got.sum != 2 {
		t.Errorf("cycle duration: %d cycles, %v s in all; want one of 2 s", got.count, got.sum)
	}
}

type histo struct {
	count uint64
	sum   float64
}

func histogram(t *testing.T, reg *prometheus.Registry, name string) histo {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			h := mf.GetMetric()[0].GetHistogram()
			return histo{count: h.GetSampleCount(), sum: h.GetSampleSum()}
		}
	}
	t.Fatalf("no metric %s", name)
	return histo{}
}

func TestKubeRequests(t *testing.T) {
	reg := prometheus.NewRegistry()
	k := NewMonitor(reg).KubeRequests
	ctx := context.Background()
	k.Increment(ctx, "200", "GET", "127.0.0.1:6443")
	k.Increment(ctx, "200", "GET", "127.0.0.1:6443")
	k.Increment(ctx, "409", "PUT", "127.0.0.1:6443")
	k.Increment(ctx, "<error>", "GET", "127.0.0.1:6443")
	latencyMetric{k.latency}.Observe(ctx, "GET", url.URL{Path: "/apis/apps/v1/namespaces/a/deployments/web/scale"}, 3*time.Millisecond)
	want := `
# HELP memhpa_scaler_kube_requests_total Requests of the scaler to the Kubernetes apiserver (informers' lists and watches included), by HTTP verb and status code (<error> when none came back).
# TYPE memhpa_scaler_kube_requests_total counter
memhpa_scaler_kube_requests_total{code="200",verb="GET"} 2
memhpa_scaler_kube_requests_total{code="409",verb="PUT"} 1
memhpa_scaler_kube_requests_total{code="<error>",verb="GET"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "memhpa_scaler_kube_requests_total"); err != nil {
		t.Error(err)
	}
	if got := histogram(t, reg, "memhpa_scaler_kube_request_duration_seconds"); got.count != 1 || got.sum != 0.003 {
		t.Errorf("latency: %+v, want one of 3 ms (by verb only, whatever the URL)", got)
	}
}
