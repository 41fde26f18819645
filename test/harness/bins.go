package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Binaries are the programs the local control plane runs.
type Binaries struct {
	Dir                   string // $MEMHPA_BIN
	Kwokctl               string
	Kwok                  string
	KubeAPIServer         string
	KubeControllerManager string
	KubeScheduler         string
	Etcd                  string
	Kubectl               string
	Helm                  string // renders the chart's webhook configurations
	Prometheus            string
}

// DefaultBinDir is where hack/tools.sh puts the pinned binaries:
// $MEMHPA_BIN, else ${XDG_CACHE_HOME:-$HOME/.cache}/memhpa/bin.
func DefaultBinDir() string {
	if d := os.Getenv("MEMHPA_BIN"); d != "" {
		return d
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "memhpa", "bin")
}

// FindBinaries looks the control plane binaries and helm up in dir
// (DefaultBinDir when empty) and Prometheus in $MEMHPA_PROMETHEUS,
// /usr/bin/prometheus or $PATH.
// A missing binary is an error that says how to build it.
func FindBinaries(dir string) (Binaries, error) {
	if dir == "" {
		dir = DefaultBinDir()
	}
	b := Binaries{Dir: dir}
	var missing []string
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"kwokctl", &b.Kwokctl},
		{"kwok", &b.Kwok},
		{"kube-apiserver", &b.KubeAPIServer},
		{"kube-controller-manager", &b.KubeControllerManager},
		{"kube-scheduler", &b.KubeScheduler},
		{"etcd", &b.Etcd},
		{"kubectl", &b.Kubectl},
		{"helm", &b.Helm},
	} {
		p := filepath.Join(dir, f.name)
		if !isExecutable(p) {
			missing = append(missing, f.name)
			continue
		}
		*f.dst = p
	}
	b.Prometheus = findPrometheus()
	if b.Prometheus == "" {
		missing = append(missing, "prometheus (Debian package; `make tools` installs it)")
	}
	if len(missing) > 0 {
		return b, fmt.Errorf("missing binaries in %s: %s; run `make tools` first "+
			"(hack/tools.sh builds the pinned Kubernetes v1.37.2 control plane, etcd, kwok and helm "+
			"into that cache; the first build takes tens of minutes, later runs reuse it)",
			dir, strings.Join(missing, ", "))
	}
	return b, nil
}

func findPrometheus() string {
	if p := os.Getenv("MEMHPA_PROMETHEUS"); p != "" {
		if isExecutable(p) {
			return p
		}
		return ""
	}
	if isExecutable("/usr/bin/prometheus") {
		return "/usr/bin/prometheus"
	}
	p, err := exec.LookPath("prometheus")
	if err != nil {
		return ""
	}
	return p
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// RepoRoot finds the memhpa repository: $MEMHPA_ROOT, else the nearest parent
// of the working directory holding go.work and hack/versions.env.
func RepoRoot() (string, error) {
	if r := os.Getenv("MEMHPA_ROOT"); r != "" {
		return r, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for {
		if fileExists(filepath.Join(dir, "go.work")) && fileExists(filepath.Join(dir, "hack", "versions.env")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repository root: no parent directory holds go.work and hack/versions.env; set MEMHPA_ROOT")
		}
		dir = parent
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Versions reads hack/versions.env (KEY=value lines) from the repository.
func Versions(root string) (map[string]string, error) {
	f, err := os.Open(filepath.Join(root, "hack", "versions.env"))
	if err != nil {
		return nil, fmt.Errorf("read pinned versions: %w", err)
	}
	defer f.Close()
	v := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, val, ok := strings.Cut(line, "="); ok {
			v[k] = val
		}
	}
	return v, sc.Err()
}

// productBuilds builds each memhpa binary at most once per process, and
// knows the builds in flight so that Stop can end them.
var productBuilds = struct {
	sync.Mutex
	paths  map[string]string
	active map[int]bool // process group ids of running builds
}{paths: map[string]string{}, active: map[int]bool{}}

// ProductBinary returns the path of memhpa's own binary name ("webhook" or
// "scaler"): $MEMHPA_WEBHOOK_BIN / $MEMHPA_SCALER_BIN when set, otherwise one
// built by hack/build.sh (the flags `make build` and the images use) into a
// directory of this process, once. Progress of the build goes to stderr: with
// a cold Go build cache it takes minutes on two cores.
func ProductBinary(ctx context.Context, root, name string) (string, error) {
	return productBinary(ctx, root, name, newProgress(nil).step)
}

func productBinary(ctx context.Context, root, name string, logf func(string, ...any)) (string, error) {
	envName := "MEMHPA_" + strings.ToUpper(name) + "_BIN"
	if p := os.Getenv(envName); p != "" {
		if !isExecutable(p) {
			return "", fmt.Errorf("%s=%s is not an executable file; run `make build`", envName, p)
		}
		return p, nil
	}
	productBuilds.Lock()
	if p, ok := productBuilds.paths[name]; ok {
		productBuilds.Unlock()
		return p, nil
	}
	productBuilds.Unlock()
	dir, err := os.MkdirTemp("", "memhpa-"+name+"-bin-")
	if err != nil {
		return "", fmt.Errorf("build %s: %w", name, err)
	}
	out := filepath.Join(dir, name)
	logf("Building %s with hack/build.sh (a cold Go build cache takes minutes)", name)
	start := time.Now()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "build.sh"), name, out)
	cmd.Dir = root
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("build %s with hack/build.sh: %w", name, err)
	}
	pgid := cmd.Process.Pid
	productBuilds.Lock()
	productBuilds.active[pgid] = true
	productBuilds.Unlock()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for err = nil; ; {
		select {
		case err = <-done:
		case <-tick.C:
			logf("Still building %s (%s so far)", name, time.Since(start).Round(time.Second))
			continue
		}
		break
	}
	productBuilds.Lock()
	delete(productBuilds.active, pgid)
	productBuilds.Unlock()
	if err != nil {
		return "", fmt.Errorf("build %s with hack/build.sh: %w\n%s", name, err, buf.String())
	}
	logf("Built %s in %s", name, time.Since(start).Round(time.Second))
	productBuilds.Lock()
	productBuilds.paths[name] = out
	productBuilds.Unlock()
	return out, nil
}

// stopBuilds kills the process groups of builds still running.
func stopBuilds() {
	productBuilds.Lock()
	defer productBuilds.Unlock()
	for pgid := range productBuilds.active {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// kwokModuleDir returns the directory of the kwok module at version in the Go
// module cache (downloading it through the module proxy when missing); its
// kustomize/metrics manifests configure the memory metrics of fake pods.
func kwokModuleDir(ctx context.Context, version string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", "sigs.k8s.io/kwok@"+version)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s %s", err, ee.Stderr, out)
		}
		return "", fmt.Errorf("locate sigs.k8s.io/kwok@%s in the module cache: %w", version, err)
	}
	var info struct{ Dir string }
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		return "", fmt.Errorf("locate sigs.k8s.io/kwok@%s in the module cache: unexpected output %q", version, out)
	}
	return info.Dir, nil
}
