// Package e2e tests memhpa end to end on the local control plane of package
// harness: a real kube-apiserver v1.37.2 with etcd, controller-manager,
// scheduler, kwok nodes and Prometheus. TestMain starts one environment for
// the package and tears it down afterwards, on interrupt, and before the
// `go test -timeout` deadline; nothing is skipped when a binary is missing:
// the run fails and says to run `make tools`.
package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/memhpa/memhpa/test/harness"
)

// env is the environment shared by the tests of this package.
var env *harness.Env

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	flag.Parse()
	dir, err := os.MkdirTemp("", "memhpa-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	// An interrupt while starting cancels the start, which tears down.
	startCtx, cancelStart := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	e, err := harness.Start(startCtx, harness.Options{Dir: dir, Nodes: 2})
	cancelStart()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: start the local control plane: %v\n", err)
		return 1
	}
	env = e

	var once sync.Once
	teardown := func() error {
		var err error
		once.Do(func() { err = e.Stop(context.Background()) })
		return err
	}
	// An interrupt, or the test deadline coming (go test panics at -timeout
	// without running deferred calls), still tears everything down.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	finished := make(chan struct{})
	go func() {
		var deadline <-chan time.Time
		if f := flag.Lookup("test.timeout"); f != nil {
			if d, err := time.ParseDuration(f.Value.String()); err == nil && d > time.Minute {
				deadline = time.After(d - 30*time.Second)
			}
		}
		select {
		case <-finished:
			return
		case <-signals:
			fmt.Fprintln(os.Stderr, "Interrupted: tearing the local control plane down")
		case <-deadline:
			fmt.Fprintln(os.Stderr, "Test deadline near: tearing the local control plane down")
		}
		if err := teardown(); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: teardown:", err)
		}
		os.Exit(1)
	}()

	code := m.Run()
	close(finished)
	if err := teardown(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: teardown:", err)
		code = 1
	}
	if left := harness.ProcessesMentioning(dir + "/"); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: still running after teardown:\n  %s\n", strings.Join(left, "\n  "))
		code = 1
	}
	if code == 0 {
		os.RemoveAll(dir)
	} else {
		fmt.Fprintf(os.Stderr, "Logs of the local control plane kept in %s/logs\n", dir)
	}
	return code
}

var webhookOnce struct {
	sync.Once
	err error
}

// requireWebhook starts and registers the memhpa webhook (failurePolicy Fail)
// once for the package; a test that needs it fails when it cannot start.
func requireWebhook(t *testing.T) {
	t.Helper()
	webhookOnce.Do(func() {
		webhookOnce.err = env.StartWebhook(context.Background(), "Fail")
	})
	if webhookOnce.err != nil {
		t.Fatalf("start the memhpa webhook: %v", webhookOnce.err)
	}
}
