//go:build memhpabench

package app

import (
	"flag"
	"fmt"

	"github.com/memhpa/memhpa/scaler/internal/controller"
)

// queryMode is --prometheus-query-mode, a flag of make bench's build only.
var queryMode = controller.QueryBatched

func init() {
	benchFlags = append(benchFlags, func(fs *flag.FlagSet) {
		fs.Func("prometheus-query-mode", "make bench's comparison (a build with the memhpabench tag only): "+
			"batched (the default, the product's) sends one Prometheus query per cycle; per-memhpa sends one per MemHpa for its own pods.",
			func(s string) error {
				switch m := controller.QueryMode(s); m {
				case controller.QueryBatched, controller.QueryPerMemHpa:
					queryMode = m
					return nil
				}
				return fmt.Errorf("must be %s or %s", controller.QueryBatched, controller.QueryPerMemHpa)
			})
	})
	benchSetup = append(benchSetup, func(c *controller.Controller) error { return c.SetQueryMode(queryMode) })
}
