// Package health is the scaler's plain-HTTP probe and metrics server:
// /healthz (liveness: fails once this process has held the lease past its
// expiry without renewing it, so the kubelet restarts a scaler stuck as a
// leader), /readyz (the informer caches have synced), /metrics and, when
// asked for, Go's pprof profiles.
package health

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Checker is one liveness check; client-go's leaderelection.HealthzAdaptor
// is one.
type Checker interface {
	Name() string
	Check(*http.Request) error
}

// Options configure the server.
type Options struct {
	// Port is the TCP port, on every address.
	Port int
	// Registry is served on /metrics.
	Registry *prometheus.Registry
	// Ready tells /readyz whether the caches have synced.
	Ready func() bool
	// Live are the checks of /healthz; all must pass.
	Live []Checker
	// Profiling serves /debug/pprof/.
	Profiling bool
}

// NewServer returns the server; the caller runs ListenAndServe and Shutdown.
func NewServer(o Options) *http.Server {
	return &http.Server{
		Addr:              net.JoinHostPort("", strconv.Itoa(o.Port)),
		Handler:           Handler(o),
		ReadHeaderTimeout: 5 * time.Second,
	}
}

// Handler routes the endpoints of o.
func Handler(o Options) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		for _, c := range o.Live {
			if err := c.Check(r); err != nil {
				http.Error(w, fmt.Sprintf("%s check failed: %v", c.Name(), err), http.StatusInternalServerError)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if o.Ready == nil || !o.Ready() {
			http.Error(w, "informer caches not synced", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	if o.Registry != nil {
		mux.Handle("/metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{Registry: o.Registry}))
	}
	if o.Profiling {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}
