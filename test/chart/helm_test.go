package chart

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/memhpa/memhpa/test/harness"
)

const (
	releaseName = "memhpa"
	releaseNS   = "memhpa-system"
	// kubeVersion is what `helm template` assumes for .Capabilities; the chart
	// declares kubeVersion >=1.30 in Chart.yaml.
	kubeVersion = "v1.37.2"
)

// repoRoot is the repository the tests run in.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func chartDir(t *testing.T) string {
	return filepath.Join(repoRoot(t), "charts", "memhpa")
}

// helmBinary is the pinned helm; a missing one fails the test, never skips it.
func helmBinary(t *testing.T) string {
	t.Helper()
	p := filepath.Join(harness.DefaultBinDir(), "helm")
	if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		t.Fatalf("helm not found at %s: run `make tools` (or hack/tools.sh helm) to build the pinned helm, "+
			"or set MEMHPA_BIN to the directory that holds it", p)
	}
	return p
}

// runHelm runs helm with args and returns stdout, and an error carrying stderr.
func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBinary(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// helm must not read or write the user's configuration.
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// valueSets are the chart-testing value files in charts/memhpa/ci, by file name.
func valueSets(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir(t), "ci", "*-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no value sets in charts/memhpa/ci")
	}
	sort.Strings(files)
	return files
}

// templateArgs are the arguments of `helm template` for our release.
func templateArgs(t *testing.T, extra ...string) []string {
	return append([]string{"template", releaseName, chartDir(t),
		"--namespace", releaseNS, "--kube-version", kubeVersion}, extra...)
}

// rendered is the output of `helm template`, indexed by kind and name.
type rendered struct {
	objects []*unstructured.Unstructured
}

func render(t *testing.T, extra ...string) rendered {
	t.Helper()
	out, err := runHelm(t, templateArgs(t, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeObjects(out)
	if err != nil {
		t.Fatal(err)
	}
	return rendered{objects: objs}
}

// decodeObjects splits a multi-document YAML stream into objects.
func decodeObjects(stream string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(stream), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decode rendered manifests: %w", err)
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

// byKind returns the objects of one kind.
func (r rendered) byKind(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range r.objects {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// one returns the single object of a kind, failing when there are 0 or >1.
func (r rendered) one(t *testing.T, kind string) *unstructured.Unstructured {
	t.Helper()
	objs := r.byKind(kind)
	if len(objs) != 1 {
		t.Fatalf("want exactly one %s, got %d", kind, len(objs))
	}
	return objs[0]
}

// get returns the object of a kind and name, or nil.
func (r rendered) get(kind, name string) *unstructured.Unstructured {
	for _, o := range r.objects {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// into converts an unstructured object into a typed one.
func into[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	var v T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, &v, true); err != nil {
		t.Fatalf("%s %s does not convert to %T: %v", u.GetKind(), u.GetName(), v, err)
	}
	return &v
}
