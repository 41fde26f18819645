package server

import (
	"errors"
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"
	logsapi "k8s.io/component-base/logs/api/v1"
	// Registers the json logging format with component-base.
	_ "k8s.io/component-base/logs/json/register"
)

// Options are the command-line flags of the webhook binary (the names in
// docs/architecture.md).
type Options struct {
	Config  Config
	Logging *logsapi.LoggingConfiguration
}

// NewOptions returns the options with their defaults.
func NewOptions() *Options {
	return &Options{Config: DefaultConfig(), Logging: logsapi.NewLoggingConfiguration()}
}

// AddFlags registers the flags on fs, including the component-base logging
// flags (--logging-format, -v, --vmodule, ...).
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	c := &o.Config
	fs.StringVar(&c.BindAddress, "bind-address", c.BindAddress, "IP address to listen on for the webhook and probe ports")
	fs.IntVar(&c.SecurePort, "secure-port", c.SecurePort, "port of the HTTPS admission webhook (/mutate, /validate)")
	fs.IntVar(&c.HealthPort, "health-port", c.HealthPort, "port of the plain-HTTP probes and metrics (/healthz, /livez, /readyz, /metrics)")
	fs.StringVar(&c.CertFile, "tls-cert-file", c.CertFile, "PEM serving certificate (chain); re-read from disk when it changes")
	fs.StringVar(&c.KeyFile, "tls-private-key-file", c.KeyFile, "PEM private key of --tls-cert-file; re-read from disk when it changes")
	fs.StringVar(&c.ClientCAFile, "client-ca-file", c.ClientCAFile,
		"PEM bundle of the CAs that sign the apiserver's client certificate; when set, the secure port serves only clients that present a certificate it verifies "+
			"(give the apiserver one with an AdmissionConfiguration, see charts/memhpa/README.md); re-read from disk when it changes")
	fs.StringVar(&c.Kubeconfig, "kubeconfig", c.Kubeconfig, "kubeconfig for the cross-object reads; empty means the in-cluster configuration")
	fs.IntVar(&c.MaxInFlightReviews, "max-in-flight-reviews", c.MaxInFlightReviews,
		"most admission reviews read or answered at once (/mutate and /validate together); more are answered 429 with Retry-After before their body is read")
	fs.Var(bytesFlag{&c.MaxInFlightBodyBytes}, "max-in-flight-body-bytes",
		"most request body bytes of the reviews in flight, as declared by Content-Length (a body of unknown length counts as 1Mi, the largest accepted); "+
			"more are answered 429. A review takes about twice its body while it is decoded: with 8Mi, a flood of the largest reviews peaked at 85Mi resident (30Mi idle), against the chart's 128Mi memory limit")
	logsapi.AddFlags(o.Logging, fs)
}

// Complete checks the options, applies the logging configuration (once per
// process) and returns the server configuration.
func (o *Options) Complete() (Config, error) {
	if err := o.Validate(); err != nil {
		return Config{}, err
	}
	if err := logsapi.ValidateAndApply(o.Logging, nil); err != nil {
		return Config{}, fmt.Errorf("apply logging flags: %w", err)
	}
	return o.Config, nil
}

// Validate reports every invalid server option at once.
func (o *Options) Validate() error {
	c := o.Config
	var errs []error
	if c.CertFile == "" || c.KeyFile == "" {
		errs = append(errs, errors.New("--tls-cert-file and --tls-private-key-file are required"))
	}
	for _, p := range []struct {
		flag string
		port int
	}{{"--secure-port", c.SecurePort}, {"--health-port", c.HealthPort}} {
		if p.port < 0 || p.port > 65535 {
			errs = append(errs, fmt.Errorf("%s must be between 0 and 65535, got %d", p.flag, p.port))
		}
	}
	if c.SecurePort == c.HealthPort && c.SecurePort != 0 {
		errs = append(errs, fmt.Errorf("--secure-port and --health-port must differ, both are %d", c.SecurePort))
	}
	if c.MaxInFlightReviews < 1 {
		errs = append(errs, fmt.Errorf("--max-in-flight-reviews must be at least 1, got %d", c.MaxInFlightReviews))
	}
	if c.MaxInFlightBodyBytes < MaxBodyBytes {
		// Below that, the largest review the server accepts could never be admitted.
		errs = append(errs, fmt.Errorf("--max-in-flight-body-bytes must be at least 1Mi, got %s", bytesFlag{&c.MaxInFlightBodyBytes}))
	}
	return errors.Join(errs...)
}

// bytesFlag is a flag of a byte count written as a Kubernetes quantity
// ("8Mi", "1G", "1048576").
type bytesFlag struct{ p *int64 }

func (f bytesFlag) String() string {
	if f.p == nil {
		return ""
	}
	return resource.NewQuantity(*f.p, resource.BinarySI).String()
}

func (f bytesFlag) Set(s string) error {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return err
	}
	*f.p = q.Value()
	return nil
}

func (bytesFlag) Type() string { return "quantity" }
