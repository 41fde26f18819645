// Command scaler is memhpa's controller: it scales the targets of MemHpas on
// the memory their pods use, measured by Prometheus as a share of the pods'
// memory limits. Flags → options → app.Run; the work is in internal/.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/klog/v2"

	"github.com/memhpa/memhpa/scaler/internal/app"
)

// version is stamped by hack/build.sh (-X main.version).
var version = "dev"

func main() {
	o := app.NewOptions()
	fs := flag.NewFlagSet(os.Args[0], flag.ExitOnError)
	o.AddFlags(fs)
	showVersion := fs.Bool("version", false, "Print the version and exit.")
	_ = fs.Parse(os.Args[1:]) // ExitOnError: a bad flag exits with status 2
	if *showVersion {
		fmt.Println(version)
		return
	}
	if err := logsapi.ValidateAndApply(o.Logging, nil); err != nil {
		fmt.Fprintln(os.Stderr, "scaler:", err)
		os.Exit(2)
	}
	cfg, err := o.Complete()
	if err != nil {
		fmt.Fprintln(os.Stderr, "scaler:", err)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx = klog.NewContext(ctx, klog.Background())
	if err := app.Run(ctx, cfg); err != nil {
		klog.FromContext(ctx).Error(err, "Scaler failed")
		klog.FlushAndExit(klog.ExitFlushTimeout, 1)
	}
	klog.Flush()
}
