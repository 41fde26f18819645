package main

import (
	"bufio"
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

	"github.com/memhpa/memhpa/test/bench"
	"github.com/memhpa/memhpa/test/harness"
	"github.com/memhpa/memhpa/webhook/pkg/apis/autoscaling/v1alpha1"
	"github.com/memhpa/memhpa/webhook/pkg/generated/clientset/versioned"
)

// The scale of figure 2: 1,000 MemHpas over 5,000 pods in 10 namespaces, on
// 10 fake nodes of 600 pods each.
const (
	scaleNamespaces  = 10
	scaleWorkloads   = 1000
	scaleReplicas    = 5
	scaleNodes       = 10
	scaleNodePods    = 600
	scaleCycles      = 3 // measured per run, after a first warm-up cycle
	scaleQueryMetric = "container_memory_working_set_bytes"
)

// The scaler's two query modes: the product's and the benchmark's baseline.
const (
	modeBatched   = "batched"
	modePerMemHpa = "per-memhpa"
)

// scaleRun is what one scaler run measured over scaleCycles cycles.
type scaleRun struct {
	mode     string
	cycles   []float64 // seconds per cycle
	queries  []float64 // Prometheus queries per cycle
	requests []float64 // apiserver requests per cycle
	cpu      []float64 // scaler CPU seconds per cycle
	verbs    map[string]float64
	overruns float64
}

// benchScale measures one full cycle of the scaler over 1,000 MemHpas and
// 5,000 kwok pods with real Prometheus, with its one batched query per cycle
// and, as the baseline, with one query per MemHpa, alternating.
func benchScale(ctx context.Context, o options, p *page) (err error) {
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
	// The controller-manager's and scheduler's default 20 and 50 QPS would
	// take minutes over 5,000 pods; every node keeps a loopback IP.
	fast := []string{"--kube-api-qps=500", "--kube-api-burst=1000"}
	env, err := harness.Start(ctx, harness.Options{
		Dir: dir, Nodes: scaleNodes, NodePods: scaleNodePods, ScrapeInterval: 15 * time.Second,
		ControllerManagerArgs: append(fast, "--concurrent-replicaset-syncs=20", "--concurrent-deployment-syncs=20"),
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
	setupStart := time.Now()
	if err := createScaleWorkloads(ctx, env); err != nil {
		return err
	}
	if err := waitScaleSamples(ctx, env); err != nil {
		return err
	}
	setup := time.Since(setupStart)

	var runs []scaleRun
	profile := ""
	for i := range o.runs {
		modes := []string{modeBatched, modePerMemHpa}
		if i%2 == 1 {
			slices.Reverse(modes)
		}
		for _, mode := range modes {
			wantProfile := mode == modeBatched && i == o.runs-1
			r, prof, err := measureScaler(ctx, env, mode, o.scalePeriod, wantProfile)
			if err != nil {
				return fmt.Errorf("%s run %d: %w", mode, i+1, err)
			}
			if prof != "" {
				profile = prof
			}
			env.Logf("[bench] scale %s run %d: cycles %s s, queries %s, apiserver requests %s per cycle",
				mode, i+1, floats2(r.cycles), floats2(r.queries), floats2(r.requests))
			runs = append(runs, r)
		}
	}
	p.add(scaleSection(runs, o, setup, profile))
	return nil
}

func scaleNamespace(i int) string { return fmt.Sprintf("scale-%d", i) }

// createScaleWorkloads creates the namespaces, 1,000 Deployments of 5
// replicas with a 100Mi memory limit whose pods kwok reports at 60Mi, and a
// MemHpa for each, with a 60 % target: at their target, so nothing scales
// and every cycle after the first is the steady state (no writes).
func createScaleWorkloads(ctx context.Context, env *harness.Env) error {
	cfg, err := env.RESTConfig()
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 500, 1000
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
	env.Logf("[bench] Creating %d Deployments × %d replicas and %d MemHpas in %d namespaces", scaleWorkloads, scaleReplicas, scaleWorkloads, scaleNamespaces)
	err = parallel(ctx, scaleWorkloads, 20, func(ctx context.Context, i int) error {
		ns, name := scaleNamespace(i%scaleNamespaces), fmt.Sprintf("app-%03d", i/scaleNamespaces)
		if _, err := kube.AppsV1().Deployments(ns).Create(ctx, scaleWorkload(ns, name).Deployment(), metav1.CreateOptions{}); err != nil {
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
	want := int32(scaleWorkloads * scaleReplicas)
	// Minutes on a busy machine: the ReplicaSet controller, the scheduler
	// and kwok share its cores. ReplicaSets' status is the freshest count.
	err = harness.Poll(ctx, 30*time.Minute, 10*time.Second, func(ctx context.Context) (bool, error) {
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

// scaleWorkload is one of the scale bench's Deployments: scaleReplicas kwok
// pods with a 100Mi memory limit, each reporting 60Mi.
func scaleWorkload(ns, name string) harness.Workload {
	return harness.Workload{Namespace: ns, Name: name, Replicas: scaleReplicas, Memory: "60Mi",
		Containers: []harness.WorkloadContainer{{Name: "app", MemoryLimit: "100Mi"}}}
}

// waitScaleSamples waits until Prometheus has a working set for every pod.
func waitScaleSamples(ctx context.Context, env *harness.Env) error {
	q := fmt.Sprintf(`count(sum by (namespace, pod) (%s{namespace=~"scale-.*", container!="", container!="POD"}))`, scaleQueryMetric)
	want := float64(scaleWorkloads * scaleReplicas)
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

// snapshot is what one read of the scaler's /metrics says.
type snapshot struct {
	cycles, cycleSeconds, queries, requests, cpu, overruns float64
	verbs                                                  map[string]float64
}

// measureScaler runs the scaler in one query mode and reads its /metrics
// until scaleCycles cycles after the first (warm-up) one have ended. The
// per-cycle counts are the differences between two cycle ends, so they hold
// everything the scaler did in one sync period. With profile, it also takes a
// CPU profile over one sync period and returns its top functions.
func measureScaler(ctx context.Context, env *harness.Env, mode string, period time.Duration, profile bool) (scaleRun, string, error) {
	name := "scaler-scale"
	args := []string{"--sync-period=" + period.String(), "--prometheus-query-mode=" + mode}
	if profile {
		args = append(args, "--profiling")
	}
	if err := env.StartScalerNamed(ctx, name, args...); err != nil {
		return scaleRun{}, "", err
	}
	defer func() { _ = env.StopComponent(context.Background(), harness.Component(name)) }()
	base := env.ScalerHealthURL(name)
	r := scaleRun{mode: mode, verbs: map[string]float64{}}
	var prev *snapshot
	var first snapshot
	err := harness.Poll(ctx, time.Duration(scaleCycles+3)*period+3*time.Minute, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		s, err := scrape(ctx, base+"/metrics")
		if err != nil || s.cycles == 0 {
			return false, err
		}
		if prev == nil {
			prev, first = &s, s
			return false, nil
		}
		if n := s.cycles - prev.cycles; n > 0 {
			r.cycles = append(r.cycles, (s.cycleSeconds-prev.cycleSeconds)/n)
			r.queries = append(r.queries, (s.queries-prev.queries)/n)
			r.requests = append(r.requests, (s.requests-prev.requests)/n)
			r.cpu = append(r.cpu, (s.cpu-prev.cpu)/n)
			prev = &s
		}
		if len(r.cycles) < scaleCycles {
			return false, nil
		}
		n := s.cycles - first.cycles
		for v, c := range s.verbs {
			r.verbs[v] = (c - first.verbs[v]) / n
		}
		r.overruns = s.overruns - first.overruns
		return true, nil
	})
	if err != nil {
		return r, "", fmt.Errorf("read %d cycles from the scaler's /metrics: %w", scaleCycles, err)
	}
	if !profile {
		return r, "", nil
	}
	top, err := cpuProfile(ctx, base, period)
	if err != nil {
		top = "profile failed: " + err.Error()
	}
	return r, top, nil
}

// scrape reads the figures of a snapshot from a Prometheus text page.
func scrape(ctx context.Context, url string) (snapshot, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return snapshot{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return snapshot{}, err
	}
	defer resp.Body.Close()
	s := snapshot{verbs: map[string]float64{}}
	sc := bufio.NewScanner(resp.Body)
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
		series := line[:i]
		metric, labels, _ := strings.Cut(series, "{")
		switch metric {
		case "memhpa_scaler_cycle_duration_seconds_count":
			s.cycles = v
		case "memhpa_scaler_cycle_duration_seconds_sum":
			s.cycleSeconds = v
		case "memhpa_scaler_cycle_overruns_total":
			s.overruns = v
		case "memhpa_scaler_prometheus_query_duration_seconds_count":
			s.queries += v
		case "process_cpu_seconds_total":
			s.cpu = v
		case "memhpa_scaler_kube_requests_total":
			s.requests += v
			s.verbs[label(labels, "verb")] += v
		}
	}
	if err := sc.Err(); err != nil {
		return snapshot{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return snapshot{}, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return s, nil
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

// scaleSection writes section 2 of the page.
func scaleSection(runs []scaleRun, o options, setup time.Duration, profile string) string {
	pick := func(mode string, f func(scaleRun) []float64) (med float64, perRun []float64) {
		for _, r := range runs {
			if r.mode == mode {
				perRun = append(perRun, bench.Median(f(r)))
			}
		}
		return bench.Median(perRun), perRun
	}
	cycles := func(r scaleRun) []float64 { return r.cycles }
	queries := func(r scaleRun) []float64 { return r.queries }
	requests := func(r scaleRun) []float64 { return r.requests }
	cpu := func(r scaleRun) []float64 { return r.cpu }
	bc, bcRuns := pick(modeBatched, cycles)
	pc, pcRuns := pick(modePerMemHpa, cycles)
	bq, _ := pick(modeBatched, queries)
	pq, _ := pick(modePerMemHpa, queries)
	br, _ := pick(modeBatched, requests)
	pr, _ := pick(modePerMemHpa, requests)
	bcpu, _ := pick(modeBatched, cpu)
	pcpu, _ := pick(modePerMemHpa, cpu)
	ratio := pc / bc
	overruns := map[string]float64{}
	verbs := map[string]map[string][]float64{modeBatched: {}, modePerMemHpa: {}}
	for _, r := range runs {
		overruns[r.mode] += r.overruns
		for v, n := range r.verbs {
			verbs[r.mode][v] = append(verbs[r.mode][v], n)
		}
	}
	byVerb := func(mode string) string {
		var parts []string
		for v, ns := range verbs[mode] {
			if m := bench.Median(ns); m >= 0.5 {
				parts = append(parts, fmt.Sprintf("%s %.0f", v, m))
			}
		}
		slices.Sort(parts)
		return strings.Join(parts, ", ")
	}
	met := bc <= 2 && ratio >= 5 && bq <= scaleNamespaces

	var s strings.Builder
	fmt.Fprintf(&s, "## 2. Scaler at scale: one full cycle over 1,000 MemHpas\n\n")
	fmt.Fprintf(&s, "The local control plane with real Prometheus, %d kwok nodes (loopback IPs), %d Deployments × %d replicas "+
		"(%d pods, 100Mi memory limit, kwok reports 60Mi each) in %d namespaces, and a MemHpa for each Deployment at its "+
		"60 %% target, so nothing scales and a cycle is the steady state: read every target's /scale, query, decide, write nothing. "+
		"The scaler runs as its real binary with `--sync-period=%s` and its default client limits; a cycle is "+
		"`memhpa_scaler_cycle_duration_seconds`, from the resync that queues every MemHpa until the last of them is reconciled; "+
		"queries and apiserver requests are the differences of the scaler's own counters between two cycle ends "+
		"(everything it did in one sync period). Each run reads %d cycles after a first, warm-up one. Both modes run one binary, "+
		"the scaler built with the `memhpabench` tag; baseline: `--prometheus-query-mode=per-memhpa`, one query per MemHpa for its own pods "+
		"(a flag and code of that build only, not of the product), run alternately.\n\n",
		scaleNodes, scaleWorkloads, scaleReplicas, scaleWorkloads*scaleReplicas, scaleNamespaces, o.scalePeriod, scaleCycles)
	fmt.Fprintf(&s, "| figure | batched (memhpa) | per-MemHpa (baseline) | ratio / goal |\n|---|---|---|---|\n")
	fmt.Fprintf(&s, "| full cycle (median) | %.2f s | %.2f s | goal ≤ 2 s: %s |\n", bc, pc, verdict(bc <= 2))
	fmt.Fprintf(&s, "| speed-up of batched over per-MemHpa | | | %.1f×; goal ≥ 5×: %s |\n", ratio, verdict(ratio >= 5))
	fmt.Fprintf(&s, "| Prometheus queries per cycle | %.0f | %.0f | goal one (or one per namespace): %s |\n", bq, pq, verdict(bq <= scaleNamespaces))
	fmt.Fprintf(&s, "| apiserver requests per cycle | %.0f (%s) | %.0f (%s) | |\n", br, byVerb(modeBatched), pr, byVerb(modePerMemHpa))
	fmt.Fprintf(&s, "| scaler CPU per cycle | %.2f s | %.2f s | |\n\n", bcpu, pcpu)
	fmt.Fprintf(&s, "Per run (cycle, s): batched %s; per-MemHpa %s. Cycles longer than the sync period (overruns): batched %.0f, per-MemHpa %.0f. "+
		"Creating the workloads and waiting for every pod's sample took %s.\n",
		floats2(bcRuns), floats2(pcRuns), overruns[modeBatched], overruns[modePerMemHpa], setup.Round(time.Second))
	if !met {
		var missed []string
		if bc > 2 {
			missed = append(missed, fmt.Sprintf("cycle %.2f s, %.2f s over 2 s (%.1f× the goal)", bc, bc-2, bc/2))
		}
		if ratio < 5 {
			missed = append(missed, fmt.Sprintf("speed-up %.1f×, %.1f× short of 5×", ratio, 5-ratio))
		}
		if bq > scaleNamespaces {
			missed = append(missed, fmt.Sprintf("%.0f queries per cycle, more than one per namespace", bq))
		}
		fmt.Fprintf(&s, "\n**Missed by:** %s. Both modes make the same %.0f apiserver requests per cycle (a GET of each target's /scale, "+
			"as the HPA does) and walk the same pod lister; against a local Prometheus holding only these %d pods, a per-MemHpa "+
			"query costs a few milliseconds, so one query instead of %.0f saves Prometheus's work far more than the scaler's cycle time.\n",
			strings.Join(missed, "; "), br, scaleWorkloads*scaleReplicas, pq)
	}
	if !met && profile != "" {
		fmt.Fprintf(&s, "\nCPU profile of the batched scaler over one sync period (`--profiling`, `go tool pprof -top`):\n\n```\n%s\n```\n", profile)
	}
	return s.String()
}
