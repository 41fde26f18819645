package app

import (
	"flag"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/memhpa/memhpa/scaler/internal/promsource"
)

// flags returns the options after parsing args.
func flags(t *testing.T, args ...string) *Options {
	t.Helper()
	o := NewOptions()
	fs := flag.NewFlagSet("scaler", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return o
}

// parse is the command line as main completes it.
func parse(t *testing.T, args ...string) (Config, error) {
	t.Helper()
	return flags(t, args...).Complete()
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
			cfg, err := parse(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Prometheus.URL; got != tc.want {
				t.Errorf("address = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDefaultsMatchTheArchitecture(t *testing.T) {
	cfg, err := parse(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SyncPeriod != 30*time.Second || cfg.Calc.Tolerance != 0.1 || cfg.Prometheus.Metric != "container_memory_working_set_bytes" ||
		cfg.Calc.DownscaleStabilization != 5*time.Minute || cfg.HealthPort != 8082 || !cfg.LeaderElection.Enabled ||
		cfg.Prometheus.Timeout != DefaultPrometheusTimeout || cfg.Profiling ||
		cfg.Prometheus.CPUMetric != "container_cpu_usage_seconds_total" || cfg.Prometheus.CPURateWindow != time.Minute ||
		cfg.Calc.CPUInitializationPeriod != 5*time.Minute || cfg.Calc.InitialReadinessDelay != 30*time.Second || cfg.Calc.OOMKillWindow != 10*time.Minute {
		t.Errorf("defaults = %+v", cfg)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		// want are the flags the error names, each once; none: valid.
		want []string
	}{
		{name: "defaults"},
		{name: "zero sync period", args: []string{"--sync-period=0s"}, want: []string{"--sync-period must be positive"}},
		{name: "timeout not shorter than the period", args: []string{"--prometheus-timeout=30s"}, want: []string{"--prometheus-timeout"}},
		{name: "negative timeout", args: []string{"--prometheus-timeout=-1s"}, want: []string{"--prometheus-timeout"}},
		{name: "timeout unset with a short period", args: []string{"--sync-period=5s"}},
		{name: "negative tolerance", args: []string{"--tolerance=-0.1"}, want: []string{"--tolerance"}},
		{name: "negative stabilisation", args: []string{"--downscale-stabilization=-1s"}, want: []string{"--downscale-stabilization"}},
		{name: "negative OOM-kill window", args: []string{"--oom-kill-window=-1s"}, want: []string{"--oom-kill-window must not be negative"}},
		{name: "OOM-kill window off", args: []string{"--oom-kill-window=0"}},
		{name: "scheme", args: []string{"-prom-scheme=ftp"}, want: []string{"-prom-scheme"}},
		{name: "health port", args: []string{"--health-port=70000"}, want: []string{"--health-port"}},
		{name: "lease timings", args: []string{"--leader-election-lease-duration=5s", "--leader-election-renew-deadline=10s"}, want: []string{"leader election needs"}},
		{name: "lease timings without leader election", args: []string{"--leader-elect=false", "--leader-election-lease-duration=1s"}},
		{name: "shards", args: []string{"--shards=4"}},
		{name: "no shard", args: []string{"--shards=0"}, want: []string{"--shards must be between 1 and 64"}},
		{name: "too many shards", args: []string{"--shards=65"}, want: []string{"--shards must be between 1 and 64"}},
		{name: "shards without leader election", args: []string{"--shards=2", "--leader-elect=false"}, want: []string{"--shards=2 needs --leader-elect"}},
		{name: "one shard without leader election", args: []string{"--shards=1", "--leader-elect=false"}},
		{name: "qps", args: []string{"--kube-api-qps=0"}, want: []string{"--kube-api-qps"}},
		{name: "burst", args: []string{"--kube-api-burst=0"}, want: []string{"--kube-api-burst"}},
		{name: "apiserver timeout", args: []string{"--kube-api-timeout=0s"}, want: []string{"--kube-api-timeout"}},
		{name: "response cap", args: []string{"--prometheus-max-response-bytes=0"}, want: []string{"--prometheus-max-response-bytes"}},
		{name: "selector that escapes", args: []string{`--memory-metric-selector=job="a"} or vector(1`}, want: []string{"--memory-metric-selector"}},
		{name: "cpu rate window too short", args: []string{"--cpu-rate-window=1s"}, want: []string{"--cpu-rate-window"}},
		{name: "cpu rate window of fractional seconds", args: []string{"--cpu-rate-window=2500ms"}, want: []string{"--cpu-rate-window"}},
		{name: "negative cpu initialization period", args: []string{"--cpu-initialization-period=-1s"}, want: []string{"--cpu-initialization-period"}},
		{name: "negative initial readiness delay", args: []string{"--initial-readiness-delay=-1s"}, want: []string{"--initial-readiness-delay"}},
		{name: "selector on a label of ours", args: []string{`--memory-metric-selector=namespace="x"`}, want: []string{"--memory-metric-selector"}},
		{
			name: "every error at once",
			args: []string{"--sync-period=0s", "--tolerance=-1", "--kube-api-qps=0", "--kube-api-burst=0", "--health-port=0"},
			want: []string{"--sync-period", "--tolerance", "--kube-api-qps", "--kube-api-burst", "--health-port"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := flags(t, tc.args...)
			before := *o
			err := o.Validate()
			if !reflect.DeepEqual(before, *o) {
				t.Errorf("Validate changed the options:\n%+v\nto\n%+v", before, *o)
			}
			if len(tc.want) == 0 {
				if err != nil {
					t.Errorf("error %v, want none", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want errors naming %v", tc.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Errorf("%d errors, want %d:\n%v", len(lines), len(tc.want), err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not name %s:\n%v", w, err)
				}
			}
		})
	}
}

func TestCompleteDerivesThePrometheusTimeout(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want time.Duration
	}{
		{name: "unset, the default period", want: DefaultPrometheusTimeout},
		{name: "unset, a period longer than the default", args: []string{"--sync-period=15s"}, want: DefaultPrometheusTimeout},
		{name: "unset, a period as long as the default", args: []string{"--sync-period=10s"}, want: 5 * time.Second},
		{name: "unset, a short period", args: []string{"--sync-period=5s"}, want: 2500 * time.Millisecond},
		{name: "set, kept as it is", args: []string{"--sync-period=5s", "--prometheus-timeout=4s"}, want: 4 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parse(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Prometheus.Timeout != tc.want {
				t.Errorf("timeout = %v, want %v", cfg.Prometheus.Timeout, tc.want)
			}
		})
	}
}

func TestCompleteCarriesEveryFlag(t *testing.T) {
	cfg, err := parse(t, "--sync-period=20s", "--kubeconfig=/kc", "--kube-api-qps=7", "--kube-api-burst=9", "--kube-api-timeout=3s",
		"--leader-election-namespace=ns", "--leader-election-id=lease", "--leader-election-lease-duration=20s",
		"--leader-election-renew-deadline=15s", "--leader-election-retry-period=3s", "--shards=3", "--health-port=9000", "--profiling",
		"--tolerance=0.2", "--downscale-stabilization=1m", "--memory-metric=m", "--prometheus-ca-file=/ca",
		"--cpu-metric=c", "--cpu-rate-window=30s", "--cpu-initialization-period=2m", "--initial-readiness-delay=10s", "--oom-kill-window=2m")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Prometheus: promsource.Config{
			URL: "http://prometheus.kube-system.svc:9090", CAFile: "/ca", Timeout: DefaultPrometheusTimeout, Metric: "m",
			MaxResponseBytes: promsource.DefaultMaxResponseBytes, CPUMetric: "c", CPURateWindow: 30 * time.Second,
		},
		SyncPeriod: 20 * time.Second,
		Kubeconfig: "/kc",
		KubeAPI:    KubeAPI{QPS: 7, Burst: 9, Timeout: 3 * time.Second},
		LeaderElection: LeaderElection{Enabled: true, Namespace: "ns", Name: "lease",
			LeaseDuration: 20 * time.Second, RenewDeadline: 15 * time.Second, RetryPeriod: 3 * time.Second, Shards: 3},
		HealthPort: 9000,
		Profiling:  true,
	}
	want.Calc.Tolerance, want.Calc.DownscaleStabilization, want.Calc.SyncPeriod = 0.2, time.Minute, 20*time.Second
	want.Calc.OOMKillWindow = 2 * time.Minute
	want.Calc.CPUInitializationPeriod, want.Calc.InitialReadinessDelay = 2*time.Minute, 10*time.Second
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("config =\n%+v\nwant\n%+v", cfg, want)
	}
}

func TestPrometheusClientFlags(t *testing.T) {
	fs := flag.NewFlagSet("scaler", flag.ContinueOnError)
	NewOptions().AddFlags(fs)
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
	cfg, err := parse(t, "--prometheus-max-response-bytes=1048576", `--memory-metric-selector=job="kubelet",metrics_path="/metrics/cadvisor"`)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Prometheus.MaxResponseBytes; got != 1<<20 {
		t.Errorf("promsource.Config.MaxResponseBytes = %d, want 1048576", got)
	}
	if got, want := cfg.Prometheus.Selector.String(), `job="kubelet", metrics_path="/metrics/cadvisor"`; got != want {
		t.Errorf("promsource.Config.Selector = %s, want %s", got, want)
	}

	// A token over the default http:// address is refused unless allowed.
	cfg, err = parse(t, "--prometheus-bearer-token-file=/token")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := promsource.NewPrometheus(cfg.Prometheus); err == nil {
		t.Errorf("a bearer token to %s was accepted", cfg.Prometheus.URL)
	}
	cfg, err = parse(t, "--prometheus-bearer-token-file=/token", "--prometheus-allow-insecure-bearer-token")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := promsource.NewPrometheus(cfg.Prometheus); err != nil {
		t.Errorf("--prometheus-allow-insecure-bearer-token: %v", err)
	}
}
