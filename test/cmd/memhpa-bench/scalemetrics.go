package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"k8s.io/client-go/kubernetes"
)

// eachSample calls fn with the name, the labels (`a="x",b="y"}`, empty when
// none) and the value of every sample of a Prometheus text page.
func eachSample(r io.Reader, fn func(name, labels string, v float64)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		name, labels, _ := strings.Cut(line[:i], "{")
		fn(name, labels, v)
	}
	return sc.Err()
}

// label returns one label's value from `a="x",b="y"}`.
func label(labels, name string) string {
	for _, kv := range strings.Split(strings.TrimSuffix(labels, "}"), ",") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// fetch reads a /metrics page over plain HTTP (the scaler's health port,
// Prometheus's own port: both on loopback).
func fetch(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	// Why identity: gzip of a page with series per MemHpa costs the scaler
	// more CPU than its cycle (290 ms per 10 s at 100 MemHpas read every
	// 100 ms, 10 ms without the reads).
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// snapshot is what one read of the scaler's /metrics says.
type snapshot struct {
	cycles, cycleSeconds, queries, requests, cpu, overruns, rss float64
	verbs                                                       map[string]float64
	// decided is the number of memhpa_scaler_desired_replicas series: the
	// MemHpas the scaler has decided on (of the shards it leads).
	decided float64
	// shards are those it leads (memhpa_scaler_shard_leader 1), with --shards.
	shards []int
}

// scaleProbe reads a snapshot from a Prometheus text page.
func scaleProbe(r io.Reader) (snapshot, error) {
	s := snapshot{verbs: map[string]float64{}}
	// Series summed over their labels.
	sums := map[string]*float64{
		"memhpa_scaler_cycle_duration_seconds_count":            &s.cycles,
		"memhpa_scaler_cycle_duration_seconds_sum":              &s.cycleSeconds,
		"memhpa_scaler_cycle_overruns_total":                    &s.overruns,
		"memhpa_scaler_prometheus_query_duration_seconds_count": &s.queries,
		"process_cpu_seconds_total":                             &s.cpu,
		"process_resident_memory_bytes":                         &s.rss,
		"memhpa_scaler_kube_requests_total":                     &s.requests,
	}
	err := eachSample(r, func(name, labels string, v float64) {
		if p, ok := sums[name]; ok {
			*p += v
		}
		switch name {
		case "memhpa_scaler_kube_requests_total":
			s.verbs[label(labels, "verb")] += v
		case "memhpa_scaler_desired_replicas":
			s.decided++
		case "memhpa_scaler_shard_leader":
			if i, err := strconv.Atoi(label(labels, "shard")); err == nil && v == 1 {
				s.shards = append(s.shards, i)
			}
		}
	})
	return s, err
}

// scrape reads the scaler's /metrics.
func scrape(ctx context.Context, url string) (snapshot, error) {
	raw, err := fetch(ctx, url)
	if err != nil {
		return snapshot{}, err
	}
	return scaleProbe(bytes.NewReader(raw))
}

// promCost is what Prometheus's own /metrics says of its work so far.
type promCost struct {
	// engine is the sum of prometheus_engine_query_duration_seconds over
	// all its slices (queue, prepare, inner_eval, result_sort); inner is
	// its inner_eval slice alone: evaluating the expression.
	engine, inner float64
	// api is the time Prometheus's HTTP handlers of /api/v1/query spent,
	// answer encoding included.
	api float64
	// cpu is Prometheus's process_cpu_seconds_total: scrapes and the TSDB
	// too, the same in both modes, so the difference is the queries'.
	cpu float64
}

func (c promCost) minus(b promCost) promCost {
	return promCost{engine: c.engine - b.engine, inner: c.inner - b.inner, api: c.api - b.api, cpu: c.cpu - b.cpu}
}

func readPromCost(r io.Reader) (promCost, error) {
	var c promCost
	err := eachSample(r, func(name, labels string, v float64) {
		switch name {
		case "prometheus_engine_query_duration_seconds_sum":
			c.engine += v
			if label(labels, "slice") == "inner_eval" {
				c.inner += v
			}
		case "prometheus_http_request_duration_seconds_sum":
			if h := label(labels, "handler"); h == "/api/v1/query" || h == "/api/v1/query_range" {
				c.api += v
			}
		case "process_cpu_seconds_total":
			c.cpu = v
		}
	})
	return c, err
}

func scrapeProm(ctx context.Context, base string) (promCost, error) {
	raw, err := fetch(ctx, base+"/metrics")
	if err != nil {
		return promCost{}, err
	}
	return readPromCost(bytes.NewReader(raw))
}

// scaleGETs counts the GETs of a /scale subresource the apiserver has served
// (apiserver_request_total, any resource and code): what the HPA's way costs.
func scaleGETs(r io.Reader) (float64, error) {
	var n float64
	err := eachSample(r, func(name, labels string, v float64) {
		if name == "apiserver_request_total" && label(labels, "subresource") == "scale" && label(labels, "verb") == "GET" {
			n += v
		}
	})
	return n, err
}

// scrapeScaleGETs reads the apiserver's /metrics with the bench's client.
func scrapeScaleGETs(ctx context.Context, kube kubernetes.Interface) (float64, error) {
	raw, err := kube.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return 0, fmt.Errorf("read the apiserver's /metrics: %w", err)
	}
	return scaleGETs(bytes.NewReader(raw))
}
