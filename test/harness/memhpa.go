package harness

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/memhpa/memhpa/webhook/pkg/devcerts"
)

// WebhookConfigName is the name of both webhook configurations the harness
// registers: the release name of its `helm template` of the chart (a name that
// holds "memhpa" is the chart's fullname as it is).
const WebhookConfigName = "memhpa-harness"

// StartWebhook starts the memhpa admission webhook on 127.0.0.1 with a
// development certificate, registers the Validating and Mutating webhook
// configurations with failurePolicy (Fail or Ignore) and waits until the
// apiserver calls it. args are more flags of the webhook.
func (e *Env) StartWebhook(ctx context.Context, failurePolicy string, args ...string) error {
	e.progress.step("Starting the memhpa webhook")
	bin, err := productBinary(ctx, e.Root, "webhook", e.progress.step)
	if err != nil {
		return err
	}
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	if _, _, err := devcerts.Generate(e.CertDir, devcerts.ServingOptions{
		DNSNames: []string{"localhost"},
		IPs:      []net.IP{net.IPv4(127, 0, 0, 1)},
	}); err != nil {
		return fmt.Errorf("issue the webhook's certificate: %w", err)
	}
	e.mu.Lock()
	e.Webhook = &OwnProc{Binary: bin, Port: ports[0], HealthPort: ports[1], FailurePolicy: failurePolicy, Args: args}
	e.mu.Unlock()
	if err := e.restartWebhook(ctx); err != nil {
		return err
	}
	if err := e.writeState(); err != nil {
		return err
	}
	return e.RegisterWebhooks(ctx, failurePolicy)
}

func (e *Env) restartWebhook(ctx context.Context) error {
	w := e.Webhook
	if w == nil {
		return fmt.Errorf("the webhook was never started in this environment")
	}
	args := []string{
		fmt.Sprintf("--secure-port=%d", w.Port),
		"--bind-address=127.0.0.1",
		"--tls-cert-file=" + filepath.Join(e.CertDir, devcerts.CertFile),
		"--tls-private-key-file=" + filepath.Join(e.CertDir, devcerts.KeyFile),
		fmt.Sprintf("--health-port=%d", w.HealthPort),
		"--kubeconfig=" + e.Kubeconfig,
		"-v=2",
	}
	args = append(args, w.Args...)
	p, err := startProcess(string(Webhook), w.Binary, args, e.Dir,
		filepath.Join(e.LogDir, "webhook.log"), filepath.Join(e.pidDir(), "webhook.pid"), nil)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.procs[string(Webhook)] = p
	e.mu.Unlock()
	if err := e.waitTLS(ctx, p, w.Port, 30*time.Second); err != nil {
		return fmt.Errorf("wait for the webhook to serve TLS on 127.0.0.1:%d: %w (log: %s)", w.Port, err,
			filepath.Join(e.LogDir, "webhook.log"))
	}
	return nil
}

// WebhookCA is the PEM bundle that verifies the webhook's certificate.
func (e *Env) WebhookCA() ([]byte, error) {
	return os.ReadFile(filepath.Join(e.CertDir, devcerts.CACertFile))
}

// WebhookURL is https://127.0.0.1:<port> of the running webhook.
func (e *Env) WebhookURL() string {
	if e.Webhook == nil {
		return ""
	}
	return fmt.Sprintf("https://127.0.0.1:%d", e.Webhook.Port)
}

// waitTLS waits until the server on port completes a TLS handshake that
// verifies against the development CA, failing early if the process exits.
func (e *Env) waitTLS(ctx context.Context, p *process, port int, timeout time.Duration) error {
	caPEM, err := e.WebhookCA()
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return Poll(ctx, timeout, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		if done, exitErr := p.exited(); done {
			return false, Permanent(fmt.Errorf("process exited: %v", exitErr))
		}
		d := tls.Dialer{Config: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}}
		conn, err := d.DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return false, err
		}
		conn.Close()
		return true, nil
	})
}

// RegisterWebhooks (re)applies both webhook configurations, as the chart
// renders them with the webhook's loopback URL and CA, with failurePolicy and
// waits until the apiserver calls the webhook (a defaulted field on a
// server-side dry run).
func (e *Env) RegisterWebhooks(ctx context.Context, failurePolicy string) error {
	if e.Webhook == nil {
		return fmt.Errorf("register webhooks: the webhook was never started")
	}
	ca, err := e.WebhookCA()
	if err != nil {
		return fmt.Errorf("register webhooks: %w", err)
	}
	manifest, err := webhookConfigurations(ctx, e.Binaries.Helm, e.Root, filepath.Join(e.Dir, "helm"),
		WebhookConfigName, e.WebhookURL(), ca, failurePolicy)
	if err != nil {
		return fmt.Errorf("register webhooks: %w", err)
	}
	if _, err := e.ApplyYAML(ctx, manifest); err != nil {
		return fmt.Errorf("register webhooks: %w", err)
	}
	e.Webhook.FailurePolicy = failurePolicy
	if failurePolicy != "Fail" {
		return nil
	}
	// The apiserver learns about configurations through an informer; until it
	// has, a MemHpa would be admitted without the webhook.
	probe := `apiVersion: autoscaling.memhpa.io/v1alpha1
kind: MemHpa
metadata: {name: harness-webhook-probe, namespace: default}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: harness-webhook-probe}
  maxReplicas: 2
`
	err = Poll(ctx, 30*time.Second, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		out, err := e.KubectlStdout(ctx, probe, "create", "--dry-run=server", "-f", "-",
			"-o", "jsonpath={.spec.targetUtilizationPercentage}")
		if err != nil {
			return false, err
		}
		if strings.TrimSpace(out) == "" {
			return false, errors.New("a server-side dry run is not defaulted yet")
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("wait for the apiserver to call the webhook (defaulting of targetUtilizationPercentage): %w", err)
	}
	return nil
}

// UnregisterWebhooks deletes both webhook configurations.
func (e *Env) UnregisterWebhooks(ctx context.Context) error {
	_, err := e.Kubectl(ctx, "delete", "--ignore-not-found",
		"mutatingwebhookconfiguration/"+WebhookConfigName, "validatingwebhookconfiguration/"+WebhookConfigName)
	return err
}

// StartScaler starts the scaler (named Scaler) against this environment. The
// defaults are --kubeconfig, --prometheus-url of this Prometheus,
// --leader-elect=false, a free --health-port and --sync-period=5s; args come
// after them and so override them.
func (e *Env) StartScaler(ctx context.Context, args ...string) error {
	return e.StartScalerNamed(ctx, string(Scaler), args...)
}

// StartScalerNamed starts another scaler instance under name (for leader
// election tests: e.g. "scaler-a", "scaler-b"); StopComponent(Component(name))
// and KillComponent stop it.
func (e *Env) StartScalerNamed(ctx context.Context, name string, args ...string) error {
	e.progress.step("Starting the memhpa scaler %s", name)
	bin, err := productBinary(ctx, e.Root, "scaler", e.progress.step)
	if err != nil {
		return err
	}
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	full := append([]string{
		"--kubeconfig=" + e.Kubeconfig,
		"--prometheus-url=" + e.PrometheusURL,
		"--leader-elect=false",
		fmt.Sprintf("--health-port=%d", ports[0]),
		"--sync-period=5s",
	}, args...)
	e.mu.Lock()
	e.scalers[name] = scalerSpec{binary: bin, args: full, healthPort: ports[0]}
	e.Scalers = appendUnique(e.Scalers, name)
	e.mu.Unlock()
	if err := e.restartScaler(ctx, name); err != nil {
		return err
	}
	return e.writeState()
}

// ScalerHealthURL is http://127.0.0.1:<health port> of a running scaler.
func (e *Env) ScalerHealthURL(name string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.scalers[name]
	if !ok {
		return ""
	}
	return fmt.Sprintf("http://127.0.0.1:%d", s.healthPort)
}

// OwnPID is the process id of a process the harness started itself (a
// scaler by its name, the webhook, a Prometheus of StartPrometheus), for a
// test that reads its /proc entry; 0 when it is not running.
func (e *Env) OwnPID(name string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.procs[name]
	if p == nil {
		return 0
	}
	if done, _ := p.exited(); done {
		return 0
	}
	return p.pid
}

func (e *Env) restartScaler(ctx context.Context, name string) error {
	e.mu.Lock()
	spec, ok := e.scalers[name]
	e.mu.Unlock()
	if !ok {
		return fmt.Errorf("no scaler %q was started in this environment", name)
	}
	logPath := filepath.Join(e.LogDir, name+".log")
	p, err := startProcess(name, spec.binary, spec.args, e.Dir, logPath, filepath.Join(e.pidDir(), name+".pid"), nil)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.procs[name] = p
	e.mu.Unlock()
	client := &http.Client{Timeout: 2 * time.Second}
	err = Poll(ctx, 60*time.Second, 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		if done, exitErr := p.exited(); done {
			return false, Permanent(fmt.Errorf("scaler exited: %v", exitErr))
		}
		return httpReady(ctx, client, fmt.Sprintf("http://127.0.0.1:%d/healthz", spec.healthPort), time.Second) == nil, nil
	})
	if err != nil {
		return fmt.Errorf("wait for scaler %s /healthz: %w (log: %s)", name, err, logPath)
	}
	return nil
}

func (e *Env) isScaler(name Component) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.scalers[string(name)]; ok {
		return true
	}
	for _, s := range e.Scalers {
		if s == string(name) {
			return true
		}
	}
	return name == Scaler
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
