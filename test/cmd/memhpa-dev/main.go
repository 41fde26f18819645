// Command memhpa-dev runs memhpa on a local control plane (package harness):
//
//	memhpa-dev up     start it in the background; state, logs and kubeconfig in <repo>/.local
//	memhpa-dev down   stop it; nothing is left running
//	memhpa-dev demo   start one, show memhpa at work, tear it down
//
// The Makefile's up, down and demo targets call it after building the pinned
// tools (hack/tools.sh) and memhpa's binaries (make build: bin/webhook,
// bin/scaler, used when present).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/memhpa/memhpa/test/harness"
)

const usage = `usage: memhpa-dev up|down|demo

  up     start a local control plane with memhpa in the background
  down   stop it; nothing is left running
  demo   start one, show memhpa refusing, defaulting and scaling, then stop it
`

func main() {
	if len(os.Args) != 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	var err error
	switch os.Args[1] {
	case "up":
		err = up(ctx)
	case "down":
		err = down()
	case "demo":
		err = demo(ctx)
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "memhpa-dev %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// paths are where `up` keeps its state: <repo>/.local/up, with the
// kubeconfig at the fixed <repo>/.local/kubeconfig (.local is gitignored).
type paths struct {
	root, local, dir, kubeconfig string
}

func localPaths() (paths, error) {
	root, err := harness.RepoRoot()
	if err != nil {
		return paths{}, err
	}
	local := filepath.Join(root, ".local")
	return paths{root: root, local: local, dir: filepath.Join(local, "up"), kubeconfig: filepath.Join(local, "kubeconfig")}, nil
}

// useBuiltBinaries points the harness at bin/webhook and bin/scaler from
// `make build` when they exist and nothing else was asked for; it reports
// whether a scaler binary is available.
func useBuiltBinaries(root string) (scaler bool) {
	for _, name := range []string{"webhook", "scaler"} {
		env := "MEMHPA_" + map[string]string{"webhook": "WEBHOOK", "scaler": "SCALER"}[name] + "_BIN"
		if os.Getenv(env) != "" {
			continue
		}
		if p := filepath.Join(root, "bin", name); fileExists(p) {
			os.Setenv(env, p)
		}
	}
	return os.Getenv("MEMHPA_SCALER_BIN") != "" || fileExists(filepath.Join(root, "scaler", "cmd", "scaler", "main.go"))
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func up(ctx context.Context) error {
	p, err := localPaths()
	if err != nil {
		return err
	}
	if e, err := harness.Attach(p.dir, os.Stderr); err == nil {
		if err := e.WaitAPIServerReady(ctx, 5*time.Second); err == nil {
			fmt.Fprintln(os.Stderr, "The local control plane is already up.")
			printUp(e)
			return nil
		}
		fmt.Fprintln(os.Stderr, "A previous local control plane is not answering; cleaning it up first.")
		if err := e.Stop(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "warning:", err)
		}
	}
	fmt.Fprintln(os.Stderr, "Starting a local Kubernetes v1.37.2 control plane with memhpa (etcd, apiserver, controller-manager, scheduler, kwok, Prometheus) ...")
	withScaler := useBuiltBinaries(p.root)
	e, err := harness.Start(ctx, harness.Options{
		Dir:        p.dir,
		Name:       "memhpa",
		Kubeconfig: p.kubeconfig,
		Nodes:      2,
		Webhook:    true,
		Scaler:     withScaler,
		ScalerArgs: []string{"--sync-period=10s"},
	})
	if err != nil {
		return err
	}
	if !withScaler {
		fmt.Fprintln(os.Stderr, "The scaler is not built yet: only the webhook runs.")
	}
	printUp(e)
	return nil
}

func printUp(e *harness.Env) {
	fmt.Printf(`
The local control plane runs in the background (ready after %s).

  export KUBECONFIG=%s
  kubectl get nodes
  kubectl get mhpa -A

Logs of every component: %s
Prometheus:             %s
Stop everything:        make down
`, e.ReadyAfter, e.Kubeconfig, e.LogDir, e.PrometheusURL)
}

func down() error {
	p, err := localPaths()
	if err != nil {
		return err
	}
	e, err := harness.Attach(p.dir, os.Stderr)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			// No state: still make sure nothing of an interrupted run survives.
			if left := harness.ProcessesMentioning(p.dir + "/"); len(left) > 0 {
				return fmt.Errorf("no state in %s, but processes mention it; stop them by hand:\n%v", p.dir, left)
			}
			fmt.Fprintln(os.Stderr, "Nothing is running.")
			return nil
		}
		return err
	}
	if err := e.Stop(context.Background()); err != nil {
		return err
	}
	if left := harness.ProcessesMentioning(p.dir + "/"); len(left) > 0 {
		return fmt.Errorf("still running: %v", left)
	}
	fmt.Fprintln(os.Stderr, "Stopped. Nothing of the local control plane is running.")
	return nil
}
