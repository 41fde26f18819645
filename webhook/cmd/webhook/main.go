// Command webhook is memhpa's validating and defaulting admission webhook for
// MemHpa objects. Flags are listed in docs/architecture.md and by --help.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
	"k8s.io/klog/v2"

	"github.com/memhpa/memhpa/webhook/internal/server"
)

// version is stamped by hack/build.sh (-X main.version).
var version = "dev"

func main() {
	opts := server.NewOptions()
	fs := pflag.NewFlagSet("webhook", pflag.ExitOnError)
	opts.AddFlags(fs)
	showVersion := fs.Bool("version", false, "print the version and exit")
	_ = fs.Parse(os.Args[1:]) // ExitOnError: a bad flag exits with status 2
	if *showVersion {
		fmt.Println(version)
		return
	}
	cfg, err := opts.Complete()
	if err != nil {
		fmt.Fprintln(os.Stderr, "webhook:", err)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx = klog.NewContext(ctx, klog.Background().WithName("webhook"))
	if err := server.Run(ctx, cfg); err != nil {
		klog.FromContext(ctx).Error(err, "Webhook stopped")
		klog.FlushAndExit(klog.ExitFlushTimeout, 1)
	}
	klog.Flush()
}
