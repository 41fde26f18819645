package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Component names a process of an environment, for StopComponent and
// StartComponent. The control plane ones are kwokctl's names.
type Component string

// The components of an environment.
const (
	Etcd              Component = "etcd"
	APIServer         Component = "kube-apiserver"
	ControllerManager Component = "kube-controller-manager"
	Scheduler         Component = "kube-scheduler"
	KwokController    Component = "kwok-controller"
	Prometheus        Component = "prometheus"
	Webhook           Component = "webhook"
	Scaler            Component = "scaler"
)

// Options configure Start. The zero value is usable with Dir set.
type Options struct {
	// Dir holds everything of the environment: kwok's work directory, logs,
	// certificates, the kubeconfig and state.json. Required; a test passes
	// t.TempDir() or os.MkdirTemp, make up passes <repo>/.local.
	Dir string
	// Name of the kwok cluster; default "memhpa-" and a random suffix.
	Name string
	// Kubeconfig is where the admin kubeconfig is written; default Dir/kubeconfig.
	Kubeconfig string
	// BinDir holds the pinned binaries; default DefaultBinDir().
	BinDir string
	// Nodes is the number of fake kwok nodes; default 1.
	Nodes int
	// ScrapeInterval of Prometheus and of its discovery of kwok's node
	// endpoints; default 5s.
	ScrapeInterval time.Duration
	// SkipCRD leaves the MemHpa CRD out (a chart test installs it itself).
	SkipCRD bool
	// Webhook builds (or takes $MEMHPA_WEBHOOK_BIN), starts and registers the
	// memhpa admission webhook.
	Webhook bool
	// WebhookFailurePolicy of both webhook configurations; default Fail.
	WebhookFailurePolicy string
	// WebhookArgs are extra flags of the webhook, after the harness's own.
	WebhookArgs []string
	// Scaler starts the scaler with ScalerArgs appended to the defaults.
	Scaler     bool
	ScalerArgs []string
	// APIServerArgs are extra --key=value flags of kube-apiserver.
	APIServerArgs []string
	// ControllerManagerArgs and SchedulerArgs are extra --key=value flags of
	// kube-controller-manager and kube-scheduler, for example a higher
	// --kube-api-qps so that thousands of pods are created in seconds.
	ControllerManagerArgs []string
	SchedulerArgs         []string
	// NodePods is how many pods each fake node accepts; default kwok's 110.
	NodePods int
	// Progress receives one line per step with the elapsed time; default
	// os.Stderr. Use io.Discard to silence it.
	Progress io.Writer
}

// State is what an environment writes to Dir/state.json, enough for Attach.
type State struct {
	Name           string   `json:"name"`
	Dir            string   `json:"dir"`
	Root           string   `json:"root"`
	KwokWorkdir    string   `json:"kwokWorkdir"`
	Kubeconfig     string   `json:"kubeconfig"`
	LogDir         string   `json:"logDir"`
	CertDir        string   `json:"certDir"`
	Ports          Ports    `json:"ports"`
	Binaries       Binaries `json:"binaries"`
	Nodes          int      `json:"nodes"`
	ScrapeInterval string   `json:"scrapeInterval"`
	Webhook        *OwnProc `json:"webhook,omitempty"`
	Scalers        []string `json:"scalers,omitempty"`
	StartedAt      string   `json:"startedAt"`
	ReadyAfter     string   `json:"readyAfter,omitempty"`
}

// OwnProc records how the webhook was started, to restart it the same way.
type OwnProc struct {
	Binary        string `json:"binary"`
	Port          int    `json:"port"`
	HealthPort    int    `json:"healthPort"`
	FailurePolicy string `json:"failurePolicy"`
	// Args are the extra flags it was started with.
	Args []string `json:"args,omitempty"`
}

// Env is a running local control plane.
type Env struct {
	State
	// PrometheusURL is http://127.0.0.1:<port>.
	PrometheusURL string
	// APIServerURL is https://127.0.0.1:<port>.
	APIServerURL string

	progress *progress
	mu       sync.Mutex
	procs    map[string]*process
	scalers  map[string]scalerSpec
	ownProms map[string]bool // names of StartPrometheus's
	stopped  bool
}

type scalerSpec struct {
	binary     string
	args       []string
	healthPort int
}

// Start brings up a local control plane as Options say, and tears down what
// it started when it fails.
func Start(ctx context.Context, opts Options) (*Env, error) {
	if opts.Dir == "" {
		return nil, errors.New("start local control plane: Options.Dir is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("start local control plane: %w", err)
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	bins, err := FindBinaries(opts.BinDir)
	if err != nil {
		return nil, err
	}
	if opts.Name == "" {
		opts.Name = "memhpa-" + randomSuffix()
	}
	if opts.Nodes == 0 {
		opts.Nodes = 1
	}
	if opts.ScrapeInterval == 0 {
		opts.ScrapeInterval = 5 * time.Second
	}
	if opts.WebhookFailurePolicy == "" {
		opts.WebhookFailurePolicy = "Fail"
	}
	if opts.Kubeconfig == "" {
		opts.Kubeconfig = filepath.Join(dir, "kubeconfig")
	}
	kubeconfig, err := filepath.Abs(opts.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("start local control plane: %w", err)
	}
	ports, err := pickPorts()
	if err != nil {
		return nil, err
	}
	e := &Env{
		State: State{
			Name:           opts.Name,
			Dir:            dir,
			Root:           root,
			KwokWorkdir:    filepath.Join(dir, "kwok"),
			Kubeconfig:     kubeconfig,
			LogDir:         filepath.Join(dir, "logs"),
			CertDir:        filepath.Join(dir, "certs"),
			Ports:          ports,
			Binaries:       bins,
			Nodes:          opts.Nodes,
			ScrapeInterval: opts.ScrapeInterval.String(),
			StartedAt:      time.Now().UTC().Format(time.RFC3339),
		},
		progress: newProgress(opts.Progress),
		procs:    map[string]*process{},
		scalers:  map[string]scalerSpec{},
	}
	e.setURLs()
	if err := e.start(ctx, opts); err != nil {
		e.progress.step("Start failed; tearing down what was started")
		if stopErr := e.Stop(context.WithoutCancel(ctx)); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		return nil, fmt.Errorf("%w\n(logs: %s)", err, e.LogDir)
	}
	return e, nil
}

func (e *Env) setURLs() {
	e.PrometheusURL = fmt.Sprintf("http://127.0.0.1:%d", e.Ports.Prometheus)
	e.APIServerURL = fmt.Sprintf("https://127.0.0.1:%d", e.Ports.APIServer)
}

func (e *Env) start(ctx context.Context, opts Options) error {
	p := e.progress
	for _, d := range []string{e.Dir, e.LogDir, e.CertDir, e.pidDir(), e.clusterDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	// kwokctl writes component logs into <cluster workdir>/logs and deletes
	// the work directory with the cluster; a link keeps the logs in LogDir.
	if err := os.Symlink(e.LogDir, filepath.Join(e.clusterDir(), "logs")); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("link kwok logs: %w", err)
	}
	promConfig := filepath.Join(e.Dir, "prometheus.yaml")
	if err := os.WriteFile(promConfig, []byte(buildPrometheusConfig(e.Ports, opts.ScrapeInterval)), 0o644); err != nil {
		return fmt.Errorf("write Prometheus configuration: %w", err)
	}
	kcfg, err := buildKwokctlConfig(e.Binaries, e.Ports, filepath.Join(e.KwokWorkdir, "cache"), promConfig, map[Component][]string{
		APIServer: opts.APIServerArgs, ControllerManager: opts.ControllerManagerArgs, Scheduler: opts.SchedulerArgs,
	})
	if err != nil {
		return err
	}
	if err := os.WriteFile(e.kwokctlConfigPath(), kcfg, 0o644); err != nil {
		return fmt.Errorf("write kwokctl configuration: %w", err)
	}
	if err := e.writeState(); err != nil {
		return err
	}

	p.step("Starting etcd, kube-apiserver, controller-manager, scheduler, kwok-controller and Prometheus (kwokctl, cluster %s)", e.Name)
	if _, err := e.kwokctl(ctx, "create", "cluster", "--name", e.Name, "--kubeconfig", "", "--timeout", "5m", "--wait", "0s"); err != nil {
		return err
	}
	if err := e.copyKubeconfig(); err != nil {
		return err
	}
	p.step("Waiting for the apiserver to be ready")
	if err := e.WaitAPIServerReady(ctx, 2*time.Minute); err != nil {
		return err
	}
	// On a busy machine the controller-manager gives up when the apiserver
	// is not healthy within its first 30 s, and nothing would create pods.
	if err := e.restartExited(ctx, ControllerManager, Scheduler, KwokController); err != nil {
		return err
	}

	p.step("Configuring kwok's per-node memory metrics and adding %d fake node(s) on 127.0.0.1", e.Nodes)
	if err := e.applyKwokMetrics(ctx); err != nil {
		return err
	}
	if _, err := e.kwokctl(ctx, nodeScaleArgs(e.Name, e.Nodes, opts.NodePods)...); err != nil {
		return err
	}
	if !opts.SkipCRD {
		p.step("Installing the MemHpa CRD")
		if err := e.InstallCRD(ctx); err != nil {
			return err
		}
	}
	p.step("Waiting for nodes to be Ready")
	if _, err := e.Kubectl(ctx, "wait", "--for=condition=Ready", "node", "--all", "--timeout=120s"); err != nil {
		return err
	}
	p.step("Waiting for Prometheus to discover the node metrics endpoints")
	if err := e.WaitPrometheusTargets(ctx, e.Nodes, 2*time.Minute); err != nil {
		return err
	}
	if opts.Webhook {
		if err := e.StartWebhook(ctx, opts.WebhookFailurePolicy, opts.WebhookArgs...); err != nil {
			return err
		}
	}
	if opts.Scaler {
		if err := e.StartScaler(ctx, opts.ScalerArgs...); err != nil {
			return err
		}
	}
	e.ReadyAfter = e.progress.elapsed().Round(100 * time.Millisecond).String()
	if err := e.writeState(); err != nil {
		return err
	}
	p.step("Local control plane ready (%s)", e.ReadyAfter)
	return nil
}

// nodeScaleArgs is the kwokctl command that adds the fake nodes: node i has
// the InternalIP 127.0.0.1+i (loopback: Prometheus scrapes kwok's per-node
// endpoints there). With more pods than kwok's 110, each node gets a pod
// CIDR wide enough to give each pod an address (kwok's default is a /24);
// nothing ever connects to these addresses.
func nodeScaleArgs(cluster string, nodes, podsPerNode int) []string {
	args := []string{"scale", "node", "--name", cluster, "--replicas", fmt.Sprint(nodes), "--param", `.nodeIPs=["127.0.0.1"]`}
	if podsPerNode > 0 {
		args = append(args, "--param", fmt.Sprintf(".allocatable.pods=%d", podsPerNode))
		if podsPerNode > 250 {
			args = append(args, "--param", `.podCIDRs=["10.0.0.0/20"]`)
		}
	}
	return args
}

// Attach finds the environment that Start left in dir (make up) from
// dir/state.json, for Stop (make down) or further commands.
func Attach(dir string, progressOut io.Writer) (*Env, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return nil, fmt.Errorf("attach to the local control plane in %s: %w", dir, err)
	}
	e := &Env{progress: newProgress(progressOut), procs: map[string]*process{}, scalers: map[string]scalerSpec{}}
	if err := json.Unmarshal(raw, &e.State); err != nil {
		return nil, fmt.Errorf("attach to the local control plane in %s: %w", dir, err)
	}
	e.setURLs()
	return e, nil
}

// Stop tears the environment down: the scalers and the webhook, then the
// kwok cluster; then it kills and reports any process that still mentions
// Dir in its command line. Calling it twice is harmless.
func (e *Env) Stop(ctx context.Context) error {
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return nil
	}
	e.stopped = true
	e.mu.Unlock()

	var errs []error
	e.progress.step("Stopping the local control plane %s", e.Name)
	stopBuilds()
	// Own processes: from memory, then any pid file left by a detached run.
	pidFiles, _ := filepath.Glob(filepath.Join(e.pidDir(), "*.pid"))
	for _, f := range pidFiles {
		name := strings.TrimSuffix(filepath.Base(f), ".pid")
		if err := e.stopOwn(name, 10*time.Second); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", name, err))
		}
	}
	if fileExists(filepath.Join(e.clusterDir(), "kwok.yaml")) {
		// kwokctl removes its context from the kubeconfig it is given (it
		// refuses an empty path): ours, which is useless once the cluster is gone.
		if _, err := e.kwokctl(ctx, "delete", "cluster", "--name", e.Name, "--kubeconfig", e.Kubeconfig); err != nil {
			errs = append(errs, err)
		}
		_ = os.Remove(e.Kubeconfig)
	}
	// kwokctl delete cluster kills what its pid files name; anything else that
	// still mentions our directory is a leak: kill it and say so.
	deadline := time.Now().Add(10 * time.Second)
	for len(ProcessesMentioning(e.Dir+"/")) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if left := killProcessesMentioning(e.Dir + "/"); len(left) > 0 {
		errs = append(errs, fmt.Errorf("processes left running after teardown (now killed):\n  %s", strings.Join(left, "\n  ")))
	}
	_ = os.Remove(filepath.Join(e.Dir, "state.json"))
	if len(errs) == 0 {
		e.progress.step("Stopped; nothing of %s is running (logs kept in %s)", e.Name, e.LogDir)
	}
	return errors.Join(errs...)
}

// RESTConfig is a client configuration for the admin user.
func (e *Env) RESTConfig() (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", e.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", e.Kubeconfig, err)
	}
	return cfg, nil
}

// Clientset is a Kubernetes clientset for the admin user.
func (e *Env) Clientset() (kubernetes.Interface, error) {
	cfg, err := e.RESTConfig()
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// Logf writes a progress line (with the elapsed time) to Options.Progress.
func (e *Env) Logf(format string, args ...any) { e.progress.step(format, args...) }

func (e *Env) clusterDir() string { return filepath.Join(e.KwokWorkdir, "clusters", e.Name) }
func (e *Env) pidDir() string     { return filepath.Join(e.Dir, "pids") }
func (e *Env) kwokctlConfigPath() string {
	return filepath.Join(e.Dir, "kwokctl.yaml")
}

func (e *Env) writeState() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	raw, err := json.MarshalIndent(e.State, "", "  ")
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.WriteFile(filepath.Join(e.Dir, "state.json"), raw, 0o644); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

func (e *Env) copyKubeconfig() error {
	raw, err := os.ReadFile(filepath.Join(e.clusterDir(), "kubeconfig.yaml"))
	if err != nil {
		return fmt.Errorf("read kwok's kubeconfig: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(e.Kubeconfig), 0o755); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	if err := os.WriteFile(e.Kubeconfig, raw, 0o600); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}
