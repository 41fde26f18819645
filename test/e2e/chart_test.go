package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/memhpa/memhpa/test/harness"
)

// The chart is installed as this release; its objects are named chart-e2e-memhpa*.
const (
	chartRelease  = "chart-e2e"
	chartFullname = "chart-e2e-memhpa"
)

// TestChartInstall installs charts/memhpa with its defaults (cert-manager TLS,
// two replicas, leader election) into a namespace that enforces Pod Security
// "restricted", on the real apiserver with cert-manager's own CRDs, and then
// checks what the chart's ServiceAccount may and may not do.
//
// No cert-manager controller runs here, so the Certificate is accepted but
// never issued: the webhook configurations are limited to this test's
// namespace, so the other tests never call the chart's (imageless) webhook.
func TestChartInstall(t *testing.T) {
	ctx := testCtx(t)
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	installCertManagerCRDs(ctx, t, root)

	ns := newNamespace(t, "memhpa-chart")
	mustKubectl(t, "label", "namespace", ns,
		"pod-security.kubernetes.io/enforce=restricted",
		"pod-security.kubernetes.io/enforce-version=latest",
		"pod-security.kubernetes.io/warn=restricted",
		"memhpa-chart-e2e="+ns)

	start := time.Now()
	out, err := helm(ctx, t, "install", chartRelease, filepath.Join(root, "charts", "memhpa"),
		"--namespace", ns,
		"--set", "webhook.namespaceSelector.matchLabels.memhpa-chart-e2e="+ns,
		"--set", "nodeSelector.type=kwok",
		// Why: the shared control plane's CRD was applied by the harness, and
		// Helm refuses to take over an object it did not create
		// (TestChartUpgrade installs the CRD with the chart, on a control
		// plane of its own).
		"--set", "crds.enabled=false",
		"--wait", "--timeout", "3m")
	t.Cleanup(func() {
		if out, err := helm(context.Background(), t, "uninstall", chartRelease, "--namespace", ns, "--wait", "--timeout", "1m"); err != nil {
			t.Errorf("helm uninstall: %v\n%s", err, out)
		}
	})
	if err != nil {
		t.Fatalf("helm install: %v\n%s\nReplicaSet events:\n%s", err, out, kubectlOrErr(ctx, "get", "events", "-n", ns, "--field-selector", "involvedObject.kind=ReplicaSet"))
	}
	t.Logf("helm install --wait took %s", time.Since(start).Round(time.Millisecond))
	if strings.Contains(out, "PodSecurity") {
		t.Errorf("Pod Security warnings during install:\n%s", out)
	}

	t.Run("every object exists", func(t *testing.T) {
		manifest, err := helm(ctx, t, "get", "manifest", chartRelease, "--namespace", ns)
		if err != nil {
			t.Fatalf("helm get manifest: %v\n%s", err, manifest)
		}
		// kubectl get -f reads every object of the manifest back from the apiserver.
		got, err := env.KubectlStdout(ctx, manifest, "get", "-f", "-", "-o", "name")
		if err != nil {
			t.Fatal(err)
		}
		names := strings.Fields(got)
		for _, want := range []string{
			"deployment.apps/" + chartFullname,
			"service/" + chartFullname + "-webhook",
			"serviceaccount/" + chartFullname,
			"clusterrole.rbac.authorization.k8s.io/" + chartFullname,
			"role.rbac.authorization.k8s.io/" + chartFullname + "-leader-election",
			"validatingwebhookconfiguration.admissionregistration.k8s.io/" + chartFullname,
			"mutatingwebhookconfiguration.admissionregistration.k8s.io/" + chartFullname,
			"poddisruptionbudget.policy/" + chartFullname,
			"issuer.cert-manager.io/" + chartFullname + "-selfsigned",
			"issuer.cert-manager.io/" + chartFullname + "-ca",
			"certificate.cert-manager.io/" + chartFullname + "-ca",
			"certificate.cert-manager.io/" + chartFullname + "-serving",
		} {
			if !slices.Contains(names, want) {
				t.Errorf("%s not on the apiserver; have:\n%s", want, got)
			}
		}
	})

	t.Run("pods admitted under restricted", func(t *testing.T) {
		out, err := env.KubectlStdout(ctx, "", "get", "pods", "-n", ns, "-l", "app.kubernetes.io/instance="+chartRelease,
			"-o", "jsonpath={range .items[*]}{.metadata.name} {.status.phase}{\"\\n\"}{end}")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 {
			t.Errorf("%d pods, want 2 (the default replicaCount):\n%s", len(lines), out)
		}
		for _, l := range lines {
			if !strings.HasSuffix(l, " Running") {
				t.Errorf("pod not running: %q", l)
			}
		}
	})

	t.Run("ServiceAccount permissions", func(t *testing.T) {
		checkChartPermissions(ctx, t, ns)
	})

	t.Run("every value set passes server-side dry-run", func(t *testing.T) {
		sets, err := filepath.Glob(filepath.Join(root, "charts", "memhpa", "ci", "*-values.yaml"))
		if err != nil || len(sets) == 0 {
			t.Fatalf("no value sets: %v", err)
		}
		for _, set := range sets {
			t.Run(filepath.Base(set), func(t *testing.T) {
				manifest, err := helm(ctx, t, "template", "chart-dry", filepath.Join(root, "charts", "memhpa"),
					"--namespace", ns, "-f", set, "--kube-version", versions(t, root)["KUBERNETES_VERSION"])
				if err != nil {
					t.Fatalf("helm template: %v\n%s", err, manifest)
				}
				out, err := env.KubectlStdin(ctx, withoutKinds(manifest, "ServiceMonitor"),
					"apply", "--dry-run=server", "-n", ns, "-f", "-")
				if err != nil {
					t.Fatalf("the apiserver refused %s: %v", filepath.Base(set), err)
				}
				if strings.Contains(out, "PodSecurity") {
					t.Errorf("Pod Security warnings:\n%s", out)
				}
			})
		}
	})
}

func versions(t *testing.T, root string) map[string]string {
	t.Helper()
	v, err := harness.Versions(root)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// withoutKinds drops the documents of the given kinds from a YAML stream
// (ServiceMonitor: prometheus-operator's CRD is not installed here).
func withoutKinds(manifest string, kinds ...string) string {
	var keep []string
	for _, doc := range strings.Split(manifest, "\n---") {
		drop := false
		for _, k := range kinds {
			if strings.Contains(doc, "\nkind: "+k+"\n") {
				drop = true
			}
		}
		if !drop {
			keep = append(keep, doc)
		}
	}
	return strings.Join(keep, "\n---")
}

// checkChartPermissions asks the apiserver's authorizer, impersonating the
// chart's ServiceAccount, what it may do: each need yes, everything else no.
func checkChartPermissions(ctx context.Context, t *testing.T, ns string) {
	sa := "system:serviceaccount:" + ns + ":" + chartFullname
	lease := chartFullname + "-scaler"
	tests := []struct {
		name string
		args []string // kubectl auth can-i arguments
		want bool
	}{
		{"list MemHpas in any namespace", []string{"list", "memhpas.autoscaling.memhpa.io", "-A"}, true},
		{"watch MemHpas", []string{"watch", "memhpas.autoscaling.memhpa.io", "-n", "default"}, true},
		{"update MemHpa status", []string{"update", "memhpas.autoscaling.memhpa.io", "--subresource=status", "-n", "default"}, true},
		{"list pods", []string{"list", "pods", "-A"}, true},
		{"watch pods", []string{"watch", "pods", "-n", "default"}, true},
		{"get deployments/scale", []string{"get", "deployments.apps", "--subresource=scale", "-n", "default"}, true},
		{"update deployments/scale", []string{"update", "deployments.apps", "--subresource=scale", "-n", "default"}, true},
		{"update statefulsets/scale", []string{"update", "statefulsets.apps", "--subresource=scale", "-n", "default"}, true},
		{"update replicasets/scale", []string{"update", "replicasets.apps", "--subresource=scale", "-n", "default"}, true},
		{"watch deployments (webhook warnings)", []string{"watch", "deployments.apps", "-A"}, true},
		{"get statefulsets (webhook warnings)", []string{"get", "statefulsets.apps", "-n", "default"}, true},
		{"list replicasets (scaler's scale cache)", []string{"list", "replicasets.apps", "-A"}, true},
		{"watch statefulsets (scaler's scale cache)", []string{"watch", "statefulsets.apps", "-A"}, true},
		{"update a ReplicaSet itself", []string{"update", "replicasets.apps", "-n", "default"}, false},
		{"list HPAs (conflict check)", []string{"list", "horizontalpodautoscalers.autoscaling", "-A"}, true},
		{"create events", []string{"create", "events", "-n", "default"}, true},
		{"patch events.k8s.io events", []string{"patch", "events.events.k8s.io", "-n", "default"}, true},
		{"create the Lease in the release namespace", []string{"create", "leases.coordination.k8s.io", "-n", ns}, true},
		{"update its own Lease", []string{"update", "leases.coordination.k8s.io/" + lease, "-n", ns}, true},

		{"read Secrets in the release namespace", []string{"get", "secrets", "-n", ns}, false},
		{"list Secrets anywhere", []string{"list", "secrets", "-A"}, false},
		{"scale a kind not allowed (ReplicationController)", []string{"update", "replicationcontrollers", "--subresource=scale", "-n", "default"}, false},
		{"scale a custom kind not allowed", []string{"update", "rollouts.argoproj.io", "--subresource=scale", "-n", "default"}, false},
		{"update a Deployment itself", []string{"update", "deployments.apps", "-n", "default"}, false},
		{"update a MemHpa spec", []string{"update", "memhpas.autoscaling.memhpa.io", "-n", "default"}, false},
		{"delete MemHpas", []string{"delete", "memhpas.autoscaling.memhpa.io", "-n", "default"}, false},
		{"create pods", []string{"create", "pods", "-n", "default"}, false},
		{"update another Lease", []string{"update", "leases.coordination.k8s.io/kube-controller-manager", "-n", "kube-system"}, false},
		{"create Leases elsewhere", []string{"create", "leases.coordination.k8s.io", "-n", "default"}, false},
		{"update another Lease in the release namespace", []string{"update", "leases.coordination.k8s.io/other", "-n", ns}, false},
		{"change webhook configurations", []string{"update", "validatingwebhookconfigurations.admissionregistration.k8s.io"}, false},
		{"anything at all", []string{"*", "*"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"auth", "can-i", "--as=" + sa}, tc.args...)
			// stdout alone: kubectl warns on stderr, e.g. about an unknown resource.
			out, err := env.KubectlStdout(ctx, "", args...)
			got := strings.TrimSpace(out)
			var kerr *harness.KubectlError
			switch {
			case err == nil && got == "yes":
				if !tc.want {
					t.Errorf("kubectl %s: yes, want no", strings.Join(args, " "))
				}
			case errors.As(err, &kerr) && kerr.ExitCode == 1 && strings.HasPrefix(got, "no"):
				if tc.want {
					t.Errorf("kubectl %s: %s, want yes", strings.Join(args, " "), got)
				}
			default:
				t.Fatalf("kubectl %s: unexpected answer %q (%v)", strings.Join(args, " "), got, err)
			}
		})
	}
}

// installCertManagerCRDs applies cert-manager's CRDs, as its Go module ships
// them in deploy/crds at the pinned version, and waits until they serve.
func installCertManagerCRDs(ctx context.Context, t *testing.T, root string) {
	t.Helper()
	dir, err := moduleDir(ctx, "github.com/cert-manager/cert-manager", versions(t, root)["CERT_MANAGER_VERSION"])
	if err != nil {
		t.Fatal(err)
	}
	mustKubectl(t, "apply", "--server-side", "-f", filepath.Join(dir, "deploy", "crds"))
	// Through the harness, which retries while a new CRD has no status yet
	// (kubectl wait fails at once on one).
	if err := env.WaitCRDsEstablished(ctx, "issuers.cert-manager.io", "certificates.cert-manager.io",
		"certificaterequests.cert-manager.io"); err != nil {
		t.Fatal(err)
	}
}

// moduleDir is the directory of a Go module version in the module cache,
// downloaded through the module proxy when missing.
func moduleDir(ctx context.Context, module, version string) (string, error) {
	if version == "" {
		return "", fmt.Errorf("no pinned version of %s in hack/versions.env", module)
	}
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", module+"@"+version)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr != nil || err != nil || info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s: %v %s", module, version, err, info.Error)
	}
	return info.Dir, nil
}

// helm runs the pinned helm against the environment with a configuration of
// its own, and returns its combined output.
func helm(ctx context.Context, t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin := filepath.Join(harness.DefaultBinDir(), "helm")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("helm not found at %s: run `make tools` (or hack/tools.sh helm)", bin)
	}
	home, err := os.MkdirTemp("", "memhpa-helm-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(home)
	cmd := exec.CommandContext(ctx, bin, append(args, "--kubeconfig", env.Kubeconfig)...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

func kubectlOrErr(ctx context.Context, args ...string) string {
	out, err := env.Kubectl(ctx, args...)
	if err != nil {
		return err.Error()
	}
	return out
}
