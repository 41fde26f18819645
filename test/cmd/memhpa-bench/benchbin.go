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
// per-MemHpa query mode, the baseline, is not in the product.
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
	if !strings.Contains(string(help), "-prometheus-query-mode") {
		return "", fmt.Errorf("%s has no --prometheus-query-mode: build it with MEMHPA_BUILD_TAGS=%s hack/build.sh scaler", bin, benchTags)
	}
	return bin, nil
}
