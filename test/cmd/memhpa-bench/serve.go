package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/memhpa/memhpa/test/bench"
	"github.com/memhpa/memhpa/webhook/pkg/devcerts"
)

// The webhook section loads three servers. memhpa's webhook is its own
// process (its real binary); so that none of them shares a process, and the
// Go runtime, with the load generator, the controller-runtime peer and the
// canned baseline run in processes of their own too: this binary again, with
// -serve. Each prints its URL on a line of its stdout once it answers, and
// serves until SIGTERM.
const (
	servePeer   = "peer"
	serveCanned = "canned"
)

// serveOptions are the flags of a -serve process.
type serveOptions struct {
	what       string // servePeer or serveCanned; empty: not a -serve process
	kubeconfig string // of the local control plane (the peer's cache reads it)
	certDir    string // the webhook's key pair (devcerts' file names)
}

// serve runs one server until ctx ends.
func serve(ctx context.Context, o serveOptions) error {
	var (
		url  string
		stop func()
	)
	switch o.what {
	case serveCanned:
		cert, err := os.ReadFile(filepath.Join(o.certDir, devcerts.CertFile))
		if err != nil {
			return err
		}
		key, err := os.ReadFile(filepath.Join(o.certDir, devcerts.KeyFile))
		if err != nil {
			return err
		}
		b, err := bench.StartBaseline(cert, key)
		if err != nil {
			return err
		}
		url, stop = b.URL, b.Stop
	case servePeer:
		cfg, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
		if err != nil {
			return err
		}
		p, err := bench.StartPeer(ctx, cfg, o.certDir, devcerts.CertFile, devcerts.KeyFile)
		if err != nil {
			return fmt.Errorf("controller-runtime peer: %w", err)
		}
		url, stop = p.URL, p.Stop
	default:
		return fmt.Errorf("-serve=%q: want %s or %s", o.what, servePeer, serveCanned)
	}
	defer stop()
	fmt.Println(url)
	<-ctx.Done()
	return nil
}

// server is a -serve process.
type server struct {
	URL string
	cmd *exec.Cmd
}

// startServer starts this binary with -serve=what and waits, at most two
// minutes (the peer's cache syncs first), for the URL it prints.
func startServer(ctx context.Context, o serveOptions) (*server, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-serve="+o.what, "-serve-kubeconfig="+o.kubeconfig, "-serve-cert-dir="+o.certDir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case url, ok := <-lines:
		if !ok {
			s.Stop()
			return nil, errors.New("the -serve=" + o.what + " process ended before it printed its URL")
		}
		s.URL = url
		return s, nil
	case <-time.After(2 * time.Minute):
		s.Stop()
		return nil, errors.New("the -serve=" + o.what + " process printed no URL in two minutes")
	case <-ctx.Done():
		s.Stop()
		return nil, ctx.Err()
	}
}

// Stop ends the process and waits for it.
func (s *server) Stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
}
