package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// KubectlError is a kubectl run that exited non-zero. Output is what a user
// would have seen (stdout and stderr, interleaved).
type KubectlError struct {
	Args     []string
	ExitCode int
	Output   string
}

func (e *KubectlError) Error() string {
	return fmt.Sprintf("kubectl %s: exit code %d:\n%s", strings.Join(e.Args, " "), e.ExitCode, e.Output)
}

// Kubectl runs the pinned kubectl against the environment and returns its
// combined output; a non-zero exit is a *KubectlError carrying that output.
func (e *Env) Kubectl(ctx context.Context, args ...string) (string, error) {
	return e.KubectlStdin(ctx, "", args...)
}

// KubectlStdin is Kubectl with stdin.
func (e *Env) KubectlStdin(ctx context.Context, stdin string, args ...string) (string, error) {
	_, combined, err := e.runKubectl(ctx, stdin, args...)
	return combined, err
}

// KubectlStdout is KubectlStdin that returns stdout alone (warnings and
// errors are on stderr; a *KubectlError still carries both).
func (e *Env) KubectlStdout(ctx context.Context, stdin string, args ...string) (string, error) {
	stdout, _, err := e.runKubectl(ctx, stdin, args...)
	return stdout, err
}

func (e *Env) runKubectl(ctx context.Context, stdin string, args ...string) (stdout, combined string, err error) {
	cmd := exec.CommandContext(ctx, e.Binaries.Kubectl, append([]string{"--kubeconfig", e.Kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.Kubeconfig)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, all bytes.Buffer
	// exec copies stdout and stderr in two goroutines; bytes.Buffer is not
	// safe for concurrent use (its ReadFrom lost whole stdout writes).
	both := &lockedWriter{w: &all}
	cmd.Stdout = io.MultiWriter(&out, both)
	cmd.Stderr = both
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), all.String(), &KubectlError{Args: args, ExitCode: ee.ExitCode(), Output: all.String()}
	}
	if err != nil {
		return out.String(), all.String(), fmt.Errorf("run kubectl %s: %w", strings.Join(args, " "), err)
	}
	return out.String(), all.String(), nil
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// ApplyYAML runs `kubectl apply -f -` with manifest and returns kubectl's output.
func (e *Env) ApplyYAML(ctx context.Context, manifest string, extraArgs ...string) (string, error) {
	return e.KubectlStdin(ctx, manifest, append([]string{"apply", "-f", "-"}, extraArgs...)...)
}

// DeleteYAML runs `kubectl delete --ignore-not-found -f -` with manifest.
func (e *Env) DeleteYAML(ctx context.Context, manifest string) (string, error) {
	return e.KubectlStdin(ctx, manifest, "delete", "--ignore-not-found", "--wait=true", "-f", "-")
}

// InstallCRD applies the MemHpa CRD that make generate writes (the file the
// chart's templates/crds.yaml renders) and waits until it is Established.
func (e *Env) InstallCRD(ctx context.Context) error {
	files, err := filepath.Glob(filepath.Join(e.Root, "charts", "memhpa", "files", "crds", "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("install CRD: no charts/memhpa/files/crds/*.yaml in %s", e.Root)
	}
	for _, f := range files {
		if _, err := e.Kubectl(ctx, "apply", "--server-side", "--force-conflicts", "-f", f); err != nil {
			return fmt.Errorf("install CRD: %w", err)
		}
	}
	if err := e.WaitCRDsEstablished(ctx, "memhpas.autoscaling.memhpa.io"); err != nil {
		return fmt.Errorf("install CRD: %w", err)
	}
	// Discovery of the new resource lags Established a little; kubectl apply
	// of a MemHpa right after must not fail with "no matches for kind".
	return Poll(ctx, 30*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		_, err := e.Kubectl(ctx, "get", "memhpas", "-A")
		return err == nil, err
	})
}

// WaitCRDsEstablished waits (up to a minute) until the named CRDs are
// Established. Right after an apply, `kubectl wait` alone can fail with
// ".status.conditions accessor error" because the status is not written yet;
// this retries it.
func (e *Env) WaitCRDsEstablished(ctx context.Context, names ...string) error {
	args := []string{"wait", "--for=condition=Established", "--timeout=10s"}
	for _, n := range names {
		args = append(args, "crd/"+n)
	}
	return Poll(ctx, time.Minute, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		_, err := e.Kubectl(ctx, args...)
		return err == nil, err
	})
}

// SetPodsMemory sets kwok's usage annotation (kwok.x-k8s.io/usage-memory) on
// the pods in namespace that match selector, so each of their containers
// reports quantity (e.g. "300Mi") as container_memory_working_set_bytes.
func (e *Env) SetPodsMemory(ctx context.Context, namespace, selector, quantity string) error {
	_, err := e.Kubectl(ctx, "annotate", "pods", "-n", namespace, "-l", selector, "--overwrite",
		"kwok.x-k8s.io/usage-memory="+quantity)
	return err
}

// Poll calls cond every interval until it reports done or timeout passes. An
// error from cond does not stop the polling (the last one is part of the
// timeout error) unless it is wrapped by Permanent.
func Poll(ctx context.Context, timeout, interval time.Duration, cond func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		done, err := cond(ctx)
		if done {
			return nil
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return perm.err
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("timed out after %s: %w", timeout, last)
			}
			return fmt.Errorf("timed out after %s", timeout)
		case <-time.After(interval):
		}
	}
}

// Permanent wraps an error that must end a Poll at once (a process exited).
func Permanent(err error) error { return &permanentError{err: err} }

type permanentError struct{ err error }

func (p *permanentError) Error() string { return p.err.Error() }
func (p *permanentError) Unwrap() error { return p.err }
