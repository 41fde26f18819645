package harness

import (
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"namespace": "shop", "memhpa": "web", "__rate_interval": "1m"}
	got, err := Expand(`sum(increase(m{namespace="$namespace", memhpa="${memhpa}"}[$__rate_interval]))`, vars)
	if want := `sum(increase(m{namespace="shop", memhpa="web"}[1m]))`; err != nil || got != want {
		t.Errorf("Expand = %q, %v; want %q", got, err, want)
	}
	if _, err := Expand(`m{pod="$pod"}`, vars); err == nil || !strings.Contains(err.Error(), "pod") {
		t.Errorf("an unknown variable: err = %v, want one naming it", err)
	}
}

func TestParseDashboard(t *testing.T) {
	good := `{"panels": [{"title": "A", "targets": [{"refId": "A", "expr": "up"}]}],
		"templating": {"list": [{"name": "ds", "type": "datasource", "query": "prometheus"},
			{"name": "ns", "type": "query", "query": {"query": "label_values(m{job=\"x\"}, namespace)"}}]}}`
	got, err := ParseDashboard([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	want := []DashboardQuery{{Where: `panel "A" target A`, Expr: "up"}, {Where: `variable "ns"`, Expr: `count by (namespace) (m{job="x"})`}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("ParseDashboard = %+v, want %+v", got, want)
	}
	for name, bad := range map[string]string{
		"not JSON":        `{`,
		"empty expr":      `{"panels": [{"title": "A", "targets": [{"refId": "A", "expr": " "}]}]}`,
		"no targets":      `{"panels": [{"title": "A"}]}`,
		"other var query": `{"templating": {"list": [{"name": "v", "type": "query", "query": {"query": "query_result(up)"}}]}}`,
	} {
		if _, err := ParseDashboard([]byte(bad)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
