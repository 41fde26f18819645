// Package promsource is the scaler's source of memory samples, Prometheus
// (not the scaler's own metrics: those are controller.Monitor). It holds one
// small interface that returns the memory working set of every pod in a set
// of namespaces, its client_golang implementation with a deadline on every
// query and a cap on the size of every answer, and a map-driven fake for
// tests.
package promsource

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/memhpa/memhpa/scaler/internal/promquery"
)

// Source returns memory working-set samples per pod: the sum of its
// containers, each counted once however many series report it.
type Source interface {
	// WorkingSet runs one query for all the given namespaces.
	WorkingSet(ctx context.Context, namespaces []string) (promquery.Samples, error)
}

// Config says how to reach Prometheus.
type Config struct {
	// URL is the base URL, for example http://prometheus.kube-system.svc:9090.
	URL string
	// BearerTokenFile, when set, is read on every request (tokens rotate).
	BearerTokenFile string
	// CAFile, when set, is the CA bundle that signs Prometheus's certificate.
	CAFile string
	// Timeout bounds every query (kubernetes/kubernetes#72130: an HPA once
	// hung for days on a metrics call without one).
	Timeout time.Duration
	// Metric is the cAdvisor series of the working set.
	Metric string
	// Selector narrows Metric to the series of these label matchers (the
	// one scrape job to read when two export the same containers).
	Selector promquery.Selector
	// AllowInsecureBearerToken lets BearerTokenFile go with a plain http
	// URL, where anyone on the path could read the token (for a sidecar that
	// encrypts the traffic itself).
	AllowInsecureBearerToken bool
	// CPUMetric is the cAdvisor counter of a container's CPU time, in
	// core-seconds, read by CPUUsage with Selector too.
	CPUMetric string
	// CPURateWindow is the window of its rate.
	CPURateWindow time.Duration
	// MaxResponseBytes bounds the body of one answer, counted as it is read;
	// a larger one fails the query. Zero means DefaultMaxResponseBytes.
	MaxResponseBytes int64
}

// Prometheus is the Source backed by Prometheus's HTTP API.
type Prometheus struct {
	api      promv1.API
	metric   string
	selector promquery.Selector
	timeout  time.Duration
	cpu      cpuQuery
}

// NewPrometheus returns a Source for the Prometheus at cfg.URL.
func NewPrometheus(cfg Config) (*Prometheus, error) {
	if cfg.Timeout <= 0 {
		return nil, fmt.Errorf("prometheus timeout must be positive, got %v", cfg.Timeout)
	}
	if _, err := promquery.Query(cfg.Metric, cfg.Selector, []string{"x"}); err != nil {
		return nil, err
	}
	if cfg.CPUMetric != "" {
		if _, err := promquery.CPUQuery(cfg.CPUMetric, cfg.Selector, []string{"x"}, cfg.CPURateWindow); err != nil {
			return nil, err
		}
	}
	if err := checkTokenTransport(cfg); err != nil {
		return nil, err
	}
	httpCfg := config.HTTPClientConfig{
		BearerTokenFile: cfg.BearerTokenFile,
		TLSConfig:       config.TLSConfig{CAFile: cfg.CAFile},
	}
	if err := httpCfg.Validate(); err != nil {
		return nil, fmt.Errorf("prometheus client configuration: %w", err)
	}
	rt, err := config.NewRoundTripperFromConfig(httpCfg, "memhpa-scaler")
	if err != nil {
		return nil, fmt.Errorf("prometheus client configuration: %w", err)
	}
	limit := cfg.MaxResponseBytes
	if limit == 0 {
		limit = DefaultMaxResponseBytes
	}
	if limit < 0 {
		return nil, fmt.Errorf("prometheus response cap must be positive, got %d", limit)
	}
	capped := capResponses{next: rt, limit: limit}
	c, err := api.NewClient(api.Config{Address: cfg.URL, RoundTripper: capped})
	if err != nil {
		return nil, fmt.Errorf("prometheus client for %q: %w", cfg.URL, err)
	}
	bounded := boundedClient{Client: c, http: &http.Client{Transport: capped}, limit: limit}
	return &Prometheus{api: promv1.NewAPI(bounded), metric: cfg.Metric, selector: cfg.Selector, timeout: cfg.Timeout,
		cpu: cpuQuery{metric: cfg.CPUMetric, window: cfg.CPURateWindow}}, nil
}

// checkTokenTransport refuses to send a bearer token anywhere but over
// https, unless the configuration allows it explicitly.
func checkTokenTransport(cfg Config) error {
	if cfg.BearerTokenFile == "" || cfg.AllowInsecureBearerToken {
		return nil
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return fmt.Errorf("prometheus URL %q: %w", cfg.URL, err)
	}
	if !strings.EqualFold(u.Scheme, "https") {
		return fmt.Errorf("refusing to send the bearer token of %s to %s: anyone on the path could read it; use https, or allow plain http explicitly",
			cfg.BearerTokenFile, u.Redacted())
	}
	return nil
}

// WorkingSet implements Source.
func (p *Prometheus) WorkingSet(ctx context.Context, namespaces []string) (promquery.Samples, error) {
	q, err := promquery.Query(p.metric, p.selector, namespaces)
	if err != nil {
		return promquery.Samples{}, fmt.Errorf("build prometheus query: %w", err)
	}
	return p.run(ctx, q)
}

// run sends one instant query with the deadline and parses its vector.
func (p *Prometheus) run(ctx context.Context, q string) (promquery.Samples, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	// Ask the server to give up a little before we do, so that a slow query
	// ends with its own error rather than a cut connection.
	v, _, _, err := p.api.Query(ctx, q, time.Time{}, promv1.WithTimeout(serverTimeout(p.timeout)))
	var tooLarge *ResponseTooLargeError
	if errors.As(err, &tooLarge) {
		// Said plainly, without the POST and URL of the HTTP client's error.
		err = tooLarge
	}
	if err != nil {
		return promquery.Samples{}, fmt.Errorf("query prometheus: %w", err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return promquery.Samples{}, fmt.Errorf("query prometheus: got a %s, want a vector", v.Type())
	}
	return promquery.Parse(vec), nil
}

// serverTimeout is nine tenths of ours, in a form Prometheus parses: it reads
// "2s", "1m30s" or "800ms" but not Go's "1.8s".
func serverTimeout(d time.Duration) time.Duration {
	s := d * 9 / 10
	if s >= time.Second {
		return s.Truncate(time.Second)
	}
	return max(s.Truncate(time.Millisecond), time.Millisecond)
}

// FailureReasons are every value FailureReason returns.
var FailureReasons = []string{"timeout", "unreachable", "server_error", "client_error", "bad_response", "other"}

// FailureReason classifies a WorkingSet error for the failures metric:
// timeout, unreachable, server_error, client_error, bad_response or other.
func FailureReason(err error) string {
	var apiErr *promv1.Error
	var netErr net.Error
	var tooLarge *ResponseTooLargeError
	switch {
	case errors.As(err, &tooLarge):
		// Before net.Error: an answer refused by its Content-Length comes
		// back inside the *url.Error of the HTTP client, which is one.
		return "bad_response"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &apiErr):
		switch apiErr.Type {
		case promv1.ErrTimeout:
			return "timeout"
		case promv1.ErrServer:
			return "server_error"
		case promv1.ErrClient, promv1.ErrBadData, promv1.ErrExec:
			return "client_error"
		case promv1.ErrBadResponse:
			return "bad_response"
		}
		if errors.As(err, &netErr) {
			return "unreachable"
		}
		return "other"
	case errors.As(err, &netErr):
		if netErr.Timeout() {
			return "timeout"
		}
		return "unreachable"
	}
	return "other"
}
