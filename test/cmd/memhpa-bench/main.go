// Command memhpa-bench is `make bench`: it measures memhpa against baselines
// run in the same command and writes docs/performance.md. Every figure is the
// median of at least three runs; goals are compared as ratios, never asserted.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/memhpa/memhpa/test/harness"
)

func main() {
	var o options
	flag.IntVar(&o.runs, "runs", 3, "runs per figure (the median is reported)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of one webhook load run")
	flag.IntVar(&o.clients, "clients", 16, "concurrent webhook clients")
	flag.StringVar(&o.out, "out", "", "page to write (default <repo>/docs/performance.md)")
	flag.StringVar(&o.sections, "sections", "webhook,scale,reaction,memory", "comma-separated sections to run")
	flag.DurationVar(&o.scalePeriod, "scale-period", 15*time.Second, "--sync-period of the scaler in the scale section")
	o.scalePoints = []int{100, 1000, 10000}
	flag.Func("scale-points", "numbers of MemHpas the scale section measures, ascending (default 100,1000,10000; a smaller largest point makes a quick run)",
		func(s string) (err error) { o.scalePoints, err = parseScalePoints(s); return err })
	flag.IntVar(&o.scaleCompare, "scale-compare", 1000, "the point of -scale-points where the scale section also runs its baselines (per-MemHpa queries, GET /scale)")
	var so serveOptions
	flag.StringVar(&so.what, "serve", "", "run only one server of the webhook section, peer or canned, until SIGTERM (the bench starts them so)")
	flag.StringVar(&so.kubeconfig, "serve-kubeconfig", "", "with -serve=peer: the control plane's kubeconfig")
	flag.StringVar(&so.certDir, "serve-cert-dir", "", "with -serve: the directory of the webhook's key pair")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if so.what != "" {
		if err := serve(ctx, so); err != nil {
			fmt.Fprintln(os.Stderr, "memhpa-bench -serve:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "memhpa-bench:", err)
		os.Exit(1)
	}
}

type options struct {
	runs     int
	duration time.Duration
	clients  int
	out      string
	sections string
	// scalePeriod is the scaler's sync period in the scale section.
	scalePeriod time.Duration
	// scalePoints are the numbers of MemHpas of the scale section;
	// scaleCompare is the one where it also runs the baselines.
	scalePoints  []int
	scaleCompare int
}

func (o options) want(s string) bool {
	for _, x := range strings.Split(o.sections, ",") {
		if strings.TrimSpace(x) == s {
			return true
		}
	}
	return false
}

func run(ctx context.Context, o options) error {
	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	if o.out == "" {
		o.out = filepath.Join(root, "docs", "performance.md")
	}
	page := newPage(root, o)

	if o.want("memory") {
		if err := benchMemory(ctx, root, o, page); err != nil {
			return fmt.Errorf("memory: %w", err)
		}
	}
	if o.want("scale") {
		if err := benchScale(ctx, o, page); err != nil {
			return fmt.Errorf("scale: %w", err)
		}
	}
	if o.want("webhook") || o.want("reaction") {
		dir, err := os.MkdirTemp("", "memhpa-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		env, err := harness.Start(ctx, harness.Options{Dir: dir, Webhook: true})
		if err != nil {
			return fmt.Errorf("start the local control plane: %w", err)
		}
		defer func() {
			if err := env.Stop(context.Background()); err != nil {
				fmt.Fprintln(os.Stderr, "memhpa-bench: stop:", err)
			}
		}()
		if o.want("webhook") {
			if err := benchWebhook(ctx, env, o, page); err != nil {
				return fmt.Errorf("webhook: %w", err)
			}
		}
		if o.want("reaction") {
			if err := benchReaction(ctx, env, o, page); err != nil {
				return fmt.Errorf("reaction: %w", err)
			}
		}
	}
	if err := os.WriteFile(o.out, []byte(page.String()), 0o644); err != nil {
		return err
	}
	fmt.Println("wrote", o.out)
	return nil
}
