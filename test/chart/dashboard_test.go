package chart

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/memhpa/memhpa/test/harness"
)

// The Grafana dashboard ships as a ConfigMap only with dashboards.enabled,
// labelled for Grafana's dashboard sidecar (grafana_dashboard: "1", or the
// label the values name), and holds the chart's dashboards/memhpa.json
// unchanged: valid JSON whose every panel has a query.
func TestDashboardConfigMap(t *testing.T) {
	const name = "memhpa-dashboard"
	if cm := render(t).get("ConfigMap", name); cm != nil {
		t.Errorf("ConfigMap %s rendered by default", name)
	}
	file, err := os.ReadFile(filepath.Join(repoRoot(t), harness.DashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		set       []string
		namespace string
		labels    map[string]string
		annot     map[string]string
	}{
		{name: "enabled", set: []string{"dashboards.enabled=true"}, namespace: releaseNS,
			labels: map[string]string{"grafana_dashboard": "1"}},
		{name: "the sidecar's label, namespace and folder", set: []string{"dashboards.enabled=true",
			"dashboards.label=example.com/dashboard", "dashboards.labelValue=memhpa", "dashboards.namespace=monitoring",
			"dashboards.labels.team=platform", "dashboards.annotations.grafana_folder=Autoscaling"},
			namespace: "monitoring", labels: map[string]string{"example.com/dashboard": "memhpa", "team": "platform"},
			annot: map[string]string{"grafana_folder": "Autoscaling"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var args []string
			for _, s := range tt.set {
				args = append(args, "--set", s)
			}
			r := render(t, args...)
			cm := r.get("ConfigMap", name)
			if cm == nil {
				t.Fatalf("no ConfigMap %s", name)
			}
			checkLabels(t, r)
			if cm.GetNamespace() != tt.namespace {
				t.Errorf("namespace = %q, want %q", cm.GetNamespace(), tt.namespace)
			}
			for k, v := range tt.labels {
				if got, ok := cm.GetLabels()[k]; !ok || got != v {
					t.Errorf("label %s = %q (present %v), want %q", k, got, ok, v)
				}
			}
			for k, v := range tt.annot {
				if got := cm.GetAnnotations()[k]; got != v {
					t.Errorf("annotation %s = %q, want %q", k, got, v)
				}
			}
			data, _, _ := unstructured.NestedString(cm.Object, "data", "memhpa.json")
			if !json.Valid([]byte(data)) {
				t.Fatalf("data memhpa.json is not valid JSON:\n%.300s", data)
			}
			if data != string(file) && data+"\n" != string(file) {
				t.Error("data memhpa.json differs from the chart's dashboards/memhpa.json")
			}
			queries, err := harness.ParseDashboard([]byte(data))
			if err != nil {
				t.Fatal(err)
			}
			if len(queries) == 0 {
				t.Error("the dashboard has no queries")
			}
		})
	}
}
