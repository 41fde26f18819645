package chart

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"
)

const crdName = "memhpas.autoscaling.memhpa.io"

// generatedCRD is controller-gen's CRD, the one source the chart renders and
// the harness applies (hack/update-codegen.sh writes it).
func generatedCRD(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartDir(t), "files", "crds", "autoscaling.memhpa.io_memhpas.yaml"))
	if err != nil {
		t.Fatalf("the generated CRD: %v (make generate writes it)", err)
	}
	var m map[string]any
	if err := sigsyaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

// TestTemplateCRD: the CRD is a template, as cert-manager ships its own, so
// that `helm upgrade` brings a new schema (Helm never upgrades crds/); it is
// rendered unless crds.enabled=false and kept on uninstall unless
// crds.keep=false.
func TestTemplateCRD(t *testing.T) {
	if _, err := os.Stat(filepath.Join(chartDir(t), "crds")); err == nil {
		t.Error("charts/memhpa/crds exists: Helm would install that CRD before the templates and never upgrade it")
	}
	want := generatedCRD(t)
	tests := []struct {
		name     string
		set      []string
		rendered bool
		keep     bool
	}{
		{"defaults", nil, true, true},
		{"crds.keep=false", []string{"--set", "crds.keep=false"}, true, false},
		{"crds.enabled=false", []string{"--set", "crds.enabled=false"}, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := render(t, tc.set...)
			crds := r.byKind("CustomResourceDefinition")
			if !tc.rendered {
				if len(crds) != 0 {
					t.Fatalf("%d CRDs rendered, want none", len(crds))
				}
				return
			}
			if len(crds) != 1 || crds[0].GetName() != crdName {
				t.Fatalf("rendered CRDs %v, want exactly %s", crds, crdName)
			}
			got := crds[0]
			if !reflect.DeepEqual(got.Object["spec"], want.Object["spec"]) {
				t.Error("the rendered CRD's spec differs from the generated file's")
			}
			ann := got.GetAnnotations()
			if policy, ok := ann["helm.sh/resource-policy"]; ok != tc.keep || (tc.keep && policy != "keep") {
				t.Errorf("annotation helm.sh/resource-policy = %q (present %v), want keep only when crds.keep", policy, ok)
			}
			for k, v := range want.GetAnnotations() {
				if ann[k] != v {
					t.Errorf("annotation %s = %q, want the generated %q", k, ann[k], v)
				}
			}
			if got.GetLabels()["app.kubernetes.io/managed-by"] != "Helm" {
				t.Errorf("labels %v lack the chart's", got.GetLabels())
			}
		})
	}
}
