package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// PauseComponent stops a control plane component or a process of ours with
// SIGSTOP: it keeps its sockets open and answers nothing, like a machine
// that hangs, until ResumeComponent. Tests should resume in a cleanup.
func (e *Env) PauseComponent(name Component) error { return e.signalComponent(name, syscall.SIGSTOP) }

// ResumeComponent continues a paused component (SIGCONT).
func (e *Env) ResumeComponent(name Component) error { return e.signalComponent(name, syscall.SIGCONT) }

func (e *Env) signalComponent(name Component, sig syscall.Signal) error {
	pid, err := e.pidOf(name)
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("signal %s (pid %d) with %v: %w", name, pid, sig, err)
	}
	e.progress.step("Sent %v to %s", sig, name)
	return nil
}

// pidOf is the pid of a running component: one the harness started (or
// restarted) itself, or one kwokctl started.
func (e *Env) pidOf(name Component) (int, error) {
	e.mu.Lock()
	p := e.procs[string(name)]
	e.mu.Unlock()
	if p != nil {
		return p.pid, nil
	}
	var pidFile string
	if name == Webhook || e.isScaler(name) {
		pidFile = filepath.Join(e.pidDir(), string(name)+".pid")
	} else {
		c, err := e.kwokComponent(name)
		if err != nil {
			return 0, err
		}
		pidFile = e.kwokPidFile(c)
	}
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, fmt.Errorf("pid of %s: %w", name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		return 0, fmt.Errorf("pid of %s: parse %s: %w", name, pidFile, err)
	}
	return pid, nil
}

// Supervisor restarts a scaler whenever it exits, as the kubelet does for a
// container with restartPolicy Always, and counts the restarts.
type Supervisor struct {
	mu    sync.Mutex
	exits []string
	stop  context.CancelFunc
	done  chan struct{}
}

// SuperviseScaler watches the scaler started under name until ctx ends or
// StopComponent stops it: an exit of its own is followed by a restart with
// the same flags after backoff.
func (e *Env) SuperviseScaler(ctx context.Context, name string, backoff time.Duration) *Supervisor {
	ctx, cancel := context.WithCancel(ctx)
	s := &Supervisor{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			e.mu.Lock()
			p := e.procs[name]
			e.mu.Unlock()
			if p == nil {
				return // stopped by the test
			}
			exited, exitErr := p.exited()
			if !exited {
				continue
			}
			s.mu.Lock()
			s.exits = append(s.exits, fmt.Sprintf("%s: %v", time.Now().Format(time.TimeOnly), exitErr))
			s.mu.Unlock()
			e.progress.step("Scaler %s exited (%v); restarting it in %v", name, exitErr, backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			if err := e.restartScaler(ctx, name); err != nil {
				e.progress.step("Restart of scaler %s failed: %v", name, err)
			}
		}
	}()
	return s
}

// Exits lists when and how the supervised scaler exited.
func (s *Supervisor) Exits() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.exits...)
}

// Stop ends the supervision (the scaler keeps running).
func (s *Supervisor) Stop() {
	s.stop()
	<-s.done
}
