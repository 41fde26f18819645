package harness

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is a program the harness started itself (webhook, scaler, or a
// restarted control plane component). It runs in its own session, so its whole
// process group can be signalled and it survives the caller when detached.
type process struct {
	name    string
	pid     int
	pidFile string
	done    chan struct{} // closed when the process has exited (children only)
	mu      sync.Mutex
	exitErr error
}

// startProcess starts bin with args in dir, appending stdout and stderr to
// logPath, and records its pid in pidFile.
func startProcess(name, bin string, args []string, dir, logPath, pidFile string, env []string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	fmt.Fprintf(logFile, "\n==== %s: %s %s\n", time.Now().UTC().Format(time.RFC3339), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = append(os.Environ(), env...)
	// A new session: no terminal signals, its own process group to kill.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, pid: cmd.Process.Pid, pidFile: pidFile, done: make(chan struct{})}
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(p.pid)), 0o644); err != nil {
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
		_ = cmd.Wait()
		logFile.Close()
		return nil, fmt.Errorf("start %s: write pid file: %w", name, err)
	}
	go func() {
		err := cmd.Wait()
		logFile.Close()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether a child process has ended, and how.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return true, p.exitErr
	default:
		return false, nil
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after grace, and
// waits for the process to be gone.
func (p *process) stop(grace time.Duration) error {
	err := terminateGroup(p.pid, grace, func() bool {
		if p.done == nil {
			return !pidAlive(p.pid)
		}
		select {
		case <-p.done:
			return true
		default:
			return false
		}
	})
	_ = os.Remove(p.pidFile)
	return err
}

// stopPidFile stops the process (group) recorded in pidFile, which need not be
// a child of this process (make down). A missing pid file means nothing runs.
func stopPidFile(pidFile string, grace time.Duration) error {
	raw, err := os.ReadFile(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		return fmt.Errorf("parse pid file %s: %w", pidFile, err)
	}
	p := &process{name: filepath.Base(pidFile), pid: pid, pidFile: pidFile}
	return p.stop(grace)
}

func terminateGroup(pid int, grace time.Duration, gone func() bool) error {
	if gone() {
		return nil
	}
	// The group first (the process leads its own session); the pid alone for a
	// process started by someone else without one.
	if err := syscall.Kill(-pid, syscall.SIGTERM); err != nil {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if gone() {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	deadline = time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if gone() {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("process %d still alive after SIGKILL", pid)
}

// pidAlive reports whether pid names a live process (not a zombie).
func pidAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// Field 3, after "(comm)", is the state; Z is a zombie.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

// ProcessesMentioning lists live processes (pid and command line) whose
// command line contains s, except this process. Used to prove that nothing of
// an environment is left running.
func ProcessesMentioning(s string) []string {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var found []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(raw, []byte(s)) || !pidAlive(pid) {
			continue
		}
		found = append(found, fmt.Sprintf("%d %s", pid, strings.TrimSpace(string(bytes.ReplaceAll(raw, []byte{0}, []byte{' '})))))
	}
	return found
}

// killProcessesMentioning kills what ProcessesMentioning finds and returns it.
func killProcessesMentioning(s string) []string {
	found := ProcessesMentioning(s)
	for _, f := range found {
		pidStr, _, _ := strings.Cut(f, " ")
		if pid, err := strconv.Atoi(pidStr); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return found
}

// portPicker hands out free TCP ports on 127.0.0.1, never the same one twice
// in a process.
var portPicker = struct {
	sync.Mutex
	used map[int]bool
}{used: map[int]bool{}}

func freePorts(n int) ([]int, error) {
	portPicker.Lock()
	defer portPicker.Unlock()
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		listeners = append(listeners, l)
		port := l.Addr().(*net.TCPAddr).Port
		if portPicker.used[port] {
			continue
		}
		portPicker.used[port] = true
		ports = append(ports, port)
	}
	return ports, nil
}
