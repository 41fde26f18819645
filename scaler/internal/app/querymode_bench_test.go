//go:build memhpabench

package app

import (
	"flag"
	"io"
	"testing"

	"github.com/memhpa/memhpa/scaler/internal/controller"
)

// TestBenchBuildHasQueryMode: the build of make bench has
// --prometheus-query-mode, batched unless told, and refuses other modes.
func TestBenchBuildHasQueryMode(t *testing.T) {
	if _, err := parse(t); err != nil || queryMode != controller.QueryBatched {
		t.Errorf("default: mode %q, error %v; want batched", queryMode, err)
	}
	if _, err := parse(t, "--prometheus-query-mode=per-memhpa"); err != nil || queryMode != controller.QueryPerMemHpa {
		t.Errorf("--prometheus-query-mode=per-memhpa: mode %q, error %v", queryMode, err)
	}
	fs := flag.NewFlagSet("scaler", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	NewOptions().AddFlags(fs)
	if err := fs.Parse([]string{"--prometheus-query-mode=per-pod"}); err == nil {
		t.Error("--prometheus-query-mode=per-pod: accepted")
	}
}
