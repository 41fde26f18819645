package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// benchTags are the build tags of the scaler of the scale section: its
// per-MemHpa query mode and its GET /scale mode, the baselines, are not in
// the product.
const benchTags = "memhpabench"

// benchScalerBinary is the scaler with make bench's comparison mode:
// $MEMHPA_SCALER_BENCH_BIN (make bench builds it), or one that hack/build.sh
// builds into dir with MEMHPA_BUILD_TAGS=memhpabench. Both modes of the scale
// section run this one binary, so that they differ by the mode alone.
func benchScalerBinary(ctx context.Context, root, dir string) (string, error) {
	bin := os.Getenv("MEMHPA_SCALER_BENCH_BIN")
	if bin == "" {
		bin = filepath.Join(dir, "scaler-bench")
		fmt.Fprintf(os.Stderr, "[bench] hack/build.sh scaler with MEMHPA_BUILD_TAGS=%s\n", benchTags)
		cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "build.sh"), "scaler", bin)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "MEMHPA_BUILD_TAGS="+benchTags)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("build the scaler with the %s tag: %w", benchTags, err)
		}
	}
	// A product scaler would refuse the flag only after the control plane is up.
	help, _ := exec.CommandContext(ctx, bin, "--help").CombinedOutput()
	for _, f := range []string{"-prometheus-query-mode", "-scale-read-mode"} {
		if !strings.Contains(string(help), f) {
			return "", fmt.Errorf("%s has no -%s: build it with MEMHPA_BUILD_TAGS=%s hack/build.sh scaler", bin, f, benchTags)
		}
	}
	return bin, nil
}
