package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Sample is one series of an instant query result.
type Sample struct {
	Metric map[string]string
	Value  float64
}

var promClient = &http.Client{Timeout: 10 * time.Second}

// PromQuery runs an instant PromQL query against the environment's Prometheus
// and returns the vector it yields.
func (e *Env) PromQuery(ctx context.Context, query string) ([]Sample, error) {
	u := e.PrometheusURL + "/api/v1/query?" + url.Values{"query": {query}}.Encode()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := getJSON(ctx, u, &body); err != nil {
		return nil, fmt.Errorf("query Prometheus %q: %w", query, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query Prometheus %q: %s", query, body.Error)
	}
	if body.Data.ResultType != "vector" {
		return nil, fmt.Errorf("query Prometheus %q: result type %s, want vector", query, body.Data.ResultType)
	}
	out := make([]Sample, 0, len(body.Data.Result))
	for _, r := range body.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("query Prometheus %q: value %v: %w", query, r.Value[1], err)
		}
		out = append(out, Sample{Metric: r.Metric, Value: v})
	}
	return out, nil
}

// PromTarget is one active scrape target.
type PromTarget struct {
	Labels     map[string]string `json:"labels"`
	ScrapeURL  string            `json:"scrapeUrl"`
	Health     string            `json:"health"`
	LastError  string            `json:"lastError"`
	ScrapePool string            `json:"scrapePool"`
}

// PromTargets lists Prometheus's active targets.
func (e *Env) PromTargets(ctx context.Context) ([]PromTarget, error) {
	var body struct {
		Data struct {
			ActiveTargets []PromTarget `json:"activeTargets"`
		} `json:"data"`
	}
	if err := getJSON(ctx, e.PrometheusURL+"/api/v1/targets?state=active", &body); err != nil {
		return nil, fmt.Errorf("list Prometheus targets: %w", err)
	}
	return body.Data.ActiveTargets, nil
}

// WaitPrometheusTargets waits until Prometheus scrapes kwok's
// /metrics/resource endpoint of at least nodes nodes successfully.
func (e *Env) WaitPrometheusTargets(ctx context.Context, nodes int, timeout time.Duration) error {
	if err := e.waitPrometheusReady(ctx, timeout); err != nil {
		return err
	}
	err := Poll(ctx, timeout, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		targets, err := e.PromTargets(ctx)
		if err != nil {
			return false, err
		}
		up := 0
		for _, t := range targets {
			if t.Labels["metrics_name"] == "metrics-resource" && t.Health == "up" {
				up++
			}
		}
		if up < nodes {
			return false, fmt.Errorf("%d of %d node metrics targets up", up, nodes)
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("wait for Prometheus to scrape the kwok nodes: %w", err)
	}
	return nil
}

func (e *Env) waitPrometheusReady(ctx context.Context, timeout time.Duration) error {
	if err := httpReady(ctx, promClient, e.PrometheusURL+"/-/ready", timeout); err != nil {
		return fmt.Errorf("wait for Prometheus: %w", err)
	}
	return nil
}

func getJSON(ctx context.Context, u string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := promClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		return fmt.Errorf("GET %s: %s: %w", u, resp.Status, err)
	}
	return nil
}
