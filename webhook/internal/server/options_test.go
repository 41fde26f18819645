package server

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// The flag names are a contract with the chart and the harness
// (docs/architecture.md).
func TestFlagsParseIntoConfig(t *testing.T) {
	opts := NewOptions()
	fs := pflag.NewFlagSet("webhook", pflag.ContinueOnError)
	opts.AddFlags(fs)
	err := fs.Parse([]string{
		"--secure-port=10443", "--bind-address=127.0.0.1", "--health-port=10081",
		"--tls-cert-file=/certs/tls.crt", "--tls-private-key-file=/certs/tls.key",
		"--kubeconfig=/kube/config", "--logging-format=json", "-v=3",
		"--max-in-flight-reviews=10", "--max-in-flight-body-bytes=32Mi", "--client-ca-file=/client-ca/ca.crt",
	})
	if err != nil {
		t.Fatal(err)
	}
	c := opts.Config
	if c.SecurePort != 10443 || c.BindAddress != "127.0.0.1" || c.HealthPort != 10081 ||
		c.CertFile != "/certs/tls.crt" || c.KeyFile != "/certs/tls.key" || c.Kubeconfig != "/kube/config" ||
		c.MaxInFlightReviews != 10 || c.MaxInFlightBodyBytes != 32<<20 || c.ClientCAFile != "/client-ca/ca.crt" {
		t.Errorf("config %+v does not hold the parsed flags", c)
	}
	if opts.Logging.Format != "json" || opts.Logging.Verbosity != 3 {
		t.Errorf("logging format %q verbosity %d, want json 3", opts.Logging.Format, opts.Logging.Verbosity)
	}
	if err := opts.Validate(); err != nil {
		t.Errorf("Validate() = %v, want nil", err)
	}
}

func TestDefaultsMatchTheArchitecture(t *testing.T) {
	c := NewOptions().Config
	if c.SecurePort != 9443 || c.HealthPort != 8081 || c.BindAddress != "0.0.0.0" || c.CertReloadInterval <= 0 ||
		c.MaxInFlightReviews != 64 || c.MaxInFlightBodyBytes != 8<<20 {
		t.Errorf("defaults %+v, want secure port 9443, health port 8081, bind address 0.0.0.0, a reload interval, 64 reviews and 8 MiB in flight", c)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want []string // substrings of the error, all of them
	}{
		{name: "no certificate flags", mod: func(c *Config) { c.CertFile, c.KeyFile = "", "" },
			want: []string{"--tls-cert-file and --tls-private-key-file are required"}},
		{name: "key without certificate", mod: func(c *Config) { c.CertFile = "" },
			want: []string{"--tls-cert-file and --tls-private-key-file are required"}},
		{name: "ports out of range", mod: func(c *Config) { c.SecurePort, c.HealthPort = 70000, -1 },
			want: []string{"--secure-port must be between 0 and 65535, got 70000", "--health-port must be between 0 and 65535, got -1"}},
		{name: "same port twice", mod: func(c *Config) { c.HealthPort = c.SecurePort },
			want: []string{"--secure-port and --health-port must differ"}},
		{name: "no review in flight", mod: func(c *Config) { c.MaxInFlightReviews = 0 },
			want: []string{"--max-in-flight-reviews must be at least 1, got 0"}},
		{name: "byte budget below the largest body", mod: func(c *Config) { c.MaxInFlightBodyBytes = 512 << 10 },
			want: []string{"--max-in-flight-body-bytes must be at least 1Mi, got 512Ki"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := NewOptions()
			opts.Config.CertFile, opts.Config.KeyFile = "tls.crt", "tls.key"
			tt.mod(&opts.Config)
			err := opts.Validate()
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, lacks %q", err, w)
				}
			}
		})
	}
}
