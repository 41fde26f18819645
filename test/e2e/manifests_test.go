package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memhpa/memhpa/test/harness"
)

// TestManifestsAndExamples renders the install manifest with make manifests'
// script and has the apiserver check every object of it, then applies every
// examples/*.yaml through kubectl with the memhpa webhook registered, so that
// neither rots.
//
// The manifest goes through --dry-run=server, not a real apply: its webhook
// configurations match every namespace with failurePolicy Fail and call a
// Service whose pods, on kwok's fake nodes, run no process, so applied for
// real they would refuse every MemHpa of the tests sharing this control
// plane; nor does a cert-manager controller run here to issue its
// certificates. The server-side dry run still runs the apiserver's validation
// and admission of each object (schemas, cert-manager's CRDs, Pod Security).
func TestManifestsAndExamples(t *testing.T) {
	ctx := testCtx(t)
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("the rendered manifest passes server-side dry-run", func(t *testing.T) {
		installCertManagerCRDs(ctx, t, root)
		out := filepath.Join(t.TempDir(), "memhpa.yaml")
		cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "manifests.sh"), out)
		cmd.Env = append(os.Environ(), "HELM="+filepath.Join(harness.DefaultBinDir(), "helm"))
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("hack/manifests.sh: %v\n%s", err, b)
		}
		manifest, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		for _, kind := range []string{"Namespace", "CustomResourceDefinition", "Deployment", "Certificate",
			"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"} {
			if !strings.Contains(string(manifest), "\nkind: "+kind+"\n") {
				t.Errorf("the manifest has no %s", kind)
			}
		}
		// A dry-run create in a namespace that does not exist fails, and the
		// manifest's Namespace is not created by a dry run.
		ns := "memhpa-system"
		if _, err := env.Kubectl(ctx, "get", "namespace", ns); err != nil {
			mustKubectl(t, "create", "namespace", ns)
			t.Cleanup(func() { _, _ = env.Kubectl(ctx, "delete", "namespace", ns, "--wait=false") })
		}
		applied, err := env.KubectlStdin(ctx, string(manifest), "apply", "--dry-run=server", "-f", "-")
		if err != nil {
			t.Fatalf("the apiserver refused the manifest: %v", err)
		}
		if strings.Contains(applied, "PodSecurity") {
			t.Errorf("Pod Security warnings:\n%s", applied)
		}
	})

	t.Run("every example is admitted", func(t *testing.T) {
		requireWebhook(t)
		files, err := filepath.Glob(filepath.Join(root, "examples", "*.yaml"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no examples/*.yaml in %s: %v", root, err)
		}
		ns := newNamespace(t, "memhpa-examples")
		for _, f := range files {
			t.Run(filepath.Base(f), func(t *testing.T) {
				out, err := env.Kubectl(ctx, "apply", "-n", ns, "-f", f)
				if err != nil {
					t.Fatalf("kubectl apply -f examples/%s: %v", filepath.Base(f), err)
				}
				if !strings.Contains(out, "memhpa.autoscaling.memhpa.io/") {
					t.Errorf("examples/%s made no MemHpa:\n%s", filepath.Base(f), out)
				}
				t.Logf("%s", strings.TrimSpace(out))
			})
		}
		// Defaulted and stored: the webhook's defaults are on every one.
		got := mustKubectl(t, "get", "memhpa", "-n", ns, "-o", "jsonpath={range .items[*]}{.metadata.name} {.spec.minReplicas}{\"\\n\"}{end}")
		if n := len(strings.Fields(got)) / 2; n != len(files) {
			t.Errorf("%d MemHpas stored from %d examples:\n%s", n, len(files), got)
		}
	})
}
