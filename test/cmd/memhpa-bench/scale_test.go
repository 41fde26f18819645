package main

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestParseScalePoints(t *testing.T) {
	tests := []struct {
		name, in string
		want     []int
		wantErr  string
	}{
		{name: "the default", in: "100,1000,10000", want: []int{100, 1000, 10000}},
		{name: "spaces", in: "100, 1000", want: []int{100, 1000}},
		{name: "one point", in: "1000", want: []int{1000}},
		{name: "not a number", in: "100,1k", wantErr: `"1k" must be a positive number`},
		{name: "zero", in: "0", wantErr: `"0" must be a positive number`},
		{name: "descending", in: "1000,100", wantErr: "100 must be larger than 1000"},
		{name: "repeated", in: "100,100", wantErr: "100 must be larger than 100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseScalePoints(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseScalePoints(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("parseScalePoints(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestScalePods(t *testing.T) {
	// Five pods each up to the comparison point, one each beyond it.
	for _, tt := range []struct{ n, compare, want int }{
		{100, 1000, 500}, {1000, 1000, 5000}, {10000, 1000, 14000}, {500, 100, 900},
	} {
		if got := scalePods(tt.n, tt.compare); got != tt.want {
			t.Errorf("scalePods(%d, %d) = %d, want %d", tt.n, tt.compare, got, tt.want)
		}
	}
}

// A fragment of Prometheus's own /metrics (v3: a summary by slice, a
// histogram by handler).
const promPage = `# HELP prometheus_engine_query_duration_seconds Query timings
# TYPE prometheus_engine_query_duration_seconds summary
prometheus_engine_query_duration_seconds{slice="inner_eval",quantile="0.5"} 0.001
prometheus_engine_query_duration_seconds_sum{slice="inner_eval"} 1.5
prometheus_engine_query_duration_seconds_count{slice="inner_eval"} 1000
prometheus_engine_query_duration_seconds_sum{slice="prepare_time"} 0.25
prometheus_engine_query_duration_seconds_sum{slice="queue_time"} 0.125
prometheus_engine_query_duration_seconds_sum{slice="result_sort"} 0
prometheus_http_request_duration_seconds_sum{handler="/api/v1/query"} 3
prometheus_http_request_duration_seconds_sum{handler="/metrics"} 9
process_cpu_seconds_total 42.5
`

func TestReadPromCost(t *testing.T) {
	got, err := readPromCost(strings.NewReader(promPage))
	if err != nil {
		t.Fatal(err)
	}
	want := promCost{engine: 1.875, inner: 1.5, api: 3, cpu: 42.5}
	if got != want {
		t.Errorf("readPromCost = %+v, want %+v", got, want)
	}
	if d := want.minus(promCost{engine: 0.875, inner: 0.5, api: 1, cpu: 40}); d != (promCost{engine: 1, inner: 1, api: 2, cpu: 2.5}) {
		t.Errorf("minus = %+v", d)
	}
}

func TestScaleGETs(t *testing.T) {
	page := `apiserver_request_total{code="200",component="apiserver",dry_run="",group="apps",resource="deployments",scope="resource",subresource="scale",verb="GET",version="v1"} 1000
apiserver_request_total{code="404",component="apiserver",dry_run="",group="apps",resource="statefulsets",scope="resource",subresource="scale",verb="GET",version="v1"} 2
apiserver_request_total{code="200",component="apiserver",dry_run="",group="apps",resource="deployments",scope="resource",subresource="scale",verb="PUT",version="v1"} 7
apiserver_request_total{code="200",component="apiserver",dry_run="",group="apps",resource="deployments",scope="resource",subresource="",verb="GET",version="v1"} 5
apiserver_request_duration_seconds_count{group="apps",resource="deployments",subresource="scale",verb="GET"} 1000
`
	got, err := scaleGETs(strings.NewReader(page))
	if err != nil || got != 1002 {
		t.Errorf("scaleGETs = %v, %v; want 1002 (GETs of /scale, any resource and code)", got, err)
	}
}

func TestScaleProbe(t *testing.T) {
	page := `memhpa_scaler_cycle_duration_seconds_sum 3.5
memhpa_scaler_cycle_duration_seconds_count 2
memhpa_scaler_kube_requests_total{code="200",verb="GET"} 10
memhpa_scaler_kube_requests_total{code="200",verb="WATCH"} 3
memhpa_scaler_prometheus_query_duration_seconds_count{result="success"} 2
process_cpu_seconds_total 4.25
process_resident_memory_bytes 6.291456e+07
memhpa_scaler_desired_replicas{memhpa="a",mode="Scale",namespace="scale-0"} 5
memhpa_scaler_desired_replicas{memhpa="b",mode="Scale",namespace="scale-2"} 5
memhpa_scaler_shard_leader{shard="0"} 1
memhpa_scaler_shard_leader{shard="1"} 0
`
	s, err := scaleProbe(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	if s.cycles != 2 || s.cycleSeconds != 3.5 || s.requests != 13 || s.verbs["GET"] != 10 || s.queries != 2 || s.cpu != 4.25 || s.rss != 62914560 ||
		s.decided != 2 || !slices.Equal(s.shards, []int{0}) {
		t.Errorf("scaleProbe = %+v", s)
	}
}

func TestCycleMeter(t *testing.T) {
	m := newCycleMeter(cfgShards, 10)
	at := func(cycles, seconds, cpu float64) snapshot {
		return snapshot{cycles: cycles, cycleSeconds: seconds, cpu: cpu, rss: 1 << 20, decided: 10, verbs: map[string]float64{"GET": cycles}}
	}
	// The warm-up cycle's end starts the count; a read within the same
	// cycle is not an end; two cycles between two reads are averaged.
	for i, step := range []struct {
		s            snapshot
		ended        bool
		since        float64
		done         bool
		cycles, cpus []float64
	}{
		{s: at(0, 0, 0), ended: false},
		{s: at(1, 5, 1), ended: true, since: 0},
		{s: at(1, 5, 1.5), ended: false},
		{s: at(2, 7, 2), ended: true, since: 1, cycles: []float64{2}, cpus: []float64{1}},
		{s: at(4, 13, 6), ended: true, since: 2, cycles: []float64{2, 3}, cpus: []float64{1, 2}},
		{s: at(5, 14, 6.5), ended: true, since: 1, done: true, cycles: []float64{2, 3, 1}, cpus: []float64{1, 2, 0.5}},
	} {
		if got := m.ended(step.s); got != step.ended {
			t.Fatalf("step %d: ended = %v, want %v", i, got, step.ended)
		}
		if !step.ended {
			continue
		}
		if got := m.add(step.s); got != step.since {
			t.Errorf("step %d: add = %v cycles since the last end, want %v", i, got, step.since)
		}
		if m.done() != step.done || !slices.Equal(m.run.cycles, step.cycles) || !slices.Equal(m.run.cpu, step.cpus) {
			t.Errorf("step %d: done %v, cycles %v, cpu %v; want %v, %v, %v", i, m.done(), m.run.cycles, m.run.cpu, step.done, step.cycles, step.cpus)
		}
	}
	if m.run.decided != 10 || m.run.rss != 1<<20 || m.run.verbs["GET"] != 1 {
		t.Errorf("at the end: decided %v, rss %v, GETs per cycle %v; want 10, 1 MiB, 1", m.run.decided, m.run.rss, m.run.verbs["GET"])
	}
}

func TestNamespaceSplit(t *testing.T) {
	// FNV-1a 32 of "scale-0" … "scale-9", computed apart from Go's
	// hash/fnv: even indexes in shard 0 of 2.
	for n, want := range map[int]string{1: "10", 2: "5 + 5", 4: "3 + 2 + 2 + 3"} {
		if got := namespaceSplit(n); got != want {
			t.Errorf("namespaceSplit(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestShardsSection(t *testing.T) {
	f := scaleFigures{runs: []scaleRun{steadyRun(cfgProduct.name, 10000, 4, 3, 0, 0, 0.5)}}
	if got := shardsSection(f, 10000, 15e9); got != "" {
		t.Fatalf("without sharded runs: %q, want nothing", got)
	}
	for _, cycles := range [][2]float64{{2, 2.5}, {2.2, 1.9}, {2.1, 2.4}} {
		for i, c := range cycles {
			r := steadyRun(cfgShards, 10000, c, 1.5, 0, 0, 0)
			r.decided = float64(5000 + 100*i)
			f.runs = append(f.runs, r)
		}
	}
	got := shardsSection(f, 10000, 15e9)
	for _, w := range []string{
		// Per run the slower scaler: 2.5, 2.2, 2.4; median 2.4.
		"| every MemHpa reconciled within (full cycle) | 4.00 s (runs 4.00 s) | 2.40 s (runs 2.50 s, 2.20 s, 2.40 s) | 1 / 2: 1.7× |",
		"| scaler 0: MemHpas decided, cycle, CPU per cycle, RSS | | 5,000, 2.10 s, 1.50 s, 64 MiB | |",
		"| scaler 1: MemHpas decided, cycle, CPU per cycle, RSS | | 5,100, 2.40 s, 1.50 s, 64 MiB | |",
		"| scaler CPU per cycle, all scalers | 3.00 s | 3.00 s | 1.0× |",
		"| scaler RSS, all scalers | 64 MiB | 128 MiB | 2.0× |",
		"The 10 namespaces split 5 + 5 between the shards.",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("section lacks %q; got:\n%s", w, got)
		}
	}
}

func TestExtrapolate(t *testing.T) {
	// 1 s at 1,000, 4 s at 10,000: 1/3 ms per MemHpa, 30 s at 88,000.
	x, slope, ok := extrapolate(1000, 1, 10000, 4, 30)
	if !ok || math.Abs(slope-1.0/3000) > 1e-12 || math.Abs(x-88000) > 1e-6 {
		t.Errorf("extrapolate = %v, %v, %v; want 88000, 1/3000, true", x, slope, ok)
	}
	if _, _, ok := extrapolate(1000, 2, 10000, 2, 30); ok {
		t.Error("extrapolate of a flat line is ok, want not")
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{5: "5", 100: "100", 1000: "1,000", 14000: "14,000", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// steadyRun is a scaleRun whose every cycle measured the same figures.
func steadyRun(config string, memhpas int, cycle, cpu, requests, gets, engine float64) scaleRun {
	r := scaleRun{config: config, memhpas: memhpas, rss: 64 << 20, verbs: map[string]float64{}}
	for range scaleCycles {
		r.cycles = append(r.cycles, cycle)
		r.cpu = append(r.cpu, cpu)
		r.requests = append(r.requests, requests)
		r.gets = append(r.gets, gets)
		r.queries = append(r.queries, 1)
		r.prom = append(r.prom, promCost{engine: engine, inner: engine / 2, api: engine, cpu: engine})
	}
	if requests > 0 {
		r.verbs["GET"] = requests
	}
	return r
}

func TestScaleSection(t *testing.T) {
	o := options{scalePoints: []int{100, 1000, 10000}, scaleCompare: 1000, scalePeriod: 15e9}
	steps := []scaleStep{{memhpas: 100, pods: 500, created: 100, took: 1e9}, {memhpas: 1000, pods: 5000, created: 900, took: 9e9}, {memhpas: 10000, pods: 14000, created: 9000, took: 90e9}}
	base := []scaleRun{
		steadyRun(cfgProduct.name, 100, 0.2, 0.1, 0, 0, 0.01),
		steadyRun(cfgPerMemHpa.name, 1000, 2, 2, 0, 0, 1),
		steadyRun(cfgGetScale.name, 1000, 2, 2, 1000, 1000, 0.05),
		steadyRun(cfgProduct.name, 10000, 4, 3, 0, 0, 0.5),
	}
	tests := []struct {
		name    string
		product scaleRun
		want    []string
		notWant []string
	}{
		{
			name:    "informers: no request, goal met",
			product: steadyRun(cfgProduct.name, 1000, 1, 1, 0, 0, 0.05),
			want: []string{
				"| scaler's apiserver requests per steady cycle | 0 (none) | 1000 (GET 1000) | goal 0: met |",
				"| GETs of /scale the apiserver served per cycle | 0 | 1000 | |",
				"| Prometheus engine time per cycle (all slices) | 50.0 ms | 1.00 s | per-MemHpa / batched 20.0× |",
				"| 10,000 | 14,000 | 4.00 s (runs 4.00 s) | 3.00 s | 64 MiB | 0 | 1m30s for 9,000 (100 MemHpas/s) |",
				"one leader's cycle fits a 30s sync period up to about **88,000 MemHpas**",
				"**Missed by:** speed-up 2.0×, 3.0× short of 5×.",
				"at 1,000 MemHpas over one sync period (`--profiling`, `go tool pprof -top`):\n\n```\nPROFILE-1000\n```",
			},
			notWant: []string{"goal 0: **missed**", "apiserver requests per steady cycle (GET", "faster than linearly", "PROFILE-10000"},
		},
		{
			name:    "requests in a steady cycle: goal missed, and by how much",
			product: steadyRun(cfgProduct.name, 1000, 1, 1, 3, 0, 0.05),
			want: []string{
				"goal 0: **missed**",
				"**Missed by:** 3 apiserver requests per steady cycle (GET 3), goal 0.",
			},
		},
		{
			name:    "a cycle 40× longer for 10× the MemHpas: superlinear, said so",
			product: steadyRun(cfgProduct.name, 1000, 0.1, 1, 0, 0, 0.05),
			want:    []string{"The cycle grew 40× for 10× the MemHpas, faster than linearly", "```\nPROFILE-10000\n```"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scaleSection(append(slices.Clone(base), tt.product), steps, o, map[int]string{1000: "PROFILE-1000", 10000: "PROFILE-10000"})
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("section lacks %q; got:\n%s", w, got)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(got, w) {
					t.Errorf("section has %q; got:\n%s", w, got)
				}
			}
		})
	}
}
