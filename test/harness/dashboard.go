package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// DashboardFile is the chart's Grafana dashboard, relative to the repository.
const DashboardFile = "charts/memhpa/dashboards/memhpa.json"

// DashboardQuery is one PromQL query of a Grafana dashboard: a panel's target,
// or a template variable's label_values() rewritten as the PromQL that
// returns the same label values.
type DashboardQuery struct {
	// Where names it: the panel's title and the target's refId, or the variable.
	Where string
	Expr  string
}

// grafanaDashboard is the part of a dashboard's JSON that holds queries.
type grafanaDashboard struct {
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

// labelValues is Grafana's label_values(selector, label).
var labelValues = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// ParseDashboard returns every query of the dashboard JSON data: each
// panel target's expr (an error when one is empty), and each query
// variable's label_values(selector, label) as count by (label) (selector).
func ParseDashboard(data []byte) ([]DashboardQuery, error) {
	var d grafanaDashboard
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("decode the dashboard: %w", err)
	}
	var out []DashboardQuery
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			return nil, fmt.Errorf("panel %q has no targets", p.Title)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				return nil, fmt.Errorf("panel %q target %s has no expr", p.Title, tg.RefID)
			}
			out = append(out, DashboardQuery{Where: fmt.Sprintf("panel %q target %s", p.Title, tg.RefID), Expr: tg.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			return nil, fmt.Errorf("variable %q: decode its query: %w", v.Name, err)
		}
		m := labelValues.FindStringSubmatch(strings.TrimSpace(q.Query))
		if m == nil {
			return nil, fmt.Errorf("variable %q: query %q is not label_values(selector, label)", v.Name, q.Query)
		}
		out = append(out, DashboardQuery{Where: fmt.Sprintf("variable %q", v.Name), Expr: fmt.Sprintf("count by (%s) (%s)", m[2], m[1])})
	}
	return out, nil
}

// ReadDashboard parses the chart's dashboard in the repository at root.
func ReadDashboard(root string) ([]DashboardQuery, error) {
	data, err := os.ReadFile(filepath.Join(root, DashboardFile))
	if err != nil {
		return nil, fmt.Errorf("read the dashboard: %w", err)
	}
	return ParseDashboard(data)
}

// Expand replaces Grafana's variables in expr: $name and ${name} by vars[name];
// an unknown variable is an error, so a query cannot reach Prometheus with a
// "$" left in it.
func Expand(expr string, vars map[string]string) (string, error) {
	var missing []string
	out := grafanaVariable.ReplaceAllStringFunc(expr, func(v string) string {
		name := strings.Trim(v, "${}")
		value, ok := vars[name]
		if !ok {
			missing = append(missing, name)
			return v
		}
		return value
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("query %q uses variables %v that have no value", expr, missing)
	}
	return out, nil
}

var grafanaVariable = regexp.MustCompile(`\$\{[a-zA-Z_][a-zA-Z0-9_]*\}|\$[a-zA-Z_][a-zA-Z0-9_]*`)
