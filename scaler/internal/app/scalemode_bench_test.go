//go:build memhpabench

package app

import (
	"flag"
	"io"
	"testing"

	"github.com/memhpa/memhpa/scaler/internal/controller"
)

// TestBenchBuildHasScaleReadMode: the build of make bench has
// --scale-read-mode, cache unless told; get leaves the controller without
// workload informers; other modes are refused.
func TestBenchBuildHasScaleReadMode(t *testing.T) {
	deps := func() controller.Deps {
		d := controller.Deps{Workloads: &controller.WorkloadInformers{}}
		for _, change := range benchDeps {
			change(&d)
		}
		return d
	}
	if _, err := parse(t); err != nil || scaleReadMode != scaleReadCache || deps().Workloads == nil {
		t.Errorf("default: mode %q, error %v, workload informers %v; want cache with informers", scaleReadMode, err, deps().Workloads)
	}
	if _, err := parse(t, "--scale-read-mode=get"); err != nil || scaleReadMode != scaleReadGet || deps().Workloads != nil {
		t.Errorf("--scale-read-mode=get: mode %q, error %v, workload informers %v; want get without informers", scaleReadMode, err, deps().Workloads)
	}
	fs := flag.NewFlagSet("scaler", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	NewOptions().AddFlags(fs)
	if err := fs.Parse([]string{"--scale-read-mode=watch"}); err == nil {
		t.Error("--scale-read-mode=watch: accepted")
	}
}
