package server

import (
	"errors"
	"fmt"

	"github.com/spf13/pflag"
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
	fs.StringVar(&c.Kubeconfig, "kubeconfig", c.Kubeconfig, "kubeconfig for the cross-object reads; empty means the in-cluster configuration")
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
	return errors.Join(errs...)
}
