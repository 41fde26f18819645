package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/memhpa/memhpa/test/harness"
	"github.com/memhpa/memhpa/webhook/pkg/devcerts"
)

// The setup that charts/memhpa/README.md documents, on a control plane of its
// own: the apiserver is given an AdmissionConfiguration whose kubeconfig
// holds a client certificate, and the webhook runs with --client-ca-file of
// the CA that signed it. The apiserver's calls are served (the harness waits
// for a defaulted MemHpa before it returns, and the test makes one more),
// while a caller without a certificate is refused.
func TestWebhookVerifiesTheAPIServersClientCertificate(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	ca, err := devcerts.NewCA("apiserver client CA", 0, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.IssueClient("kube-apiserver", 0)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "client-ca.crt")
	kubeconfig := filepath.Join(dir, "admission-kubeconfig.yaml")
	admissionConfig := filepath.Join(dir, "admission-config.yaml")
	b64 := base64.StdEncoding.EncodeToString
	for path, content := range map[string]string{
		caFile: string(ca.CertPEM),
		// The user is chosen by the webhook's host: "<service>.<namespace>.svc"
		// for a Service on port 443 (with ":<port>" otherwise), host:port for
		// a URL; '*' matches any, which the harness's URL on a free port needs.
		kubeconfig: fmt.Sprintf(`apiVersion: v1
kind: Config
users:
- name: '*'
  user:
    client-certificate-data: %s
    client-key-data: %s
`, b64(client.CertPEM), b64(client.KeyPEM)),
		admissionConfig: fmt.Sprintf(`apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: ValidatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: %[1]s
- name: MutatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: %[1]s
`, kubeconfig),
	} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	e, err := harness.Start(ctx, harness.Options{
		Dir:           filepath.Join(dir, "env"),
		APIServerArgs: []string{"--admission-control-config-file=" + admissionConfig},
		Webhook:       true,
		WebhookArgs:   []string{"--client-ca-file=" + caFile},
	})
	t.Cleanup(func() {
		if e == nil {
			return
		}
		if err := e.Stop(context.Background()); err != nil {
			t.Errorf("stop the second control plane: %v", err)
		}
	})
	if err != nil {
		t.Fatalf("start a control plane whose apiserver presents a client certificate to the webhook: %v", err)
	}

	// One more MemHpa through both webhooks: defaulted and admitted.
	if _, err := e.ApplyYAML(ctx, `apiVersion: autoscaling.memhpa.io/v1alpha1
kind: MemHpa
metadata: {name: client-auth, namespace: default}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: client-auth}
  maxReplicas: 3
`); err != nil {
		t.Fatalf("create a MemHpa: %v", err)
	}
	got, err := e.Kubectl(ctx, "get", "memhpa", "client-auth", "-n", "default", "-o", "jsonpath={.spec.targetUtilizationPercentage}")
	if err != nil || strings.TrimSpace(got) == "" {
		t.Fatalf("the MemHpa was not defaulted by the webhook: %q, %v", got, err)
	}

	// A caller without a certificate is refused at the handshake.
	caPEM, err := e.WebhookCA()
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}}
	defer transport.CloseIdleConnections()
	anonymous := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	answer, err := postReview(ctx, anonymous, e.WebhookURL()+"/validate", "application/json", validReviewJSON(newUID()))
	if err == nil {
		t.Fatalf("a caller without a client certificate was answered %d: %.200s", answer.status, answer.body)
	}
	t.Logf("a caller without a client certificate: %v", err)
}
