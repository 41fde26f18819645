package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	corev1 "k8s.io/api/core/v1"

	"github.com/memhpa/memhpa/test/bench"
)

// podCachePods is the number of pods BenchmarkPodCache caches.
const podCachePods = 10000

// benchMemory runs the scaler module's BenchmarkPodCache (an informer over
// 10,000 realistic pods with the scaler's transform, and the same informer
// without it, alternately in one process) and reports the heap each holds,
// with a heap profile of the transformed cache: where its bytes go. In the
// same command, BenchmarkScalerRSS measures the resident memory of whole
// processes that cache the pods through client-go from a stand-in apiserver.
func benchMemory(ctx context.Context, root string, o options, p *page) error {
	profDir, err := os.MkdirTemp("", "memhpa-bench-heap-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(profDir)
	scaler := filepath.Join(root, "scaler")
	// -memprofilerate 512: a fine heap profile; its bookkeeping is not heap,
	// so the measured figures do not change.
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "^(BenchmarkPodCache|BenchmarkScalerRSS)$",
		"-benchtime", "1x", "-count", strconv.Itoa(o.runs), "-memprofilerate", "512", "./internal/benchmem",
		"-args", "-cacheprofile", profDir)
	cmd.Dir = scaler
	cmd.Stderr = os.Stderr
	fmt.Fprintln(os.Stderr, "[bench] go test -bench BenchmarkPodCache|BenchmarkScalerRSS (scaler/internal/benchmem)")
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("go test -bench: %w\n%s", err, out)
	}
	m := benchMetrics(string(out), "BenchmarkPodCache")
	plain, slim, ratio := m["MiB-plain"], m["MiB-transformed"], m["ratio"]
	if len(ratio) == 0 || len(plain) == 0 || len(slim) == 0 {
		return fmt.Errorf("no BenchmarkPodCache figures in:\n%s", out)
	}
	r, s, pl := bench.Median(ratio), bench.Median(slim), bench.Median(plain)
	slimPerPod, plainPerPod := s*(1<<20)/podCachePods, pl*(1<<20)/podCachePods
	top, err := heapTop(ctx, scaler, filepath.Join(profDir, "base.pb.gz"), filepath.Join(profDir, "transformed.pb.gz"), 6)
	if err != nil {
		return err
	}

	var b strings.Builder
	fmt.Fprintf(&b, "## 4. Memory: the scaler's pod cache with 10,000 pods\n\n")
	fmt.Fprintf(&b, "A client-go SharedIndexInformer over 10,000 realistic pods (two containers, env, probes, volumes, "+
		"managed fields, full status), with the scaler's transform (`controller.TransformPod`) and, as the baseline, the same "+
		"informer without it; live heap after GC, measured alternately in one process (scaler/internal/benchmem). "+
		"This is the part of the scaler's resident memory that grows with the cluster; the Go runtime and the rest of the "+
		"process add a constant.\n\n")
	fmt.Fprintf(&b, "| figure | with transform | without (baseline) | ratio / goal |\n|---|---|---|---|\n")
	fmt.Fprintf(&b, "| heap held by the pod cache | %.1f MiB | %.1f MiB | %.2f; goal ≤ 0.5 and ≤ 100 MiB: %s |\n",
		s, pl, r, verdict(r <= 0.5 && s <= 100))
	fmt.Fprintf(&b, "| per pod | %.0f B | %.0f B | |\n\n", slimPerPod, plainPerPod)
	fmt.Fprintf(&b, "Per run (MiB with / without): %s / %s.\n\n", floats2(slim), floats2(plain))
	if miss := missedBy(r, s, pl); miss != "" {
		fmt.Fprintf(&b, "Missed by %s.\n\n", miss)
	}
	fmt.Fprintf(&b, "Where the transformed cache's bytes go: heap profile of the last run (`go tool pprof -sample_index=inuse_space "+
		"-diff_base` of the heap before the informer started and once it was synced), by allocating function, of the top %d "+
		"those holding at least 0.5 %% of it:\n\n", len(top))
	fmt.Fprintf(&b, "| function | MiB | bytes per pod | share of the cache |\n|---|---|---|---|\n")
	for _, e := range top {
		if e.bytes < 0.005*s*(1<<20) { // under half a percent: noise of the sampled profile
			continue
		}
		fmt.Fprintf(&b, "| `%s` | %.1f | %.0f | %.0f %% |\n", e.name, e.bytes/(1<<20), e.bytes/podCachePods, 100*e.bytes/(s*(1<<20)))
	}
	fmt.Fprintf(&b, "\nWhat stays is what the decision reads, in the types the listers hand out: the `corev1.Pod` struct "+
		"alone is %d bytes and a `corev1.Container` %d bytes even when nearly empty. Pods share what they have in common: "+
		"one memory ResourceList per distinct value, and one slimmed container list and one label set per ReplicaSet "+
		"(here 5 pods each).\n",
		unsafe.Sizeof(corev1.Pod{}), unsafe.Sizeof(corev1.Container{}))
	rss, err := rssSection(string(out))
	if err != nil {
		return err
	}
	b.WriteString(rss)
	p.add(b.String())
	return nil
}

// rssVariants are BenchmarkScalerRSS's processes, in the order of the table.
var rssVariants = []struct{ name, label string }{
	{"idle", "idle (the same binary, no informer)"},
	{"json-plain", "JSON, no transform (**baseline**)"},
	{"json-transform", "JSON, transform (**the scaler today**)"},
	{"protobuf-plain", "protobuf, no transform"},
	{"protobuf-transform", "protobuf, transform"},
	{"protobuf-transform-gomemlimit", "protobuf, transform, GOMEMLIMIT=48MiB"},
	{"json-transform-list", "JSON, transform, apiserver without WatchList (one list)"},
}

// rssSection reports BenchmarkScalerRSS: resident memory of whole processes.
func rssSection(out string) (string, error) {
	m := benchMetrics(out, "BenchmarkScalerRSS")
	med := func(kind, variant string) (float64, error) {
		xs := m["MiB-"+kind+"-"+variant]
		if len(xs) == 0 {
			return 0, fmt.Errorf("no BenchmarkScalerRSS %s figure for %s in:\n%s", kind, variant, out)
		}
		return bench.Median(xs), nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n### Resident memory of a process caching the pods\n\n")
	fmt.Fprintf(&b, "Each row is a fresh process (the benchmem test binary, which links client-go like the scaler) that starts "+
		"a client-go pod informer against a stand-in apiserver on loopback serving the same 10,000 pods, as a 1.37 apiserver "+
		"would: a watch-list stream (WatchList is on by default in client-go and the apiserver), JSON or protobuf as asked. "+
		"The rows run alternately, %d times; medians. Peak is VmHWM, RSS is VmRSS once synced after a GC, heap is live heap then.\n\n",
		len(m["MiB-rss-idle"]))
	fmt.Fprintf(&b, "| process | peak RSS | RSS once synced | live heap |\n|---|---|---|---|\n")
	for _, v := range rssVariants {
		peak, err := med("peak", v.name)
		if err != nil {
			return "", err
		}
		rss, _ := med("rss", v.name)
		heap, _ := med("heap", v.name)
		fmt.Fprintf(&b, "| %s | %.1f MiB | %.1f MiB | %.1f MiB |\n", v.label, peak, rss, heap)
	}
	slim, err := med("rss", "json-transform")
	if err != nil {
		return "", err
	}
	plain, _ := med("rss", "json-plain")
	r := slim / plain
	fmt.Fprintf(&b, "\nThe scaler's resident memory with 10,000 pods cached: %.1f MiB, %.2f of the same informer without the transform "+
		"(%.1f MiB); goal ≤ 0.5 and ≤ 100 MiB: %s.", slim, r, plain, verdict(r <= 0.5 && slim <= 100))
	if r > 0.5 || slim > 100 {
		fmt.Fprintf(&b, " Missed by %s: resident memory is the binary and runtime (the idle row) plus a heap the GC lets grow "+
			"to twice the live heap (GOGC=100), so the ratio cannot fall below the idle row's share; a GOMEMLIMIT bounds the growth.",
			missedBy(r, slim, plain))
	}
	b.WriteString("\n")
	return b.String(), nil
}

// missedBy says how far the figures are from the goal (≤ 0.5 of the baseline
// and ≤ 100 MiB), empty when it is met.
func missedBy(ratio, slimMiB, plainMiB float64) string {
	var parts []string
	if ratio > 0.5 {
		parts = append(parts, fmt.Sprintf("%.2f of the baseline over 0.5 (%.1f MiB, %.0f bytes a pod, too many)",
			ratio-0.5, slimMiB-plainMiB/2, (slimMiB-plainMiB/2)*(1<<20)/podCachePods))
	}
	if slimMiB > 100 {
		parts = append(parts, fmt.Sprintf("%.1f MiB over 100 MiB", slimMiB-100))
	}
	return strings.Join(parts, "; ")
}

// benchMetrics collects, by unit, the custom metrics of the named benchmark
// in `go test -bench` output, one value per run.
func benchMetrics(out, name string) map[string][]float64 {
	m := map[string][]float64{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || !strings.HasPrefix(f[0], name) {
			continue
		}
		for i := 1; i+1 < len(f); i++ {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				m[f[i+1]] = append(m[f[i+1]], v)
			}
		}
	}
	return m
}

type heapEntry struct {
	name  string
	bytes float64
}

// heapTop runs `go tool pprof -top` on the difference of two heap profiles
// and returns the n functions holding the most bytes (flat).
func heapTop(ctx context.Context, dir, base, profile string, n int) ([]heapEntry, error) {
	cmd := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-unit=B", "-nodecount="+strconv.Itoa(n),
		"-sample_index=inuse_space", "-diff_base", base, profile)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof: %w", err)
	}
	top := parsePprofTop(string(out))
	if len(top) == 0 {
		return nil, fmt.Errorf("no rows in go tool pprof -top:\n%s", out)
	}
	return top, nil
}

// parsePprofTop reads the rows of `pprof -top -unit=B`: flat, flat%, sum%,
// cum, cum%, then the function name (which may contain spaces).
func parsePprofTop(out string) []heapEntry {
	var top []heapEntry
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || !strings.HasSuffix(f[0], "B") || !strings.HasSuffix(f[1], "%") {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSuffix(f[0], "B"), 64)
		if err != nil || v <= 0 {
			continue
		}
		top = append(top, heapEntry{name: strings.Join(f[5:], " "), bytes: v})
	}
	return top
}

func floats2(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.1f", x)
	}
	return strings.Join(parts, ", ")
}
