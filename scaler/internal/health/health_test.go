package health

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

type check struct{ err atomic.Pointer[error] }

func (c *check) Name() string { return "leaderElection" }
func (c *check) Check(*http.Request) error {
	if p := c.err.Load(); p != nil {
		return *p
	}
	return nil
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

func TestEndpoints(t *testing.T) {
	var ready atomic.Bool
	live := &check{}
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "memhpa_scaler_leader", Help: "x"})
	reg.MustRegister(g)
	h := Handler(Options{Registry: reg, Ready: ready.Load, Live: []Checker{live}})

	for _, tc := range []struct {
		name       string
		setup      func()
		path       string
		wantStatus int
		wantBody   string
	}{
		{name: "not ready before the caches sync", path: "/readyz", wantStatus: 503, wantBody: "not synced"},
		{name: "ready after", setup: func() { ready.Store(true) }, path: "/readyz", wantStatus: 200, wantBody: "ok"},
		{name: "live while leader election is healthy", path: "/healthz", wantStatus: 200, wantBody: "ok"},
		{
			name: "not live when the lease expired unrenewed",
			setup: func() {
				e := errors.New("failed election to renew leadership on lease memhpa-scaler")
				live.err.Store(&e)
			},
			path: "/healthz", wantStatus: 500, wantBody: "leaderElection check failed: failed election to renew",
		},
		{name: "metrics", path: "/metrics", wantStatus: 200, wantBody: "memhpa_scaler_leader 0"},
		{name: "no pprof unless asked", path: "/debug/pprof/", wantStatus: 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			code, body := get(t, h, tc.path)
			if code != tc.wantStatus || !strings.Contains(body, tc.wantBody) {
				t.Errorf("GET %s = %d %q, want %d containing %q", tc.path, code, body, tc.wantStatus, tc.wantBody)
			}
		})
	}
	if code, _ := get(t, Handler(Options{Profiling: true}), "/debug/pprof/"); code != 200 {
		t.Errorf("pprof with Profiling: %d", code)
	}
}
