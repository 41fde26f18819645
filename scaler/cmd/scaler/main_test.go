package main

import (
	"flag"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/memhpa/memhpa/scaler/internal/promsource"
)

func parse(t *testing.T, args ...string) (*options, error) {
	t.Helper()
	o := &options{}
	fs := flag.NewFlagSet("scaler", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.addFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o.noteExplicit(fs)
	return o, o.validate()
}

func TestPrometheusAddress(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{name: "defaults", want: "http://prometheus.kube-system.svc:9090"},
		{
			name: "the original design's single-dash flags",
			args: []string{"-prom-name", "prom", "-prom-namespace", "monitoring", "-prom-port", "9091", "-prom-scheme", "https"},
			want: "https://prom.monitoring.svc:9091",
		},
		{
			name: "double dashes and = work too",
			args: []string{"--prom-name=prom", "--prom-namespace=monitoring", "--prom-port=9091"},
			want: "http://prom.monitoring.svc:9091",
		},
		{
			name: "--prometheus-url overrides",
			args: []string{"-prom-name", "prom", "--prometheus-url", "http://127.0.0.1:9090"},
			want: "http://127.0.0.1:9090",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parse(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if got := o.prometheusAddress(); got != tc.want {
				t.Errorf("address = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDefaultsMatchTheArchitecture(t *testing.T) {
	o, err := parse(t)
	if err != nil {
		t.Fatal(err)
	}
	if o.syncPeriod != 30*time.Second || o.tolerance != 0.1 || o.memoryMetric != "container_memory_working_set_bytes" ||
		o.downscaleStabilization != 5*time.Minute || o.healthPort != 8082 || !o.leaderElect ||
		o.profiling {
		t.Errorf("defaults = %+v", o)
	}
}

func TestValidate(t *testing.T) {
	for _, args := range [][]string{
		{"--sync-period=0s"},
		{"--prometheus-timeout=30s"}, // not shorter than the sync period
		{"--tolerance=-0.1"},
		{"-prom-scheme=ftp"},
		{"--health-port=70000"},
		{"--leader-election-lease-duration=5s", "--leader-election-renew-deadline=10s"},
		{"--kube-api-qps=0"},
		{"--kube-api-burst=0"},
	} {
		if _, err := parse(t, args...); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
	o, err := parse(t, "--sync-period=5s")
	if err != nil || o.prometheusTimeout != 2500*time.Millisecond {
		t.Errorf("a short period without --prometheus-timeout: timeout %v, error %v; want half the period", o.prometheusTimeout, err)
	}
	if _, err := parse(t, "--leader-elect=false", "--leader-election-lease-duration=1s"); err != nil {
		t.Errorf("lease timings are not checked without leader election: %v", err)
	}
}
func TestPrometheusClientFlags(t *testing.T) {
	fs := flag.NewFlagSet("scaler", flag.ContinueOnError)
	(&options{}).addFlags(fs)
	for name, want := range map[string]string{
		"prometheus-max-response-bytes":          strconv.FormatInt(promsource.DefaultMaxResponseBytes, 10),
		"prometheus-allow-insecure-bearer-token": "false",
		"memory-metric-selector":                 "",
	} {
		f := fs.Lookup(name)
		if f == nil {
			t.Errorf("no flag --%s", name)
			continue
		}
		if f.DefValue != want {
			t.Errorf("--%s defaults to %q, want %q", name, f.DefValue, want)
		}
	}
	for _, args := range [][]string{
		{"--prometheus-max-response-bytes=0"}, {"--prometheus-max-response-bytes=-1"},
		{`--memory-metric-selector=job="a"} or vector(1`}, {`--memory-metric-selector=namespace="x"`},
	} {
		if _, err := parse(t, args...); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
	o, err := parse(t, "--prometheus-max-response-bytes=1048576", `--memory-metric-selector=job="kubelet",metrics_path="/metrics/cadvisor"`)
	if err != nil {
		t.Fatal(err)
	}
	if got := o.prometheusConfig().MaxResponseBytes; got != 1<<20 {
		t.Errorf("promsource.Config.MaxResponseBytes = %d, want 1048576", got)
	}
	if got, want := o.prometheusConfig().Selector.String(), `job="kubelet", metrics_path="/metrics/cadvisor"`; got != want {
		t.Errorf("promsource.Config.Selector = %s, want %s", got, want)
	}

	// A token over the default http:// address is refused unless allowed.
	o, err = parse(t, "--prometheus-bearer-token-file=/token")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := promsource.NewPrometheus(o.prometheusConfig()); err == nil {
		t.Errorf("a bearer token to %s was accepted", o.prometheusAddress())
	}
	o, err = parse(t, "--prometheus-bearer-token-file=/token", "--prometheus-allow-insecure-bearer-token")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := promsource.NewPrometheus(o.prometheusConfig()); err != nil {
		t.Errorf("--prometheus-allow-insecure-bearer-token: %v", err)
	}
}
