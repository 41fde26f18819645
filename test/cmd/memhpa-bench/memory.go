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

	"github.com/memhpa/memhpa/test/bench"
)

// benchMemory runs the scaler module's BenchmarkPodCache (an informer over
// 10,000 realistic pods with the scaler's transform, and the same informer
// without it, alternately in one process) and reports the heap each holds.
func benchMemory(ctx context.Context, root string, o options, p *page) error {
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "^BenchmarkPodCache$",
		"-benchtime", "1x", "-count", strconv.Itoa(o.runs), "./internal/benchmem")
	cmd.Dir = filepath.Join(root, "scaler")
	cmd.Stderr = os.Stderr
	fmt.Fprintln(os.Stderr, "[bench] go test -bench BenchmarkPodCache (scaler/internal/benchmem)")
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("go test -bench: %w\n%s", err, out)
	}
	var plain, slim, ratio []float64
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || !strings.HasPrefix(f[0], "BenchmarkPodCache") {
			continue
		}
		for i := 1; i+1 < len(f); i++ {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "MiB-plain":
				plain = append(plain, v)
			case "MiB-transformed":
				slim = append(slim, v)
			case "ratio":
				ratio = append(ratio, v)
			}
		}
	}
	if len(ratio) == 0 {
		return fmt.Errorf("no BenchmarkPodCache figures in:\n%s", out)
	}
	r, s := bench.Median(ratio), bench.Median(slim)
	var b strings.Builder
	fmt.Fprintf(&b, "## 4. Memory: the scaler's pod cache with 10,000 pods\n\n")
	fmt.Fprintf(&b, "A client-go SharedIndexInformer over 10,000 realistic pods (two containers, env, probes, volumes, "+
		"managed fields, full status), with the scaler's transform (`controller.TransformPod`) and, as the baseline, the same "+
		"informer without it; live heap after GC, measured alternately in one process (scaler/internal/benchmem). "+
		"This is the part of the scaler's resident memory that grows with the cluster; the Go runtime and the rest of the "+
		"process add a constant.\n\n")
	fmt.Fprintf(&b, "| figure | with transform | without (baseline) | ratio / goal |\n|---|---|---|---|\n")
	fmt.Fprintf(&b, "| heap held by the pod cache | %.1f MiB | %.1f MiB | %.2f; goal ≤ 0.5 and ≤ 100 MiB: %s |\n\n",
		s, bench.Median(plain), r, verdict(r <= 0.5 && s <= 100))
	fmt.Fprintf(&b, "Per run (MiB with / without): %s / %s.\n", floats2(slim), floats2(plain))
	p.add(b.String())
	return nil
}

func floats2(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.1f", x)
	}
	return strings.Join(parts, ", ")
}
