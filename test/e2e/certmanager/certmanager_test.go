package certmanager

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/cert-manager/cert-manager/pkg/controller"
	"github.com/cert-manager/cert-manager/pkg/controller/cainjector"
	// Controllers register themselves with package controller when imported.
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	// Issuer kinds the issuers controller must know.
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
	cmutil "github.com/cert-manager/cert-manager/pkg/util"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/memhpa/memhpa/test/harness"
)

// The controllers the cert-manager controller binary runs for SelfSigned and
// CA issuers (its default set, less ACME, Vault, Venafi, ingress and gateway shims).
var controllers = []string{
	"issuers",
	"certificaterequests-approver",
	"certificaterequests-issuer-selfsigned",
	"certificaterequests-issuer-ca",
	"certificates-trigger",
	"certificates-key-manager",
	"certificates-request-manager",
	"certificates-issuing",
	"certificates-readiness",
	"certificates-revision-manager",
}

func TestCertManagerIssuesAndInjects(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	env, err := harness.Start(ctx, harness.Options{Dir: dir, Nodes: 1})
	if err != nil {
		t.Fatalf("start the local control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(context.Background()); err != nil {
			t.Errorf("stop the local control plane: %v", err)
		}
	})

	versions, err := harness.Versions(root)
	if err != nil {
		t.Fatal(err)
	}
	cmDir, err := moduleDir(ctx, "github.com/cert-manager/cert-manager", versions["CERT_MANAGER_VERSION"])
	if err != nil {
		t.Fatal(err)
	}
	kubectl(ctx, t, env, "apply", "--server-side", "-f", filepath.Join(cmDir, "deploy", "crds"))
	// The harness retries until each CRD has a status to wait on (kubectl wait
	// fails at once on a CRD created a moment ago).
	if err := env.WaitCRDsEstablished(ctx, "issuers.cert-manager.io", "certificates.cert-manager.io",
		"certificaterequests.cert-manager.io"); err != nil {
		t.Fatal(err)
	}

	ctrlCtx, stopControllers := context.WithCancel(ctx)
	defer stopControllers()
	startCertManager(ctrlCtx, t, env.Kubeconfig)
	startCAInjector(ctrlCtx, t, env)

	ns := "memhpa-cm"
	kubectl(ctx, t, env, "create", "namespace", ns)
	kubectl(ctx, t, env, "label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted", "memhpa-cm-test="+ns)
	start := time.Now()
	if out, err := helm(ctx, env, "install", "memhpa", filepath.Join(root, "charts", "memhpa"), "--namespace", ns,
		"--set", "webhook.namespaceSelector.matchLabels.memhpa-cm-test="+ns, "--set", "nodeSelector.type=kwok",
		// The harness installed the CRD, and Helm adopts no object it did not create.
		"--set", "crds.enabled=false"); err != nil {
		t.Fatalf("helm install: %v\n%s", err, out)
	}
	kubectl(ctx, t, env, "wait", "-n", ns, "--for=condition=Ready", "--timeout=120s", "certificate/memhpa-serving")
	t.Logf("serving Certificate Ready %s after helm install", time.Since(start).Round(time.Millisecond))

	secret := &corev1.Secret{}
	getJSON(ctx, t, env, secret, "get", "secret", "-n", ns, "memhpa-serving-tls")
	leaf := parseCert(t, secret.Data["tls.crt"])

	for _, kind := range []string{"validatingwebhookconfiguration", "mutatingwebhookconfiguration"} {
		var bundle []byte
		err := harness.Poll(ctx, 60*time.Second, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
			var cfg struct {
				Webhooks []admissionregistrationv1.ValidatingWebhook `json:"webhooks"`
			}
			out, err := env.Kubectl(ctx, "get", kind, "memhpa", "-o", "json")
			if err != nil {
				return false, err
			}
			if err := json.Unmarshal([]byte(out), &cfg); err != nil {
				return false, err
			}
			if len(cfg.Webhooks) == 1 && len(cfg.Webhooks[0].ClientConfig.CABundle) > 0 {
				bundle = cfg.Webhooks[0].ClientConfig.CABundle
				return true, nil
			}
			return false, nil
		})
		if err != nil {
			t.Fatalf("%s memhpa: no caBundle injected: %v", kind, err)
		}
		t.Logf("%s caBundle injected %s after helm install", kind, time.Since(start).Round(time.Millisecond))
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(bundle) {
			t.Fatalf("%s: caBundle holds no certificate", kind)
		}
		name := "memhpa-webhook." + ns + ".svc"
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("%s: the injected CA does not verify the serving certificate for %s: %v", kind, name, err)
		}
		if bytes.Contains(bundle, secret.Data["tls.crt"]) {
			t.Errorf("%s: the caBundle is the leaf itself, not the CA", kind)
		}
	}
}

// startCertManager runs cert-manager's controllers in this process.
func startCertManager(ctx context.Context, t *testing.T, kubeconfig string) {
	t.Helper()
	factory, err := controller.NewContextFactory(ctx, controller.ContextOptions{
		Kubeconfig:         kubeconfig,
		KubernetesAPIQPS:   50,
		KubernetesAPIBurst: 100,
		IssuerOptions:      controller.IssuerOptions{ClusterResourceNamespace: "cert-manager"},
		CertificateOptions: controller.CertificateOptions{
			CertificateRequestMinimumBackoffDuration: time.Second,
			CertificateRequestMaximumBackoffDuration: 10 * time.Second,
		},
	})
	if err != nil {
		t.Fatalf("cert-manager controller context: %v", err)
	}
	known := controller.Known()
	var run []controller.Interface
	for _, name := range controllers {
		newController, ok := known[name]
		if !ok {
			t.Fatalf("cert-manager controller %q is not registered", name)
		}
		c, err := newController(factory)
		if err != nil {
			t.Fatalf("cert-manager controller %s: %v", name, err)
		}
		run = append(run, c)
	}
	// The controllers registered their informers on the shared factories;
	// start those, then the loops (what cert-manager's main does).
	cctx, err := factory.Build()
	if err != nil {
		t.Fatal(err)
	}
	cctx.KubeSharedInformerFactory.Start(ctx.Done())
	cctx.SharedInformerFactory.Start(ctx.Done())
	for i, c := range run {
		go func() {
			if err := c.Run(1, ctx); err != nil {
				t.Errorf("cert-manager controller %s: %v", controllers[i], err)
			}
		}()
	}
}

// startCAInjector runs cert-manager's cainjector reconcilers for webhook
// configurations in a controller-runtime manager.
func startCAInjector(ctx context.Context, t *testing.T, env *harness.Env) {
	t.Helper()
	cfg, err := env.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	// cainjector's field manager is derived from the user agent, as in its main.
	cfg = cmutil.RestConfigWithUserAgent(cfg, "cainjector")
	ctrl.SetLogger(klog.NewKlogr())
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, cmapi.AddToScheme, apiextensionsv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// Secrets are watched as metadata only; read their data directly.
		Client: client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
	})
	if err != nil {
		t.Fatalf("cainjector manager: %v", err)
	}
	err = cainjector.RegisterAllInjectors(ctx, mgr, cainjector.SetupOptions{
		EnableCertificatesDataSource: true,
		EnabledReconcilersFor: map[string]bool{
			"mutatingwebhookconfiguration":   true,
			"validatingwebhookconfiguration": true,
		},
	})
	if err != nil {
		t.Fatalf("cainjector: %v", err)
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("cainjector manager: %v", err)
		}
	}()
}

func kubectl(ctx context.Context, t *testing.T, env *harness.Env, args ...string) string {
	t.Helper()
	out, err := env.Kubectl(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func getJSON(ctx context.Context, t *testing.T, env *harness.Env, into any, args ...string) {
	t.Helper()
	out := kubectl(ctx, t, env, append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), into); err != nil {
		t.Fatalf("decode kubectl %s: %v", strings.Join(args, " "), err)
	}
}

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("serving certificate is not PEM")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// moduleDir is the directory of a Go module version in the module cache.
func moduleDir(ctx context.Context, module, version string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", module+"@"+version)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr != nil || err != nil || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s: %v %s", module, version, err, info.Error)
	}
	return info.Dir, nil
}

func helm(ctx context.Context, env *harness.Env, args ...string) (string, error) {
	home, err := os.MkdirTemp("", "memhpa-helm-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(home)
	cmd := exec.CommandContext(ctx, filepath.Join(harness.DefaultBinDir(), "helm"), append(args, "--kubeconfig", env.Kubeconfig)...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}
