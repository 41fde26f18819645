//go:build memhpabench

package app

import (
	"flag"
	"fmt"

	"github.com/memhpa/memhpa/scaler/internal/controller"
)

// The values of --scale-read-mode.
const (
	// scaleReadCache reads the scale of Deployments, StatefulSets and
	// ReplicaSets from informers: what the product does.
	scaleReadCache = "cache"
	// scaleReadGet reads every target's scale with a GET of /scale, one per
	// MemHpa and cycle, as the HPA does.
	scaleReadGet = "get"
)

// scaleReadMode is --scale-read-mode, a flag of make bench's build only.
var scaleReadMode = scaleReadCache

func init() {
	benchFlags = append(benchFlags, func(fs *flag.FlagSet) {
		scaleReadMode = scaleReadCache // the default of every new flag set
		fs.Func("scale-read-mode", "make bench's comparison (a build with the memhpabench tag only): "+
			"cache (the default, the product's) reads the scale of apps/v1 targets from informers; get reads every target's /scale with a GET each cycle.",
			func(s string) error {
				switch s {
				case scaleReadCache, scaleReadGet:
					scaleReadMode = s
					return nil
				}
				return fmt.Errorf("must be %s or %s", scaleReadCache, scaleReadGet)
			})
	})
	benchDeps = append(benchDeps, func(d *controller.Deps) {
		if scaleReadMode == scaleReadGet {
			// No workload informers at all: the scaler as it was before
			// issue 15, not one that caches and then ignores the cache.
			d.Workloads = nil
		}
	})
}
