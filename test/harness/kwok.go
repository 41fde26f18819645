package harness

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// kwokctl runs kwokctl with the environment's configuration and work
// directory, logging to LogDir/kwokctl.log; the error carries its output.
func (e *Env) kwokctl(ctx context.Context, args ...string) (string, error) {
	full := append([]string{"--config", e.kwokctlConfigPath()}, args...)
	cmd := exec.CommandContext(ctx, e.Binaries.Kwokctl, full...)
	cmd.Env = append(os.Environ(),
		"KWOK_WORKDIR="+e.KwokWorkdir,
		// kwokctl looks kubectl up in $PATH before downloading one: never download.
		"PATH="+e.Binaries.Dir+string(os.PathListSeparator)+os.Getenv("PATH"),
	)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if f, ferr := os.OpenFile(filepath.Join(e.LogDir, "kwokctl.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); ferr == nil {
		fmt.Fprintf(f, "==== %s kwokctl %s\n%s", time.Now().UTC().Format(time.RFC3339), strings.Join(args, " "), out.String())
		f.Close()
	}
	if err != nil {
		return out.String(), fmt.Errorf("kwokctl %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// applyKwokMetrics applies kwok's Metric (a kubelet-style /metrics/resource
// per node) from the kwok module at the pinned version, and the harness's own
// ClusterResourceUsage (usage from pod annotations, see usageFromAnnotations).
func (e *Env) applyKwokMetrics(ctx context.Context) error {
	versions, err := Versions(e.Root)
	if err != nil {
		return err
	}
	dir, err := kwokModuleDir(ctx, versions["KWOK_VERSION"])
	if err != nil {
		return err
	}
	const metrics = "kustomize/metrics/resource/metrics-resource.yaml"
	if _, err := e.Kubectl(ctx, "apply", "-f", filepath.Join(dir, metrics)); err != nil {
		return fmt.Errorf("apply kwok's %s: %w", metrics, err)
	}
	if _, err := e.ApplyYAML(ctx, usageFromAnnotations); err != nil {
		return fmt.Errorf("apply the usage from annotations: %w", err)
	}
	return nil
}

// usageFromAnnotations is kwok's usage-from-annotation ClusterResourceUsage
// with one addition: a container's own annotation
// (KwokUsageMemoryContainerAnnotation + its name) wins over the pod's, so
// that the containers of one pod can report different working sets (issue
// 13: a container target). kwok evaluates the expression once per container
// with the variable container bound (kwok v0.8.0
// pkg/kwok/server/metrics_resource_usage.go evaluateContainerResourceUsage).
const usageFromAnnotations = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterResourceUsage
metadata:
  name: usage-from-annotation
spec:
  usages:
  - usage:
      cpu:
        expression: |
          "` + kwokUsageCPUAnnotation + `" in pod.metadata.annotations
          ? Quantity(pod.metadata.annotations["` + kwokUsageCPUAnnotation + `"])
          : Quantity("1m")
      memory:
        expression: |
          ("` + KwokUsageMemoryContainerAnnotation + `" + container.name) in pod.metadata.annotations
          ? Quantity(pod.metadata.annotations["` + KwokUsageMemoryContainerAnnotation + `" + container.name])
          : "` + KwokUsageMemoryAnnotation + `" in pod.metadata.annotations
          ? Quantity(pod.metadata.annotations["` + KwokUsageMemoryAnnotation + `"])
          : Quantity("1Mi")
`

// WaitAPIServerReady polls the apiserver's /readyz.
func (e *Env) WaitAPIServerReady(ctx context.Context, timeout time.Duration) error {
	err := Poll(ctx, timeout, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		out, err := e.Kubectl(ctx, "get", "--raw", "/readyz")
		return err == nil && strings.TrimSpace(out) == "ok", err
	})
	if err != nil {
		return fmt.Errorf("wait for kube-apiserver /readyz: %w", err)
	}
	return nil
}

// kwokComponent is a control plane component as kwokctl saved it in the
// cluster's kwok.yaml: how to start it again exactly as kwokctl did.
type kwokComponent struct {
	Name    string   `json:"name"`
	Binary  string   `json:"binary"`
	Args    []string `json:"args"`
	WorkDir string   `json:"workDir"`
}

func (e *Env) kwokComponent(name Component) (kwokComponent, error) {
	raw, err := os.ReadFile(filepath.Join(e.clusterDir(), "kwok.yaml"))
	if err != nil {
		return kwokComponent{}, fmt.Errorf("read kwok.yaml: %w", err)
	}
	// kwok.yaml holds several documents; the KwokctlConfiguration lists components.
	for _, doc := range bytes.Split(raw, []byte("\n---")) {
		var cfg struct {
			Kind       string          `json:"kind"`
			Components []kwokComponent `json:"components"`
		}
		if err := yaml.Unmarshal(doc, &cfg); err != nil || cfg.Kind != "KwokctlConfiguration" {
			continue
		}
		for _, c := range cfg.Components {
			if c.Name == string(name) {
				return c, nil
			}
		}
	}
	return kwokComponent{}, fmt.Errorf("no component %q in kwok.yaml", name)
}

// kwokPidFile is where kwokctl (and we, after a restart) record a component's pid.
func (e *Env) kwokPidFile(c kwokComponent) string {
	return filepath.Join(c.WorkDir, "pids", filepath.Base(c.Binary)+".pid")
}

func (e *Env) stopKwokComponent(name Component, grace time.Duration) error {
	c, err := e.kwokComponent(name)
	if err != nil {
		return err
	}
	e.mu.Lock()
	p := e.procs[string(name)]
	delete(e.procs, string(name))
	e.mu.Unlock()
	if p != nil {
		return p.stop(grace)
	}
	return stopPidFile(e.kwokPidFile(c), grace)
}

func (e *Env) startKwokComponent(ctx context.Context, name Component) error {
	c, err := e.kwokComponent(name)
	if err != nil {
		return err
	}
	pidFile := e.kwokPidFile(c)
	if raw, err := os.ReadFile(pidFile); err == nil {
		var pid int
		if _, err := fmt.Sscan(string(raw), &pid); err == nil && pidAlive(pid) {
			return fmt.Errorf("start %s: already running (pid %d)", name, pid)
		}
	}
	if name == Prometheus {
		// A restarted Prometheus starts on empty storage, as a replacement
		// would, so a test sees the scaler recover from no data at all.
		if dir := prometheusStorage(c); dir != "" {
			if err := os.RemoveAll(dir); err != nil {
				return fmt.Errorf("start %s: clear its storage: %w", name, err)
			}
		}
	}
	p, err := startProcess(string(name), c.Binary, c.Args, c.WorkDir,
		filepath.Join(e.LogDir, filepath.Base(c.Binary)+".log"), pidFile, nil)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.procs[string(name)] = p
	e.mu.Unlock()
	switch name {
	case APIServer:
		if err := e.WaitAPIServerReady(ctx, 2*time.Minute); err != nil {
			return err
		}
		return e.restartExited(ctx, ControllerManager, Scheduler, KwokController)
	case Prometheus:
		return e.waitPrometheusReady(ctx, time.Minute)
	}
	return nil
}

// prometheusStorage is the --storage.tsdb.path of a Prometheus component (the
// harness always sets one, see buildKwokctlConfig), or "" when none is given.
func prometheusStorage(c kwokComponent) string {
	path := ""
	for i, a := range c.Args {
		switch {
		case strings.HasPrefix(a, "--storage.tsdb.path="):
			path = strings.TrimPrefix(a, "--storage.tsdb.path=")
		case a == "--storage.tsdb.path" && i+1 < len(c.Args):
			path = c.Args[i+1]
		}
	}
	if path != "" && !filepath.IsAbs(path) {
		path = filepath.Join(c.WorkDir, path)
	}
	return path
}

// restartExited starts again those of names whose process has exited (a
// component may give up while the apiserver is away), like a kubelet would.
func (e *Env) restartExited(ctx context.Context, names ...Component) error {
	for _, name := range names {
		c, err := e.kwokComponent(name)
		if err != nil {
			return err
		}
		raw, err := os.ReadFile(e.kwokPidFile(c))
		var pid int
		if err == nil {
			_, _ = fmt.Sscan(string(raw), &pid)
		}
		if pid > 0 && pidAlive(pid) {
			continue
		}
		e.progress.step("%s had exited while the apiserver was away; starting it again", name)
		if err := e.startKwokComponent(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

// StopComponent stops one component (SIGTERM to its process group, SIGKILL
// after 10 s) and waits until it is gone: a control plane component
// (APIServer, Prometheus, Etcd, ...), the Webhook, or a scaler by the name it
// was started with (Scaler for StartScaler).
func (e *Env) StopComponent(ctx context.Context, name Component) error {
	return e.stopComponent(name, 10*time.Second)
}

// KillComponent is StopComponent with SIGKILL at once: a crash.
func (e *Env) KillComponent(ctx context.Context, name Component) error {
	return e.stopComponent(name, 0)
}

func (e *Env) stopComponent(name Component, grace time.Duration) error {
	var err error
	switch {
	case name == Webhook || e.isScaler(name) || e.isOwnPrometheus(name):
		err = e.stopOwn(string(name), grace)
	default:
		err = e.stopKwokComponent(name, grace)
	}
	if err != nil {
		return fmt.Errorf("stop %s: %w", name, err)
	}
	e.progress.step("Stopped %s", name)
	return nil
}

// StartComponent starts a stopped component again with the same binary,
// flags, ports and log file, and waits until it serves (apiserver /readyz,
// Prometheus /-/ready, webhook TLS, scaler /healthz).
func (e *Env) StartComponent(ctx context.Context, name Component) error {
	var err error
	switch {
	case name == Webhook:
		err = e.restartWebhook(ctx)
	case e.isScaler(name):
		err = e.restartScaler(ctx, string(name))
	default:
		err = e.startKwokComponent(ctx, name)
	}
	if err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	e.progress.step("Started %s", name)
	return nil
}

// stopOwn stops a process the harness started itself, by memory or pid file.
func (e *Env) stopOwn(name string, grace time.Duration) error {
	e.mu.Lock()
	p := e.procs[name]
	delete(e.procs, name)
	e.mu.Unlock()
	if p != nil {
		return p.stop(grace)
	}
	return stopPidFile(filepath.Join(e.pidDir(), name+".pid"), grace)
}

// httpReady polls url until it answers 200.
func httpReady(ctx context.Context, client *http.Client, url string, timeout time.Duration) error {
	return Poll(ctx, timeout, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return true, nil
	})
}

func randomSuffix() string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		panic(errors.New("crypto/rand failed"))
	}
	return hex.EncodeToString(b)
}
