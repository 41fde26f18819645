package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Ports are the TCP ports of one environment, all on 127.0.0.1.
type Ports struct {
	APIServer         int `json:"apiServer"`
	Etcd              int `json:"etcd"`
	EtcdPeer          int `json:"etcdPeer"`
	KwokController    int `json:"kwokController"`
	ControllerManager int `json:"controllerManager"`
	Scheduler         int `json:"scheduler"`
	Prometheus        int `json:"prometheus"`
}

func pickPorts() (Ports, error) {
	p, err := freePorts(7)
	if err != nil {
		return Ports{}, err
	}
	return Ports{
		APIServer: p[0], Etcd: p[1], EtcdPeer: p[2], KwokController: p[3],
		ControllerManager: p[4], Scheduler: p[5], Prometheus: p[6],
	}, nil
}

// kwokctlConfig is the part of kwok's KwokctlConfiguration
// (config.kwok.x-k8s.io/v1alpha1) the harness sets; field names are kwok's.
type kwokctlConfig struct {
	APIVersion        string            `json:"apiVersion"`
	Kind              string            `json:"kind"`
	Options           kwokctlOptions    `json:"options"`
	ComponentsPatches []componentPatch  `json:"componentsPatches,omitempty"`
	Metadata          map[string]string `json:"metadata,omitempty"`
}

type kwokctlOptions struct {
	Runtime                   string   `json:"runtime"`
	BindAddress               string   `json:"bindAddress"`
	SecurePort                bool     `json:"securePort"`
	KubeAuthorization         bool     `json:"kubeAuthorization"`
	KubeAdmission             bool     `json:"kubeAdmission"`
	QuietPull                 bool     `json:"quietPull"`
	EnableCRDs                []string `json:"enableCRDs"`
	KubeApiserverPort         int      `json:"kubeApiserverPort"`
	EtcdPort                  int      `json:"etcdPort"`
	EtcdPeerPort              int      `json:"etcdPeerPort"`
	KwokControllerPort        int      `json:"kwokControllerPort"`
	KubeControllerManagerPort int      `json:"kubeControllerManagerPort"`
	KubeSchedulerPort         int      `json:"kubeSchedulerPort"`
	PrometheusPort            int      `json:"prometheusPort"`
	KubeApiserverBinary       string   `json:"kubeApiserverBinary"`
	KubeControllerManagerBin  string   `json:"kubeControllerManagerBinary"`
	KubeSchedulerBinary       string   `json:"kubeSchedulerBinary"`
	KubectlBinary             string   `json:"kubectlBinary"`
	KwokControllerBinary      string   `json:"kwokControllerBinary"`
	EtcdBinary                string   `json:"etcdBinary"`
	PrometheusBinary          string   `json:"prometheusBinary"`
	CacheDir                  string   `json:"cacheDir"`
}

type componentPatch struct {
	Name      string     `json:"name"`
	ExtraArgs []extraArg `json:"extraArgs"`
}

type extraArg struct {
	Key      string `json:"key"`
	Value    string `json:"value"`
	Override bool   `json:"override,omitempty"`
}

// buildKwokctlConfig renders the KwokctlConfiguration of an environment.
// Every listener is bound to 127.0.0.1 (kwokctl defaults to 0.0.0.0);
// admission plugins are on so that webhooks are called; Prometheus reads
// promConfig (ours) instead of the one kwokctl generates. extra holds more
// --key=value flags by component (kube-apiserver, kube-controller-manager,
// kube-scheduler), appended to the harness's own.
func buildKwokctlConfig(b Binaries, p Ports, cacheDir, promConfig string, extra map[Component][]string) ([]byte, error) {
	cfg := kwokctlConfig{
		APIVersion: "config.kwok.x-k8s.io/v1alpha1",
		Kind:       "KwokctlConfiguration",
		Options: kwokctlOptions{
			Runtime:           "binary",
			BindAddress:       "127.0.0.1",
			SecurePort:        true,
			KubeAuthorization: true,
			KubeAdmission:     true,
			QuietPull:         true,
			// Metric: /metrics/resource per node; ClusterResourceUsage: usage
			// from the pod annotation; ResourceUsage: per-pod overrides.
			EnableCRDs:                []string{"Metric", "ClusterResourceUsage", "ResourceUsage"},
			KubeApiserverPort:         p.APIServer,
			EtcdPort:                  p.Etcd,
			EtcdPeerPort:              p.EtcdPeer,
			KwokControllerPort:        p.KwokController,
			KubeControllerManagerPort: p.ControllerManager,
			KubeSchedulerPort:         p.Scheduler,
			PrometheusPort:            p.Prometheus,
			KubeApiserverBinary:       b.KubeAPIServer,
			KubeControllerManagerBin:  b.KubeControllerManager,
			KubeSchedulerBinary:       b.KubeScheduler,
			KubectlBinary:             b.Kubectl,
			KwokControllerBinary:      b.Kwok,
			EtcdBinary:                b.Etcd,
			PrometheusBinary:          b.Prometheus,
			CacheDir:                  cacheDir,
		},
		ComponentsPatches: []componentPatch{
			{
				Name: "prometheus",
				// Its own storage beside its configuration: Debian's Prometheus
				// defaults to /var/lib/prometheus/metrics2, which every
				// environment on the machine (and a restart of this one)
				// would otherwise share, mixing their series.
				ExtraArgs: []extraArg{
					{Key: "config.file", Value: promConfig, Override: true},
					// Appended: kwokctl sets no storage path, and an override only replaces an argument it has.
					{Key: "storage.tsdb.path", Value: filepath.Join(filepath.Dir(promConfig), "prometheus-data")},
				},
			},
			// One instance each: no leader election, so that an apiserver
			// outage (a fault test) does not make them exit for a lost lease,
			// with nobody to restart them.
			{Name: "kube-controller-manager", ExtraArgs: []extraArg{{Key: "leader-elect", Value: "false"}}},
			{Name: "kube-scheduler", ExtraArgs: []extraArg{{Key: "leader-elect", Value: "false"}}},
		},
	}
	for _, name := range []Component{APIServer, ControllerManager, Scheduler} {
		if len(extra[name]) == 0 {
			continue
		}
		i := slices.IndexFunc(cfg.ComponentsPatches, func(p componentPatch) bool { return p.Name == string(name) })
		if i < 0 {
			cfg.ComponentsPatches = append(cfg.ComponentsPatches, componentPatch{Name: string(name)})
			i = len(cfg.ComponentsPatches) - 1
		}
		for _, a := range extra[name] {
			k, v, ok := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if !ok {
				return nil, fmt.Errorf("%s argument %q: want --key=value", name, a)
			}
			cfg.ComponentsPatches[i].ExtraArgs = append(cfg.ComponentsPatches[i].ExtraArgs, extraArg{Key: k, Value: v})
		}
	}
	return yaml.Marshal(cfg)
}

// NodeMetricsJob is the scrape job of kwok's per-node endpoints, the job label
// of every container series the harness's Prometheus holds.
const NodeMetricsJob = "kwok-controller-metrics-discovery"

// buildPrometheusConfig scrapes kwok's per-node kubelet-style endpoints, which
// kwok-controller lists for http_sd, every interval, and rediscovers them as
// often, so a new node is scraped within seconds rather than a minute. The
// endpoints are scraped once under each of nodeJobs (NodeMetricsJob when
// none): several names give every container as many series.
func buildPrometheusConfig(p Ports, interval time.Duration, nodeJobs ...string) string {
	if len(nodeJobs) == 0 {
		nodeJobs = []string{NodeMetricsJob}
	}
	iv := interval.String()
	timeout := interval
	if timeout > 4*time.Second {
		timeout = interval - time.Second
	}
	var jobs strings.Builder
	for _, j := range nodeJobs {
		fmt.Fprintf(&jobs, `- job_name: %s
  http_sd_configs:
  - url: http://127.0.0.1:%d/discovery/prometheus
    refresh_interval: %s
`, j, p.KwokController, iv)
	}
	return fmt.Sprintf(`# Written by the memhpa test harness (test/harness).
global:
  scrape_interval: %[1]s
  scrape_timeout: %[2]s
  evaluation_interval: %[1]s
scrape_configs:
%[5]s- job_name: kwok-controller
  static_configs:
  - targets: ["127.0.0.1:%[3]d"]
- job_name: prometheus
  static_configs:
  - targets: ["127.0.0.1:%[4]d"]
`, iv, timeout.String(), p.KwokController, p.Prometheus, jobs.String())
}

// webhookConfigurations renders the chart's MutatingWebhookConfiguration and
// ValidatingWebhookConfiguration (charts/memhpa under root) with the pinned
// helm, named after release, for a webhook served at url (https://host:port)
// with caBundle and failurePolicy, so that the e2e tests test the chart's
// webhook names, rules and settings. helmHome holds helm's own files.
func webhookConfigurations(ctx context.Context, helm, root, helmHome, release, url string, caBundle []byte, failurePolicy string) (string, error) {
	if helm == "" {
		return "", errors.New("render the chart's webhook configurations: no helm binary; run `make tools` first")
	}
	cmd := exec.CommandContext(ctx, helm, "template", release, filepath.Join(root, "charts", "memhpa"),
		"--namespace", "default",
		"--show-only", "templates/webhook-configurations.yaml",
		"--set-string", "webhook.url="+url,
		"--set-string", "webhook.caBundle="+base64Std(caBundle),
		"--set-string", "webhook.failurePolicy="+failurePolicy,
		// Why: cert-manager's branch renders no generated Secret, and with a
		// caBundle of ours no inject-ca-from either.
		"--set", "certManager.enabled=true")
	// helm must not read or write the user's configuration.
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(helmHome, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(helmHome, "config"),
		"HELM_DATA_HOME="+filepath.Join(helmHome, "data"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("render the chart's webhook configurations: helm template: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	byKind := map[string][]string{}
	r := utilyaml.NewYAMLReader(bufio.NewReader(&stdout))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("render the chart's webhook configurations: %w", err)
		}
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return "", fmt.Errorf("render the chart's webhook configurations: %w", err)
		}
		if meta.Kind != "" {
			byKind[meta.Kind] = append(byKind[meta.Kind], strings.TrimPrefix(string(doc), "---\n"))
		}
	}
	m, v := byKind["MutatingWebhookConfiguration"], byKind["ValidatingWebhookConfiguration"]
	if len(m) != 1 || len(v) != 1 || len(byKind) != 2 {
		return "", fmt.Errorf("render the chart's webhook configurations: want one Mutating and one Validating WebhookConfiguration, got %s",
			describeKinds(byKind))
	}
	return m[0] + "---\n" + v[0], nil
}

func describeKinds(byKind map[string][]string) string {
	var parts []string
	for kind, docs := range byKind {
		parts = append(parts, fmt.Sprintf("%d %s", len(docs), kind))
	}
	slices.Sort(parts)
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}
