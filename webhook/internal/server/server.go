// Package server is the webhook's thin shell around package admission: a chi
// router with POST /mutate and POST /validate over TLS, the serving
// certificate (and, optionally, the CA bundle of the clients it requires)
// read and re-read from disk, a plain-HTTP probe port (/healthz, /livez,
// /readyz, /metrics), hard limits on what requests may cost, alone and
// together, and graceful shutdown.
//
// Everything that decides an admission lives in package admission; this
// package only moves bytes, counts and logs.
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/memhpa/memhpa/webhook/internal/admission"
	"github.com/memhpa/memhpa/webhook/pkg/generated/clientset/versioned"
)

// Config is everything the webhook needs to run; Options fills it from flags.
type Config struct {
	BindAddress string
	SecurePort  int
	HealthPort  int

	CertFile string
	KeyFile  string
	// CertReloadInterval is how often the certificate files are re-read
	// (cert-manager's FileCertificateSource also uses 10s).
	CertReloadInterval time.Duration
	// CertMaxFailures is how many failed reads of the certificate files in a
	// row end the process; a good read starts the count again.
	CertMaxFailures int
	// ClientCAFile, when set, is a PEM bundle of the CAs whose client
	// certificates the secure port requires (the apiserver's, configured
	// through its admission configuration); it is re-read like the serving
	// certificate.
	ClientCAFile string

	// Kubeconfig is the path of a kubeconfig for the cross-object reads;
	// empty means the in-cluster configuration.
	Kubeconfig string
	// LookupTimeout bounds the cross-object reads of one validation.
	LookupTimeout time.Duration

	// ReviewTimeout caps the time one admission may take, whatever the
	// apiserver's ?timeout= says.
	ReviewTimeout time.Duration
	// ShutdownTimeout bounds the drain of in-flight requests on shutdown.
	ShutdownTimeout time.Duration
	// MaxInFlightReviews caps the reviews being read or answered at once, on
	// both paths together, and MaxInFlightBodyBytes the sum of their
	// declared body sizes (a body of unknown length counts as MaxBodyBytes);
	// a review beyond either is answered 429 before its body is read.
	MaxInFlightReviews   int
	MaxInFlightBodyBytes int64
}

// DefaultConfig returns the defaults of the flags in docs/architecture.md.
func DefaultConfig() Config {
	return Config{
		BindAddress:        "0.0.0.0",
		SecurePort:         9443,
		HealthPort:         8081,
		CertReloadInterval: 10 * time.Second,
		CertMaxFailures:    12,
		LookupTimeout:      2 * time.Second,
		// The apiserver allows a webhook at most 30s (timeoutSeconds).
		ReviewTimeout:      30 * time.Second,
		ShutdownTimeout:    25 * time.Second,
		MaxInFlightReviews: 64,
		// A flood of the largest reviews peaked at 85 MiB resident with this
		// budget (30 MiB idle; 114 MiB with 16 MiB, 212 MiB with the count
		// alone), against the chart's 128 MiB limit.
		MaxInFlightBodyBytes: 8 << 20,
	}
}

// HTTP limits of the secure port. The apiserver sends small requests and keeps
// connections alive between calls.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	idleTimeout       = 90 * time.Second
	maxHeaderBytes    = 64 << 10
	// writeSlack is added to ReviewTimeout for the write timeout, so a review
	// that uses its whole budget can still be answered.
	writeSlack = 5 * time.Second
)

// Run builds the Kubernetes clients, the admission reviewers and the server,
// listens on the configured ports and serves until ctx is done.
func Run(ctx context.Context, cfg Config) error {
	logger := klog.FromContext(ctx)
	restCfg, source, err := clientConfig(cfg.Kubeconfig)
	if err != nil {
		return err
	}
	// The informers list and watch once; live reads are only the fallback
	// for a workload the cache has not seen yet. client-go's default 5 QPS
	// would queue a burst of those behind its limiter; rely on API priority
	// and fairness instead, as the scaler does.
	restCfg.QPS, restCfg.Burst = 50, 100
	kube, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("build Kubernetes client: %w", err)
	}
	memhpa, err := versioned.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("build MemHpa client: %w", err)
	}
	logger.Info("Reading the cluster for cross-object checks", "config", source, "host", restCfg.Host)

	lookup, err := admission.NewCachedLookup(kube, memhpa, admission.NewClientLookup(kube, memhpa))
	if err != nil {
		return err
	}
	lookup.Start(ctx)
	dyn, err := dynamic.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("build dynamic client: %w", err)
	}
	// Optional: VerticalPodAutoscalers are watched only while their API is
	// served, so readiness does not wait for them.
	vpas := admission.NewVPAWatcher(kube.Discovery(), dyn, 0, 0)
	go vpas.Run(ctx)

	s := New(cfg, admission.NewDefaulter(), admission.NewValidator(admission.WithVPAs(lookup, vpas), cfg.LookupTimeout))
	s.metrics.watchLookup(lookup.Counts)
	// Until the caches have synced the lookup reads live (slow, but right):
	// keep the pod out of the Service until then.
	s.ReadyWhen("informer caches not synced", lookup.Synced)

	secure, err := net.Listen("tcp", net.JoinHostPort(cfg.BindAddress, strconv.Itoa(cfg.SecurePort)))
	if err != nil {
		return fmt.Errorf("listen on the secure port: %w", err)
	}
	health, err := net.Listen("tcp", net.JoinHostPort(cfg.BindAddress, strconv.Itoa(cfg.HealthPort)))
	if err != nil {
		_ = secure.Close()
		return fmt.Errorf("listen on the health port: %w", err)
	}
	return s.Serve(ctx, secure, health)
}

// clientConfig loads the kubeconfig at path, or the in-cluster configuration
// when path is empty. It says which it used, and fails with a message a user
// can act on when there is none.
func clientConfig(path string) (*rest.Config, string, error) {
	if path != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			return nil, "", fmt.Errorf("load --kubeconfig %q: %w", path, err)
		}
		return cfg, "kubeconfig", nil
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return nil, "", fmt.Errorf("no Kubernetes client configuration for the cross-object checks: --kubeconfig is empty and the in-cluster configuration is unavailable (%w); pass --kubeconfig when running outside a cluster", err)
	}
	return cfg, "in-cluster", nil
}

// Server serves the webhook. Make one with New.
type Server struct {
	cfg   Config
	certs *fileReloader[*tls.Certificate]
	// clientAuth, with ClientCAFile, is the TLS configuration that requires
	// client certificates of the bundle on disk; nil without.
	clientAuth *fileReloader[*tls.Config]
	metrics    *metrics
	// shuttingDown turns /readyz red as soon as shutdown begins.
	shuttingDown atomic.Bool
	// readyChecks turn /readyz red while one of them is false.
	readyChecks []readyCheck
	secure      *http.Server
	health      *http.Server
}

// New returns a server answering /mutate with mutator and /validate with
// validator. It does nothing until Serve.
func New(cfg Config, mutator, validator admission.Reviewer) *Server {
	s := &Server{
		cfg: cfg,
		certs: &fileReloader[*tls.Certificate]{
			what:        "serving certificate",
			paths:       []string{cfg.CertFile, cfg.KeyFile},
			build:       servingCertificate,
			interval:    cfg.CertReloadInterval,
			maxFailures: cfg.CertMaxFailures,
		},
		metrics: newMetrics(),
	}

	limits := newReviewLimits(cfg.MaxInFlightReviews, cfg.MaxInFlightBodyBytes)
	s.metrics.watchInFlight(limits.inFlight)
	router := chi.NewRouter()
	router.Use(recoverPanics)
	for _, path := range []struct {
		name     string
		reviewer admission.Reviewer
		decode   func([]byte) (*admissionv1.AdmissionReview, error)
	}{
		{"mutate", mutator, admission.DecodeReview},
		{"validate", validator, admission.DecodeReviewObjects},
	} {
		router.Method(http.MethodPost, "/"+path.name, &reviewHandler{name: path.name, reviewer: path.reviewer, decode: path.decode,
			metrics: s.metrics, limits: limits, maxTimeout: cfg.ReviewTimeout})
	}

	tlsConfig := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: s.getCertificate,
		// HTTP/2 off: the apiserver speaks HTTP/1.1 to webhooks, and
		// HTTP/2 brought the rapid-reset and CONTINUATION-flood CVEs
		// (CVE-2023-44487, CVE-2023-45288) to servers that offered it.
		NextProtos: []string{"http/1.1"},
	}
	if cfg.ClientCAFile != "" {
		s.clientAuth = &fileReloader[*tls.Config]{
			what:        "client CA bundle",
			paths:       []string{cfg.ClientCAFile},
			build:       func(contents [][]byte) (*tls.Config, error) { return requireClientCerts(tlsConfig, contents[0]) },
			interval:    cfg.CertReloadInterval,
			maxFailures: cfg.CertMaxFailures,
		}
		// Every handshake takes the configuration of the bundle last read,
		// so a rotated bundle needs no restart; none read yet refuses all.
		tlsConfig.ClientAuth = tls.RequireAndVerifyClientCert
		tlsConfig.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
			c, ok := s.clientAuth.Get()
			if !ok {
				return nil, errNoClientCA
			}
			return c, nil
		}
	}
	s.secure = &http.Server{
		Handler:   router,
		TLSConfig: tlsConfig,
		// A non-nil empty map keeps net/http from configuring HTTP/2.
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      cfg.ReviewTimeout + writeSlack,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
	s.health = &http.Server{
		Handler:           s.healthRouter(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      readTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
	return s
}

// readyCheck is a condition of readiness and what /readyz says when it fails.
type readyCheck struct {
	why   string
	ready func() bool
}

// ReadyWhen makes /readyz fail with why while ready returns false. Call it
// before Serve.
func (s *Server) ReadyWhen(why string, ready func() bool) {
	s.readyChecks = append(s.readyChecks, readyCheck{why: why, ready: ready})
}

// notReady is why the server is not ready, or "" when it is.
func (s *Server) notReady() string {
	if s.shuttingDown.Load() {
		return "shutting down"
	}
	if !s.certificateLoaded() {
		return "no serving certificate loaded"
	}
	if s.clientAuth != nil {
		if _, ok := s.clientAuth.Get(); !ok {
			return "no client CA bundle loaded (--client-ca-file)"
		}
	}
	for _, c := range s.readyChecks {
		if !c.ready() {
			return c.why
		}
	}
	return ""
}

// Serve serves the webhook on secure (TLS) and the probes and metrics on
// health (plain HTTP) until ctx is done, then drains in-flight requests for
// at most ShutdownTimeout. It also ends, with an error, when the certificate
// source gives up or a listener fails. It closes both listeners.
func (s *Server) Serve(ctx context.Context, secure, health net.Listener) error {
	logger := klog.FromContext(ctx)
	// Requests keep the logger of ctx but not its cancellation: a SIGTERM must
	// let in-flight reviews finish, not cut them off.
	base := context.WithoutCancel(ctx)
	for _, srv := range []*http.Server{s.secure, s.health} {
		srv.BaseContext = func(net.Listener) context.Context { return base }
		srv.ErrorLog = log.New(errorLogWriter{logger: logger}, "", 0)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.certs.Start(gctx) })
	if s.clientAuth != nil {
		g.Go(func() error { return s.clientAuth.Start(gctx) })
	}
	g.Go(func() error {
		logger.Info("Serving admission webhooks", "address", secure.Addr().String(),
			"certFile", s.cfg.CertFile, "keyFile", s.cfg.KeyFile, "clientCAFile", s.cfg.ClientCAFile,
			"reloadInterval", s.cfg.CertReloadInterval)
		return serveErr(s.secure.ServeTLS(secure, "", ""))
	})
	g.Go(func() error {
		logger.Info("Serving probes and metrics", "address", health.Addr().String())
		return serveErr(s.health.Serve(health))
	})
	g.Go(func() error {
		<-gctx.Done()
		return s.shutdown(ctx)
	})
	return g.Wait()
}

// shutdown drains the secure server, then stops the health server, so probes
// keep answering (readyz red) while requests drain.
func (s *Server) shutdown(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	s.shuttingDown.Store(true)
	logger.Info("Shutting down: draining in-flight requests", "timeout", s.cfg.ShutdownTimeout)
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	if err := s.secure.Shutdown(drainCtx); err != nil {
		errs = append(errs, fmt.Errorf("drain webhook requests: %w", err))
		_ = s.secure.Close()
	}
	if err := s.health.Shutdown(drainCtx); err != nil {
		errs = append(errs, fmt.Errorf("stop health server: %w", err))
		_ = s.health.Close()
	}
	if len(errs) == 0 {
		logger.Info("Shut down cleanly")
	}
	return errors.Join(errs...)
}

func serveErr(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// healthRouter serves the probe port. /healthz is red until a certificate is
// loaded (a webhook without one fails every TLS handshake); /readyz is also
// red while a ReadyWhen check fails and once shutdown begins; /livez is green
// while the process serves.
func (s *Server) healthRouter() http.Handler {
	router := chi.NewRouter()
	router.Use(recoverPanics)
	router.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeCheck(w, s.certificateLoaded(), "no serving certificate loaded")
	})
	router.Get("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		why := s.notReady()
		writeCheck(w, why == "", why)
	})
	router.Get("/livez", func(w http.ResponseWriter, _ *http.Request) {
		writeCheck(w, true, "")
	})
	router.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	return router
}

func (s *Server) certificateLoaded() bool {
	_, ok := s.certs.Get()
	return ok
}

// errNoCertificate fails a handshake that comes before the first good read of
// the certificate files.
var errNoCertificate = errors.New("no serving certificate loaded yet")

func (s *Server) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	cert, ok := s.certs.Get()
	if !ok {
		return nil, errNoCertificate
	}
	return cert, nil
}

// errNoClientCA fails a handshake that comes before the first good read of
// the client CA bundle.
var errNoClientCA = errors.New("no client CA bundle loaded yet")

// requireClientCerts returns base with ClientCAs set to the certificates of
// bundle (PEM), which must hold at least one.
func requireClientCerts(base *tls.Config, bundle []byte) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(bundle) {
		return nil, errors.New("no PEM certificate in the client CA bundle")
	}
	c := base.Clone()
	c.ClientCAs = pool
	c.GetConfigForClient = nil
	return c, nil
}

// servingCertificate builds the certificate from the contents of the
// certificate (chain) and key files, in that order.
func servingCertificate(contents [][]byte) (*tls.Certificate, error) {
	cert, err := tls.X509KeyPair(contents[0], contents[1])
	if err != nil {
		return nil, err
	}
	return &cert, nil
}

func writeCheck(w http.ResponseWriter, ok bool, why string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprintln(w, why)
		return
	}
	_, _ = fmt.Fprintln(w, "ok")
}

// errorLogWriter sends net/http's own error log (TLS handshake failures,
// mostly from scanners or clients that do not trust the CA) to klog at V(2),
// not to stderr at every verbosity.
type errorLogWriter struct{ logger klog.Logger }

func (e errorLogWriter) Write(p []byte) (int, error) {
	e.logger.V(2).Info("HTTP server error", "err", strings.TrimSpace(string(p)))
	return len(p), nil
}
