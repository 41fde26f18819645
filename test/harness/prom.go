package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
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
	return PromQueryAt(ctx, e.PrometheusURL, query)
}

// PromQueryAt runs an instant PromQL query against the Prometheus at base
// (one of StartPrometheus) and returns the vector it yields.
func PromQueryAt(ctx context.Context, base, query string) ([]Sample, error) {
	u := base + "/api/v1/query?" + url.Values{"query": {query}}.Encode()
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
	return promTargets(ctx, e.PrometheusURL)
}

func promTargets(ctx context.Context, base string) ([]PromTarget, error) {
	var body struct {
		Data struct {
			ActiveTargets []PromTarget `json:"activeTargets"`
		} `json:"data"`
	}
	if err := getJSON(ctx, base+"/api/v1/targets?state=active", &body); err != nil {
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
	return waitNodeTargets(ctx, e.PrometheusURL, nodes, []string{NodeMetricsJob}, timeout)
}

// waitNodeTargets waits until the Prometheus at base scrapes kwok's
// /metrics/resource endpoint of at least nodes nodes successfully under each
// of jobs.
func waitNodeTargets(ctx context.Context, base string, nodes int, jobs []string, timeout time.Duration) error {
	err := Poll(ctx, timeout, 500*time.Millisecond, func(ctx context.Context) (bool, error) {
		targets, err := promTargets(ctx, base)
		if err != nil {
			return false, err
		}
		up := map[string]int{}
		for _, t := range targets {
			if t.Labels["metrics_name"] == "metrics-resource" && t.Health == "up" {
				up[t.ScrapePool]++
			}
		}
		for _, j := range jobs {
			if up[j] < nodes {
				return false, fmt.Errorf("%d of %d node metrics targets of job %s up", up[j], nodes, j)
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("wait for Prometheus at %s to scrape the kwok nodes: %w", base, err)
	}
	return nil
}

func (e *Env) waitPrometheusReady(ctx context.Context, timeout time.Duration) error {
	if err := httpReady(ctx, promClient, e.PrometheusURL+"/-/ready", timeout); err != nil {
		return fmt.Errorf("wait for Prometheus: %w", err)
	}
	return nil
}

// StartPrometheus starts a Prometheus of a test's own beside the
// environment's: named name, on a free port of 127.0.0.1, with storage of its
// own, scraping kwok's per-node endpoints once under each of jobs. The same
// targets under two job names give every container two series, as two scrape
// jobs of one kubelet (its cAdvisor and resource endpoints) or two agents
// writing into one store do. It waits until every job scrapes every node and
// returns the URL; StopComponent(Component(name)) and Stop end it.
func (e *Env) StartPrometheus(ctx context.Context, name string, jobs ...string) (string, error) {
	return e.startPrometheus(ctx, name, "", jobs)
}

// startPrometheus is StartPrometheus with extra scrape jobs (YAML items of
// scrape_configs).
func (e *Env) startPrometheus(ctx context.Context, name, extraJobs string, jobs []string) (string, error) {
	e.progress.step("Starting Prometheus %s scraping the kwok nodes as %v", name, jobs)
	ports, err := freePorts(1)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(e.Dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("start %s: %w", name, err)
	}
	interval, err := time.ParseDuration(e.ScrapeInterval)
	if err != nil {
		return "", fmt.Errorf("start %s: scrape interval %q: %w", name, e.ScrapeInterval, err)
	}
	own := e.Ports
	own.Prometheus = ports[0]
	config := filepath.Join(dir, "prometheus.yaml")
	if err := os.WriteFile(config, []byte(buildPrometheusConfig(own, interval, jobs...)+extraJobs), 0o644); err != nil {
		return "", fmt.Errorf("start %s: write its configuration: %w", name, err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	args := []string{
		"--config.file=" + config,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr,
	}
	p, err := startProcess(name, e.Binaries.Prometheus, args, dir,
		filepath.Join(e.LogDir, name+".log"), filepath.Join(e.pidDir(), name+".pid"), nil)
	if err != nil {
		return "", err
	}
	e.mu.Lock()
	e.procs[name] = p
	if e.ownProms == nil {
		e.ownProms = map[string]bool{}
	}
	e.ownProms[name] = true
	e.mu.Unlock()
	url := "http://" + addr
	if err := httpReady(ctx, promClient, url+"/-/ready", time.Minute); err != nil {
		return "", fmt.Errorf("wait for Prometheus %s: %w (log: %s)", name, err, filepath.Join(e.LogDir, name+".log"))
	}
	if err := waitNodeTargets(ctx, url, e.Nodes, jobs, 2*time.Minute); err != nil {
		return "", err
	}
	return url, nil
}

// isOwnPrometheus tells whether name is a Prometheus of StartPrometheus.
func (e *Env) isOwnPrometheus(name Component) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ownProms[string(name)]
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
