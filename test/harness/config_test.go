package harness

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/yaml"
)

var testPorts = Ports{APIServer: 1001, Etcd: 1002, EtcdPeer: 1003, KwokController: 1004, ControllerManager: 1005, Scheduler: 1006, Prometheus: 1007}

// Every component must listen on loopback only, with the ports we picked, and
// Prometheus must read our configuration.
func TestKwokctlConfigIsLoopbackOnly(t *testing.T) {
	raw, err := buildKwokctlConfig(Binaries{Kwok: "/b/kwok", Prometheus: "/usr/bin/prometheus"}, testPorts, "/c", "/d/prometheus.yaml",
		map[Component][]string{APIServer: {"--feature-gates=Foo=true"}, ControllerManager: {"--kube-api-qps=500"}})
	if err != nil {
		t.Fatal(err)
	}
	var got kwokctlConfig
	if err := yaml.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	o := got.Options
	if o.BindAddress != "127.0.0.1" {
		t.Errorf("bindAddress = %q, want 127.0.0.1", o.BindAddress)
	}
	if !o.KubeAdmission || !o.SecurePort || o.Runtime != "binary" {
		t.Errorf("admission %v, secure port %v, runtime %q: want admission on, secure, binary", o.KubeAdmission, o.SecurePort, o.Runtime)
	}
	ports := []int{o.KubeApiserverPort, o.EtcdPort, o.EtcdPeerPort, o.KwokControllerPort, o.KubeControllerManagerPort, o.KubeSchedulerPort, o.PrometheusPort}
	for i, p := range ports {
		if p != 1001+i {
			t.Errorf("port %d = %d, want %d", i, p, 1001+i)
		}
	}
	wantPatches := map[string][]extraArg{
		"prometheus": {
			{Key: "config.file", Value: "/d/prometheus.yaml", Override: true},
			{Key: "storage.tsdb.path", Value: "/d/prometheus-data"},
		},
		"kube-apiserver":          {{Key: "feature-gates", Value: "Foo=true"}},
		"kube-controller-manager": {{Key: "leader-elect", Value: "false"}, {Key: "kube-api-qps", Value: "500"}},
		"kube-scheduler":          {{Key: "leader-elect", Value: "false"}},
	}
	for _, p := range got.ComponentsPatches {
		if want, ok := wantPatches[p.Name]; !ok || !slices.Equal(p.ExtraArgs, want) {
			t.Errorf("patch %s = %+v, want %+v", p.Name, p.ExtraArgs, want)
		}
		delete(wantPatches, p.Name)
	}
	if len(wantPatches) > 0 {
		t.Errorf("missing component patches %v", wantPatches)
	}
	if _, err := buildKwokctlConfig(Binaries{}, testPorts, "", "", map[Component][]string{APIServer: {"--no-value"}}); err == nil {
		t.Error("an apiserver argument without a value was accepted")
	}
}

func TestPrometheusConfigScrapesLoopbackAtInterval(t *testing.T) {
	tests := []struct {
		interval    time.Duration
		wantTimeout string
	}{
		{5 * time.Second, "4s"},
		{2 * time.Second, "2s"},
		{15 * time.Second, "14s"},
	}
	for _, tt := range tests {
		t.Run(tt.interval.String(), func(t *testing.T) {
			cfg := buildPrometheusConfig(testPorts, tt.interval)
			var parsed struct {
				Global struct {
					ScrapeInterval string `json:"scrape_interval"`
					ScrapeTimeout  string `json:"scrape_timeout"`
				} `json:"global"`
				ScrapeConfigs []struct {
					HTTPSD []struct {
						URL             string `json:"url"`
						RefreshInterval string `json:"refresh_interval"`
					} `json:"http_sd_configs"`
					Static []struct {
						Targets []string `json:"targets"`
					} `json:"static_configs"`
				} `json:"scrape_configs"`
			}
			if err := yaml.Unmarshal([]byte(cfg), &parsed); err != nil {
				t.Fatalf("%v\n%s", err, cfg)
			}
			if parsed.Global.ScrapeInterval != tt.interval.String() || parsed.Global.ScrapeTimeout != tt.wantTimeout {
				t.Errorf("interval %s timeout %s, want %s and %s", parsed.Global.ScrapeInterval, parsed.Global.ScrapeTimeout, tt.interval, tt.wantTimeout)
			}
			for _, sc := range parsed.ScrapeConfigs {
				for _, sd := range sc.HTTPSD {
					if sd.URL != "http://127.0.0.1:1004/discovery/prometheus" || sd.RefreshInterval != tt.interval.String() {
						t.Errorf("http_sd %+v", sd)
					}
				}
				for _, st := range sc.Static {
					for _, target := range st.Targets {
						if !strings.HasPrefix(target, "127.0.0.1:") {
							t.Errorf("static target %q is not on loopback", target)
						}
					}
				}
			}
		})
	}
}

// The harness registers what the chart renders: its names and rules, with the
// clientConfig at the loopback URL, the given CA and failure policy.
func TestWebhookConfigurationsAreTheChartsAtLoopback(t *testing.T) {
	helm := filepath.Join(DefaultBinDir(), "helm")
	if !isExecutable(helm) {
		t.Fatalf("helm not found at %s: run `make tools` or set MEMHPA_BIN", helm)
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := webhookConfigurations(t.Context(), helm, root, t.TempDir(), "x-memhpa", "https://127.0.0.1:4443", []byte("PEM"), "Ignore")
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(manifest, "\n---\n")
	if len(docs) != 2 {
		t.Fatalf("want 2 documents, got %d:\n%s", len(docs), manifest)
	}
	var m admissionv1.MutatingWebhookConfiguration
	var v admissionv1.ValidatingWebhookConfiguration
	if err := yaml.UnmarshalStrict([]byte(docs[0]), &m); err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict([]byte(docs[1]), &v); err != nil {
		t.Fatal(err)
	}
	if m.Kind != "MutatingWebhookConfiguration" || v.Kind != "ValidatingWebhookConfiguration" || len(m.Webhooks) != 1 || len(v.Webhooks) != 1 {
		t.Fatalf("want one mutating then one validating configuration of one webhook each, got %s (%d) and %s (%d)",
			m.Kind, len(m.Webhooks), v.Kind, len(v.Webhooks))
	}
	checks := []struct {
		kind, config, name, url, policy string
		ca                              []byte
		rules                           []admissionv1.RuleWithOperations
		versions                        []string
	}{
		{"mutating", m.Name, m.Webhooks[0].Name, ptrString(m.Webhooks[0].ClientConfig.URL), string(*m.Webhooks[0].FailurePolicy), m.Webhooks[0].ClientConfig.CABundle, m.Webhooks[0].Rules, m.Webhooks[0].AdmissionReviewVersions},
		{"validating", v.Name, v.Webhooks[0].Name, ptrString(v.Webhooks[0].ClientConfig.URL), string(*v.Webhooks[0].FailurePolicy), v.Webhooks[0].ClientConfig.CABundle, v.Webhooks[0].Rules, v.Webhooks[0].AdmissionReviewVersions},
	}
	wantURL := map[string]string{"mutating": "https://127.0.0.1:4443/mutate", "validating": "https://127.0.0.1:4443/validate"}
	wantName := map[string]string{"mutating": "mmemhpa.autoscaling.memhpa.io", "validating": "vmemhpa.autoscaling.memhpa.io"}
	for _, c := range checks {
		if c.url != wantURL[c.kind] || c.policy != "Ignore" || string(c.ca) != "PEM" {
			t.Errorf("%s: url %s policy %s ca %q", c.kind, c.url, c.policy, c.ca)
		}
		if c.config != "x-memhpa" || c.name != wantName[c.kind] {
			t.Errorf("%s: configuration %q webhook %q, want x-memhpa and %s", c.kind, c.config, c.name, wantName[c.kind])
		}
		if len(c.rules) != 1 || strings.Join(c.rules[0].Resources, ",") != "memhpas" || len(c.rules[0].Operations) != 2 {
			t.Errorf("%s: rules %+v", c.kind, c.rules)
		}
		if strings.Join(c.versions, ",") != "v1" {
			t.Errorf("%s: admissionReviewVersions %v", c.kind, c.versions)
		}
	}
	if _, err := webhookConfigurations(t.Context(), helm, root, t.TempDir(), "x-memhpa", "https://127.0.0.1:4443", []byte("PEM"), "Maybe"); err == nil {
		t.Error("failurePolicy Maybe was rendered; the chart's schema must refuse it")
	}
}

func ptrString(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func TestNodeScaleArgs(t *testing.T) {
	for _, tc := range []struct {
		name        string
		podsPerNode int
		want        []string
	}{
		{name: "kwok's default capacity", want: nil},
		{name: "more pods, same CIDR", podsPerNode: 200, want: []string{"--param", ".allocatable.pods=200"}},
		{name: "more pods than a /24 holds", podsPerNode: 600, want: []string{"--param", ".allocatable.pods=600", "--param", `.podCIDRs=["10.0.0.0/20"]`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := nodeScaleArgs("c", 3, tc.podsPerNode)
			base := []string{"scale", "node", "--name", "c", "--replicas", "3", "--param", `.nodeIPs=["127.0.0.1"]`}
			if want := append(base, tc.want...); !slices.Equal(got, want) {
				t.Errorf("args = %q, want %q", got, want)
			}
		})
	}
}

// Several node jobs scrape the same kwok endpoints under their own names, in
// order, beside the harness's other jobs.
func TestPrometheusConfigNodeJobs(t *testing.T) {
	for _, tc := range []struct {
		name string
		jobs []string
		want []string
	}{
		{name: "default", want: []string{NodeMetricsJob, "kwok-controller", "prometheus"}},
		{name: "twice", jobs: []string{NodeMetricsJob, "again"}, want: []string{NodeMetricsJob, "again", "kwok-controller", "prometheus"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var parsed struct {
				ScrapeConfigs []struct {
					JobName string `json:"job_name"`
					HTTPSD  []struct {
						URL string `json:"url"`
					} `json:"http_sd_configs"`
				} `json:"scrape_configs"`
			}
			cfg := buildPrometheusConfig(testPorts, 5*time.Second, tc.jobs...)
			if err := yaml.Unmarshal([]byte(cfg), &parsed); err != nil {
				t.Fatalf("%v\n%s", err, cfg)
			}
			var got []string
			for _, sc := range parsed.ScrapeConfigs {
				got = append(got, sc.JobName)
				if sc.JobName != "kwok-controller" && sc.JobName != "prometheus" &&
					(len(sc.HTTPSD) != 1 || sc.HTTPSD[0].URL != "http://127.0.0.1:1004/discovery/prometheus") {
					t.Errorf("job %s does not discover kwok's nodes: %+v", sc.JobName, sc.HTTPSD)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("jobs %v, want %v", got, tc.want)
			}
		})
	}
}
