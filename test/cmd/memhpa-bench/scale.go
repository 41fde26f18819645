package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/memhpa/memhpa/test/harness"
	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/pkg/generated/clientset/versioned"
)

// The scale section: MemHpas over kwok pods in 10 namespaces on 10 fake
// nodes. The Deployments up to the comparison point (-scale-compare, 1,000)
// have scaleReplicas pods each, those beyond it one (the 10,000 point).
const (
	scaleNamespaces  = 10
	scaleReplicas    = 5
	scaleNodes       = 10
	scaleNodePods    = 600 // at least, per node
	scaleCycles      = 3   // measured per run, after a first warm-up cycle
	scaleQueryMetric = "container_memory_working_set_bytes"
	// scaleLeaderPeriod is the sync period for which one leader's capacity
	// is stated: the scaler's default.
	scaleLeaderPeriod = 30 * time.Second
	// scaleReadsPerPeriod is how many times per sync period the bench reads
	// the scaler's /metrics.
	scaleReadsPerPeriod = 5
)

// scaleConfig is one way of running the scaler: the product, or one of the
// baselines of make bench's build.
type scaleConfig struct {
	name string
	args []string
}

// The configurations of the scale section. Each baseline differs from the
// product by one flag of the memhpabench build; cfgShards is the product as
// shardReplicas processes with --shards, at the largest point.
var (
	cfgProduct   = scaleConfig{name: "memhpa", args: []string{"--prometheus-query-mode=batched", "--scale-read-mode=cache"}}
	cfgPerMemHpa = scaleConfig{name: "per-memhpa", args: []string{"--prometheus-query-mode=per-memhpa", "--scale-read-mode=cache"}}
	cfgGetScale  = scaleConfig{name: "get-scale", args: []string{"--prometheus-query-mode=batched", "--scale-read-mode=get"}}
)

const (
	cfgShards     = "shards"
	shardReplicas = 2
)

// scaleRun is what one scaler run measured over scaleCycles cycles.
type scaleRun struct {
	config   string
	memhpas  int
	cycles   []float64 // seconds per cycle
	queries  []float64 // Prometheus queries per cycle
	requests []float64 // apiserver requests of the scaler per cycle
	cpu      []float64 // scaler CPU seconds per cycle
	gets     []float64 // GETs of /scale the apiserver served per cycle
	prom     []promCost
	rss      float64 // the scaler's resident bytes after the last cycle
	decided  float64 // MemHpas with a desired-replicas series after the last cycle
	verbs    map[string]float64
	overruns float64
}

// scaleStep is the creation of the workloads of one point.
type scaleStep struct {
	memhpas, pods, created int
	took                   time.Duration
}

// scalePods is how many pods n MemHpas' Deployments have.
func scalePods(n, compare int) int {
	return scaleReplicas*min(n, compare) + max(0, n-compare)
}

// parseScalePoints parses -scale-points: ascending, distinct, positive.
func parseScalePoints(s string) ([]int, error) {
	var points []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q must be a positive number of MemHpas", f)
		}
		if len(points) > 0 && n <= points[len(points)-1] {
			return nil, fmt.Errorf("%d must be larger than %d: points ascend", n, points[len(points)-1])
		}
		points = append(points, n)
	}
	return points, nil
}

// benchScale measures full cycles of the scaler at each point of
// -scale-points; at the comparison point it alternates the product with the
// per-MemHpa query baseline and the GET /scale baseline.
func benchScale(ctx context.Context, o options, p *page) (err error) {
	if !slices.Contains(o.scalePoints, o.scaleCompare) {
		return fmt.Errorf("-scale-compare=%d must be one of -scale-points %v", o.scaleCompare, o.scalePoints)
	}
	dir, err := os.MkdirTemp("", "memhpa-bench-scale-")
	if err != nil {
		return err
	}
	// The control plane's logs are kept when the section fails.
	defer func() {
		if err == nil {
			os.RemoveAll(dir)
		}
	}()
	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	bin, err := benchScalerBinary(ctx, root, dir)
	if err != nil {
		return err
	}
	// The harness starts $MEMHPA_SCALER_BIN: the bench's build, in this
	// section only.
	defer os.Setenv("MEMHPA_SCALER_BIN", os.Getenv("MEMHPA_SCALER_BIN"))
	if err := os.Setenv("MEMHPA_SCALER_BIN", bin); err != nil {
		return err
	}
	largest := o.scalePoints[len(o.scalePoints)-1]
	// The controller-manager's and scheduler's default 20 and 50 QPS would
	// take minutes over thousands of pods; every node keeps a loopback IP.
	fast := []string{"--kube-api-qps=1000", "--kube-api-burst=2000"}
	env, err := harness.Start(ctx, harness.Options{
		Dir: dir, Nodes: scaleNodes, ScrapeInterval: 15 * time.Second,
		NodePods:              max(scaleNodePods, scalePods(largest, o.scaleCompare)*11/10/scaleNodes),
		ControllerManagerArgs: append(fast, "--concurrent-replicaset-syncs=50", "--concurrent-deployment-syncs=50"),
		SchedulerArgs:         fast,
	})
	if err != nil {
		return fmt.Errorf("start the local control plane: %w", err)
	}
	defer func() {
		if err := env.Stop(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "memhpa-bench: stop:", err)
		}
	}()
	cfg, err := env.RESTConfig()
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 2000, 4000
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	client, err := versioned.NewForConfig(cfg)
	if err != nil {
		return err
	}
	for i := range scaleNamespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: scaleNamespace(i)}}
		if _, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create namespace: %w", err)
		}
	}

	var (
		runs     []scaleRun
		steps    []scaleStep
		profiles = map[int]string{} // by point: the comparison's and the largest
		created  int
	)
	for _, n := range o.scalePoints {
		start := time.Now()
		if err := createScaleWorkloads(ctx, env, kube, client, created, n, o.scaleCompare); err != nil {
			return err
		}
		if err := waitScaleSamples(ctx, env, scalePods(n, o.scaleCompare)); err != nil {
			return err
		}
		steps = append(steps, scaleStep{memhpas: n, pods: scalePods(n, o.scaleCompare), created: n - created, took: time.Since(start)})
		env.Logf("[bench] scale: %d MemHpas (%d new) ready in %s", n, n-created, time.Since(start).Round(time.Second))
		created = n

		configs := []scaleConfig{cfgProduct}
		if n == o.scaleCompare {
			configs = []scaleConfig{cfgProduct, cfgPerMemHpa, cfgGetScale}
		}
		if n == largest {
			configs = append(configs, scaleConfig{name: cfgShards})
		}
		for i := range o.runs {
			// Each configuration takes each place in the order once in
			// len(configs) runs.
			order := append(slices.Clone(configs[i%len(configs):]), configs[:i%len(configs)]...)
			for _, c := range order {
				if c.name == cfgShards {
					rs, err := measureShards(ctx, env, n, o.scalePeriod, i)
					if err != nil {
						return fmt.Errorf("%d MemHpas, %d sharded scalers, run %d: %w", n, shardReplicas, i+1, err)
					}
					for j, r := range rs {
						env.Logf("[bench] scale %d %s run %d scaler %d: %.0f MemHpas, cycles %s, scaler CPU %s per cycle",
							n, c.name, i+1, j, r.decided, durations(r.cycles), durations(r.cpu))
					}
					runs = append(runs, rs...)
					continue
				}
				wantProfile := c.name == cfgProduct.name && (n == o.scaleCompare || n == largest) && i == o.runs-1
				r, prof, err := measureScaler(ctx, env, kube, c, n, o.scalePeriod, wantProfile)
				if err != nil {
					return fmt.Errorf("%d MemHpas, %s run %d: %w", n, c.name, i+1, err)
				}
				if prof != "" {
					profiles[n] = prof
				}
				env.Logf("[bench] scale %d %s run %d: cycles %s, scaler CPU %s, queries %s, apiserver requests %s, /scale GETs %s per cycle",
					n, c.name, i+1, durations(r.cycles), durations(r.cpu), floats2(r.queries), floats2(r.requests), floats2(r.gets))
				runs = append(runs, r)
			}
		}
	}
	p.add(scaleSection(runs, steps, o, profiles))
	return nil
}

func scaleNamespace(i int) string { return fmt.Sprintf("scale-%d", i) }

// createScaleWorkloads creates the Deployments from..to-1 (scaleReplicas
// pods each below compare, one beyond), their pods reporting 60Mi of a
// 100Mi limit, and a MemHpa for each with a 60 % target: at their target,
// so nothing scales and every cycle after the first is the steady state (no
// writes). It waits until every pod is ready.
func createScaleWorkloads(ctx context.Context, env *harness.Env, kube kubernetes.Interface, client versioned.Interface, from, to, compare int) error {
	env.Logf("[bench] Creating Deployments and MemHpas %d to %d in %d namespaces", from, to-1, scaleNamespaces)
	// Why 64 workers: one create is a few milliseconds of apiserver and etcd
	// time, and the round trip waits more than it works.
	err := parallel(ctx, to-from, 64, func(ctx context.Context, j int) error {
		i := from + j
		ns, name := scaleNamespace(i%scaleNamespaces), fmt.Sprintf("app-%04d", i/scaleNamespaces)
		replicas := int32(1)
		if i < compare {
			replicas = scaleReplicas
		}
		if _, err := kube.AppsV1().Deployments(ns).Create(ctx, scaleWorkload(ns, name, replicas).Deployment(), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create Deployment %s/%s: %w", ns, name, err)
		}
		h := &v1alpha1.MemHpa{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: v1alpha1.MemHpaSpec{
				ScaleTargetRef: v1alpha1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
				MinReplicas:    ptr.To[int32](1), MaxReplicas: 10, TargetUtilizationPercentage: ptr.To[int32](60),
			},
		}
		if _, err := client.AutoscalingV1alpha1().MemHpas(ns).Create(ctx, h, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create MemHpa %s/%s: %w", ns, name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	want := int32(scalePods(to, compare))
	// Minutes on a busy machine: the ReplicaSet controller, the scheduler
	// and kwok share its cores. ReplicaSets' status is the freshest count.
	err = harness.Poll(ctx, 60*time.Minute, 5*time.Second, func(ctx context.Context) (bool, error) {
		list, err := kube.AppsV1().ReplicaSets("").List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			return false, err
		}
		var ready int32
		for _, rs := range list.Items {
			ready += rs.Status.ReadyReplicas
		}
		env.Logf("[bench] %d of %d pods ready", ready, want)
		return ready >= want, nil
	})
	if err != nil {
		return fmt.Errorf("wait for %d pods: %w", want, err)
	}
	return nil
}

// scaleWorkload is one of the scale bench's Deployments: kwok pods with a
// 100Mi memory limit, each reporting 60Mi.
func scaleWorkload(ns, name string, replicas int32) harness.Workload {
	return harness.Workload{Namespace: ns, Name: name, Replicas: replicas, Memory: "60Mi",
		Containers: []harness.WorkloadContainer{{Name: "app", MemoryLimit: "100Mi"}}}
}

// waitScaleSamples waits until Prometheus has a working set for every pod.
func waitScaleSamples(ctx context.Context, env *harness.Env, pods int) error {
	q := fmt.Sprintf(`count(sum by (namespace, pod) (%s{namespace=~"scale-.*", container!="", container!="POD"}))`, scaleQueryMetric)
	want := float64(pods)
	err := harness.Poll(ctx, 5*time.Minute, 2*time.Second, func(ctx context.Context) (bool, error) {
		s, err := env.PromQuery(ctx, q)
		if err != nil || len(s) == 0 {
			return false, err
		}
		env.Logf("[bench] Prometheus has samples of %.0f of %.0f pods", s[0].Value, want)
		return s[0].Value >= want, nil
	})
	if err != nil {
		return fmt.Errorf("wait for Prometheus samples of %.0f pods: %w", want, err)
	}
	return nil
}

// parallel runs fn(0..n-1) on workers goroutines and returns the first error.
func parallel(ctx context.Context, n, workers int, fn func(context.Context, int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := fn(ctx, i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
						cancel()
					}
					mu.Unlock()
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}

// scalePollInterval is how often measureScaler reads the scaler's /metrics:
// scaleReadsPerPeriod times per sync period.
func scalePollInterval(period time.Duration) time.Duration {
	return max(period/scaleReadsPerPeriod, 100*time.Millisecond)
}

// measureScaler runs the scaler in one configuration and reads its /metrics
// until scaleCycles cycles after the first (warm-up) one have ended. The
// per-cycle counts are the differences between two cycle ends, so they hold
// everything the scaler did in one sync period; at each cycle end it also
// reads Prometheus's /metrics and the apiserver's. With profile, it also
// takes a CPU profile over one sync period and returns its top functions.
func measureScaler(ctx context.Context, env *harness.Env, kube kubernetes.Interface, c scaleConfig, memhpas int, period time.Duration, profile bool) (scaleRun, string, error) {
	name := "scaler-scale"
	args := append([]string{"--sync-period=" + period.String()}, c.args...)
	if profile {
		args = append(args, "--profiling")
	}
	if err := env.StartScalerNamed(ctx, name, args...); err != nil {
		return scaleRun{}, "", err
	}
	defer func() { _ = env.StopComponent(context.Background(), harness.Component(name)) }()
	base := env.ScalerHealthURL(name)
	m := newCycleMeter(c.name, memhpas)
	var (
		prevProm promCost
		prevGets float64
	)
	// Why a fifth of the period: each read of /metrics costs the scaler CPU
	// that grows with its MemHpas' series, and the reads are in its CPU per
	// cycle; between two cycles it idles, so a late read loses nothing.
	err := harness.Poll(ctx, scaleTimeout(memhpas, period), scalePollInterval(period), func(ctx context.Context) (bool, error) {
		s, err := scrape(ctx, base+"/metrics")
		if err != nil || !m.ended(s) {
			return false, err
		}
		// A cycle has ended: the scaler idles until the next resync, so
		// Prometheus's and the apiserver's counters read now hold all of
		// that cycle's work.
		pc, err := scrapeProm(ctx, env.PrometheusURL)
		if err != nil {
			return false, err
		}
		gets, err := scrapeScaleGETs(ctx, kube)
		if err != nil {
			return false, err
		}
		if n := m.add(s); n > 0 {
			d := pc.minus(prevProm)
			m.run.gets = append(m.run.gets, (gets-prevGets)/n)
			m.run.prom = append(m.run.prom, promCost{engine: d.engine / n, inner: d.inner / n, api: d.api / n, cpu: d.cpu / n})
		}
		prevProm, prevGets = pc, gets
		return m.done(), nil
	})
	if err != nil {
		return m.run, "", fmt.Errorf("read %d cycles from the scaler's /metrics: %w", scaleCycles, err)
	}
	if !profile {
		return m.run, "", nil
	}
	top, err := cpuProfile(ctx, base, period)
	if err != nil {
		top = "profile failed: " + err.Error()
	}
	return m.run, top, nil
}

// scaleTimeout is how long measuring scaleCycles cycles after a warm-up one
// may take. Why the allowance per MemHpa: the first cycle writes every status
// and a cycle at 10,000 MemHpas takes tens of seconds.
func scaleTimeout(memhpas int, period time.Duration) time.Duration {
	return time.Duration(scaleCycles+3)*period + 3*time.Minute + time.Duration(memhpas)*20*time.Millisecond
}

// cycleMeter turns successive reads of one scaler's /metrics into a run:
// the per-cycle figures are the differences between two cycle ends, so they
// hold everything the scaler did in one sync period.
type cycleMeter struct {
	run         scaleRun
	prev, first *snapshot
}

func newCycleMeter(config string, memhpas int) *cycleMeter {
	return &cycleMeter{run: scaleRun{config: config, memhpas: memhpas, verbs: map[string]float64{}}}
}

// ended reports whether s was read after a cycle end that m has not seen.
func (m *cycleMeter) ended(s snapshot) bool {
	return s.cycles > 0 && (m.prev == nil || s.cycles != m.prev.cycles)
}

// add takes a read for which ended held and returns the number of cycles
// since the previous end, 0 for the first end seen (the warm-up cycle's).
func (m *cycleMeter) add(s snapshot) float64 {
	if m.prev == nil {
		m.prev, m.first = &s, &s
		return 0
	}
	r, prev := &m.run, m.prev
	n := s.cycles - prev.cycles
	r.cycles = append(r.cycles, (s.cycleSeconds-prev.cycleSeconds)/n)
	r.queries = append(r.queries, (s.queries-prev.queries)/n)
	r.requests = append(r.requests, (s.requests-prev.requests)/n)
	r.cpu = append(r.cpu, (s.cpu-prev.cpu)/n)
	m.prev = &s
	if m.done() {
		all := s.cycles - m.first.cycles
		for v, c := range s.verbs {
			r.verbs[v] = (c - m.first.verbs[v]) / all
		}
		r.overruns = s.overruns - m.first.overruns
		r.rss, r.decided = s.rss, s.decided
	}
	return n
}

// done reports whether m holds scaleCycles cycles.
func (m *cycleMeter) done() bool { return len(m.run.cycles) >= scaleCycles }

// measureShards runs the product as shardReplicas scaler processes that split
// the MemHpas into as many shards (--shards, one Lease each, as the chart's
// replicas would) and, once each leads one shard, reads each one's own
// cycles as measureScaler does. It returns a run per scaler.
func measureShards(ctx context.Context, env *harness.Env, memhpas int, period time.Duration, run int) ([]scaleRun, error) {
	// Fresh Leases each run: a former run's released ones would do, but a
	// fresh name makes the split independent of what was there.
	id := fmt.Sprintf("memhpa-bench-shards-%d", run)
	names := make([]string, shardReplicas)
	for i := range names {
		names[i] = fmt.Sprintf("scaler-shard-%d", i)
		// Why a 10 s retry period: a replica waits one retry period per
		// Lease it holds before it campaigns for another, so the first
		// replica, started while the second's caches still sync, leaves
		// it a shard.
		args := append([]string{"--sync-period=" + period.String(), "--shards=" + strconv.Itoa(shardReplicas),
			"--leader-elect=true", "--leader-election-namespace=default", "--leader-election-id=" + id,
			"--leader-election-lease-duration=40s", "--leader-election-renew-deadline=30s", "--leader-election-retry-period=10s"},
			cfgProduct.args...)
		if err := env.StartScalerNamed(ctx, names[i], args...); err != nil {
			return nil, err
		}
		defer func() { _ = env.StopComponent(context.Background(), harness.Component(names[i])) }()
	}
	meters := make([]*cycleMeter, len(names))
	for i := range meters {
		meters[i] = newCycleMeter(cfgShards, memhpas)
	}
	led := make([][]int, len(names)) // at the last read, for the error
	err := harness.Poll(ctx, scaleTimeout(memhpas, period), scalePollInterval(period), func(ctx context.Context) (bool, error) {
		done := true
		for i, m := range meters {
			if m.done() {
				continue
			}
			done = false
			s, err := scrape(ctx, env.ScalerHealthURL(names[i])+"/metrics")
			if err != nil {
				return false, err
			}
			led[i] = s.shards
			if len(s.shards) != 1 {
				// Not yet one shard each: cycles of a replica that leads
				// none, or both, are not the split being measured.
				*m = *newCycleMeter(cfgShards, memhpas)
				continue
			}
			if m.ended(s) {
				m.add(s)
			}
		}
		return done, nil
	})
	runs := make([]scaleRun, len(meters))
	for i, m := range meters {
		runs[i] = m.run
	}
	if err != nil {
		return runs, fmt.Errorf("read %d cycles from each of %d sharded scalers' /metrics (shards led at the last read: %v): %w", scaleCycles, len(names), led, err)
	}
	if total := runs[0].decided + runs[1].decided; int(total) != memhpas {
		return runs, fmt.Errorf("the %d sharded scalers decided on %.0f and %.0f MemHpas, together %.0f, want each of the %d once",
			len(names), runs[0].decided, runs[1].decided, total, memhpas)
	}
	return runs, nil
}

// cpuProfile takes a CPU profile of the scaler over one sync period (so it
// holds one cycle) and returns `go tool pprof -top` of it.
func cpuProfile(ctx context.Context, base string, period time.Duration) (string, error) {
	secs := int(period.Seconds())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, secs), nil)
	if err != nil {
		return "", err
	}
	resp, err := (&http.Client{Timeout: period + time.Minute}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET profile: %s", resp.Status)
	}
	f, err := os.CreateTemp("", "memhpa-scaler-*.pprof")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if _, err := f.ReadFrom(resp.Body); err != nil {
		f.Close()
		return "", err
	}
	f.Close()
	bin := os.Getenv("MEMHPA_SCALER_BIN")
	args := []string{"tool", "pprof", "-top", "-nodecount=12"}
	if bin != "" {
		args = append(args, bin)
	}
	out, err := exec.CommandContext(ctx, "go", append(args, f.Name())...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("go tool pprof: %w: %s", err, ee.Stderr)
		}
		return "", fmt.Errorf("go tool pprof: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}
