package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/memhpa/memhpa/test/harness"
)

// chartBeforeTemplateCRD is the last commit whose chart shipped the MemHpa
// CRD in crds/ and had no spec.container yet (the field came with 05f1904):
// helm upgrade from it must bring that field's schema.
const chartBeforeTemplateCRD = "fb81778fe2363ee027e431e8b8f53d41f1df529f"

const (
	upgradeRelease  = "upgrade-e2e"
	upgradeFullname = "upgrade-e2e-memhpa"
	memHpaCRD       = "memhpas.autoscaling.memhpa.io"
)

// TestChartUpgrade installs the chart as it was before its CRD became a
// template (from git), creates a MemHpa, upgrades to the working tree's chart
// with the commands the chart README gives, and sets spec.container, a field
// the old CRD lacks: it must be stored, and the old MemHpa still served. On
// the way it checks the self-signed TLS path (certManager.enabled=false):
// upgrades keep the CA and the caBundle, and a certificate issued for other
// DNS names, or near its expiry, is issued again. After helm uninstall the
// CRD and the MemHpa remain (crds.keep). On a control plane of its own: the
// shared one's CRD is the working tree's already, applied by the harness.
func TestChartUpgrade(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	oldChart := chartAtCommit(t, root, chartBeforeTemplateCRD)
	useOwnEnvironmentWith(t, harness.Options{Nodes: 1, SkipCRD: true})
	ctx := testCtx(t)

	ns := newNamespace(t, "memhpa-upgrade")
	apps := newNamespace(t, "memhpa-upgrade-apps")
	values := []string{"--namespace", ns,
		"--set", "certManager.enabled=false",
		"--set", "nodeSelector.type=kwok",
		// No namespace carries this label: no pod serves the chart's webhook
		// here, and the schema alone is what this test is about.
		"--set", "webhook.namespaceSelector.matchLabels.memhpa-upgrade-e2e=none",
		"--wait", "--timeout", "3m"}
	mustHelm(ctx, t, append([]string{"install", upgradeRelease, oldChart}, values...)...)

	const web = `
scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
minReplicas: 1
maxReplicas: 5
targetUtilizationPercentage: 70`
	mustApply(t, memHpaYAML(apps, "web", web))
	withContainer := memHpaYAML(apps, "web", web+"\ncontainer: app")

	t.Run("the old CRD prunes spec.container", func(t *testing.T) {
		// The failure this change ends: without a schema for the field the
		// apiserver drops it (kubectl's own check is off, as a client's may be).
		if _, err := env.ApplyYAML(ctx, withContainer, "--validate=false"); err != nil {
			t.Fatal(err)
		}
		if got := getMemHpa(t, apps, "web").Spec.Container; got != "" {
			t.Fatalf("spec.container = %q under the old CRD, want it pruned (is %s the old chart?)", got, chartBeforeTemplateCRD[:7])
		}
	})

	upgrade := append([]string{"upgrade", upgradeRelease, filepath.Join(root, "charts", "memhpa")}, values...)
	t.Run("upgrade refuses a CRD it did not create from a template", func(t *testing.T) {
		out, err := helm(ctx, t, upgrade...)
		if err == nil {
			t.Fatalf("helm upgrade took over the CRD of crds/ without its ownership metadata; the README's step is then needless:\n%s", out)
		}
		if !strings.Contains(out, "invalid ownership metadata") {
			t.Fatalf("helm upgrade failed otherwise than on the CRD's ownership: %v\n%s", err, out)
		}
		t.Logf("helm upgrade refused, as the chart README says: %s", strings.TrimSpace(out))
	})

	// The chart README's commands for an install from before the change.
	mustKubectl(t, "label", "crd", memHpaCRD, "app.kubernetes.io/managed-by=Helm")
	mustKubectl(t, "annotate", "crd", memHpaCRD, "meta.helm.sh/release-name="+upgradeRelease, "meta.helm.sh/release-namespace="+ns)
	mustHelm(ctx, t, upgrade...)

	t.Run("the new field is stored and the old MemHpa served", func(t *testing.T) {
		if err := env.WaitCRDsEstablished(ctx, memHpaCRD); err != nil {
			t.Fatal(err)
		}
		before := getMemHpa(t, apps, "web")
		if before.Spec.MaxReplicas != 5 || before.Spec.TargetUtilizationPercentage == nil || *before.Spec.TargetUtilizationPercentage != 70 {
			t.Errorf("the old MemHpa after the upgrade: %+v", before.Spec)
		}
		mustApply(t, withContainer) // kubectl's strict field validation: the field is known now
		if got := getMemHpa(t, apps, "web").Spec.Container; got != "app" {
			t.Errorf("spec.container = %q after the upgrade, want app", got)
		}
	})

	first := readTLS(t, ns)
	t.Run("a second upgrade keeps the CA and the caBundle", func(t *testing.T) {
		mustHelm(ctx, t, upgrade...)
		if got := readTLS(t, ns); got != first {
			t.Errorf("the second upgrade changed the TLS material:\nbefore %s\nafter  %s", first.short(), got.short())
		}
	})

	t.Run("a certificate for other DNS names is issued again", func(t *testing.T) {
		mustHelm(ctx, t, append(upgrade, "--set", "clusterDomain=cluster.example")...)
		got := readTLS(t, ns)
		if got.caCrt == first.caCrt || got.tlsCrt == first.tlsCrt {
			t.Fatalf("clusterDomain changed, the certificate did not: %s", got.short())
		}
		for _, w := range []string{got.mutating, got.validating} {
			if !strings.Contains(w, got.caCrt) || !strings.Contains(w, first.caCrt) {
				t.Errorf("caBundle holds not both the new and the previous CA (pods serve the old one until the kubelet refreshes the Secret)")
			}
		}
	})

	t.Run("a certificate near its expiry is issued again", func(t *testing.T) {
		before := readTLS(t, ns)
		soon := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
		mustKubectl(t, "annotate", "secret", upgradeFullname+"-serving-tls", "-n", ns, "--overwrite",
			"autoscaling.memhpa.io/not-after="+soon)
		mustHelm(ctx, t, append(upgrade, "--set", "clusterDomain=cluster.example")...)
		if got := readTLS(t, ns); got.caCrt == before.caCrt {
			t.Errorf("a certificate that expires in a day was kept")
		}
	})

	t.Run("helm uninstall keeps the CRD and the MemHpas", func(t *testing.T) {
		mustHelm(ctx, t, "uninstall", upgradeRelease, "--namespace", ns, "--wait", "--timeout", "2m")
		mustKubectl(t, "get", "crd", memHpaCRD)
		if got := getMemHpa(t, apps, "web").Spec.Container; got != "app" {
			t.Errorf("spec.container = %q after uninstall, want app", got)
		}
	})
}

// chartAtCommit extracts charts/memhpa as it was at commit into a temporary
// directory; without git or that commit (a shallow clone, a source archive)
// the test is skipped, saying why.
func chartAtCommit(t *testing.T, root, commit string) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not found: the chart before the change is read from git history")
	}
	if out, err := exec.Command("git", "-C", root, "cat-file", "-e", commit+"^{commit}").CombinedOutput(); err != nil {
		t.Skipf("commit %s is not in this clone's history (shallow clone or archive?): %s", commit[:7], out)
	}
	dir := t.TempDir()
	archive := exec.Command("git", "-C", root, "archive", "--format=tar", commit, "charts/memhpa")
	var tarball, stderr bytes.Buffer
	archive.Stdout, archive.Stderr = &tarball, &stderr
	if err := archive.Run(); err != nil {
		t.Fatalf("git archive %s: %v: %s", commit[:7], err, stderr.String())
	}
	untar := exec.Command("tar", "-x", "-C", dir)
	untar.Stdin = &tarball
	if out, err := untar.CombinedOutput(); err != nil {
		t.Fatalf("untar the chart of %s: %v: %s", commit[:7], err, out)
	}
	return filepath.Join(dir, "charts", "memhpa")
}

func mustHelm(ctx context.Context, t *testing.T, args ...string) string {
	t.Helper()
	out, err := helm(ctx, t, args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// servedTLS is the self-signed path's state: the serving Secret's PEM files
// and both webhook configurations' caBundle (PEM).
type servedTLS struct {
	caCrt, tlsCrt, mutating, validating string
}

// short names the CA and the certificate by the start of their SHA-256.
func (s servedTLS) short() string {
	sum := func(p string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(p)))[:12] }
	return "ca.crt " + sum(s.caCrt) + ", tls.crt " + sum(s.tlsCrt) + ", caBundle " + sum(s.validating)
}

func readTLS(t *testing.T, ns string) servedTLS {
	t.Helper()
	// pem reads one base64 field through kubectl (stdout alone: warnings
	// must not mix into it).
	pem := func(args ...string) string {
		out, err := env.KubectlStdout(testCtx(t), "", args...)
		if err != nil {
			t.Fatal(err)
		}
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(out))
		if err != nil || len(b) == 0 {
			t.Fatalf("kubectl %s: %q is no base64 PEM: %v", strings.Join(args, " "), out, err)
		}
		return string(b)
	}
	secret := upgradeFullname + "-serving-tls"
	caBundle := "jsonpath={.webhooks[0].clientConfig.caBundle}"
	return servedTLS{
		caCrt:      pem("get", "secret", secret, "-n", ns, "-o", `jsonpath={.data.ca\.crt}`),
		tlsCrt:     pem("get", "secret", secret, "-n", ns, "-o", `jsonpath={.data.tls\.crt}`),
		mutating:   pem("get", "mutatingwebhookconfiguration", upgradeFullname, "-o", caBundle),
		validating: pem("get", "validatingwebhookconfiguration", upgradeFullname, "-o", caBundle),
	}
}
