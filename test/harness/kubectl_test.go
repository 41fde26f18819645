package harness

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeKubectl writes a script that prints to stdout and stderr and exits
// with the given code, standing in for kubectl.
func fakeKubectl(t *testing.T, exit string) *Env {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubectl")
	script := "#!/bin/sh\necho \"out $*\"\necho 'Warning: err' >&2\nexit " + exit + "\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return &Env{State: State{Kubeconfig: "/k", Binaries: Binaries{Kubectl: p}}}
}

func TestKubectlOutputs(t *testing.T) {
	ctx := context.Background()
	e := fakeKubectl(t, "0")
	combined, err := e.Kubectl(ctx, "get", "x")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(combined, "out --kubeconfig /k get x") || !strings.Contains(combined, "Warning: err") {
		t.Errorf("combined output %q, want stdout and stderr", combined)
	}
	stdout, err := e.KubectlStdout(ctx, "", "get", "x")
	if err != nil || stdout != "out --kubeconfig /k get x\n" {
		t.Errorf("stdout %q (err %v), want stdout alone", stdout, err)
	}

	e = fakeKubectl(t, "3")
	out, err := e.ApplyYAML(ctx, "a: b")
	var kerr *KubectlError
	if !errors.As(err, &kerr) || kerr.ExitCode != 3 || kerr.Output != out || !strings.Contains(out, "Warning: err") {
		t.Errorf("ApplyYAML = %q, %v; want a KubectlError with exit code 3 and the output", out, err)
	}
}
