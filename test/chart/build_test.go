package chart

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/memhpa/memhpa/test/harness"
)

// fakeGo stands in for the go command in hack/build.sh's tests: `go env X`
// prints $FAKE_X, `go version` prints a version, and `go build -o OUT` waits
// until the file $FAKE_RELEASE exists (the test creates it once it has seen a
// heartbeat), then fails when $FAKE_FAIL is set or writes OUT.
const fakeGo = `#!/bin/sh
case $1 in
env) shift; for v in "$@"; do eval "printf '%s\n' \"\${FAKE_$v}\""; done ;;
version) echo "go version fake" ;;
build)
  while [ ! -e "$FAKE_RELEASE" ]; do sleep 0.1; done
  if [ -n "$FAKE_FAIL" ]; then echo "cmd/webhook/main.go:1:1: expected 'package'" >&2; exit 1; fi
  while [ $# -gt 0 ]; do if [ "$1" = -o ]; then mkdir -p "$(dirname "$2")" && : >"$2"; fi; shift; done ;;
*) echo "fake go: unexpected arguments: $*" >&2; exit 2 ;;
esac
`

// readFile is the text of a file that the test itself created.
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestBuildSaysWhatItDoes: hack/build.sh says on stderr that it fetches the
// product's Go toolchain (only when the go command will), what it builds, that
// it is still building while go runs, and what it built or that it failed.
func TestBuildSaysWhatItDoes(t *testing.T) {
	root := repoRoot(t)
	v, err := harness.Versions(root)
	if err != nil {
		t.Fatal(err)
	}
	toolchain := v["GO_TOOLCHAIN"]
	fetching := "fetching go toolchain " + toolchain + " (first time only)"
	tests := []struct {
		name string
		// localGo is the version of the machine's go; fetched says whether the
		// toolchain is in the module cache already.
		localGo  string
		fetched  bool
		fail     bool
		want     []string
		dontWant []string
	}{
		{
			name: "toolchain not fetched yet", localGo: "go1.26.8",
			want: []string{fetching, "fetched go toolchain " + toolchain + " in ", "building webhook",
				"still building webhook", "built out/webhook in "},
		},
		{
			name: "toolchain in the module cache", localGo: "go1.26.8", fetched: true,
			want: []string{"building webhook", "still building webhook", "built out/webhook in "}, dontWant: []string{fetching},
		},
		{
			name: "the machine's go is the product's", localGo: toolchain,
			want: []string{"building webhook", "built out/webhook in "}, dontWant: []string{fetching},
		},
		{
			name: "a failed build says so after go's own error", localGo: toolchain, fail: true,
			want:     []string{"building webhook", "expected 'package'", "building webhook FAILED after "},
			dontWant: []string{"built out/webhook"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			fakeBin, modCache := filepath.Join(dir, "fakebin"), filepath.Join(dir, "gomodcache")
			release := filepath.Join(dir, "release")
			if err := os.MkdirAll(fakeBin, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(fakeBin, "go"), []byte(fakeGo), 0o755); err != nil {
				t.Fatal(err)
			}
			if tt.fetched {
				// Where the go command keeps a fetched toolchain.
				if err := os.MkdirAll(filepath.Join(modCache, "golang.org", "toolchain@v0.0.1-"+toolchain+".linux-amd64"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command(filepath.Join(root, "hack", "build.sh"), "webhook", "out/webhook")
			cmd.Dir = dir
			fail := ""
			if tt.fail {
				fail = "1"
			}
			cmd.Env = append(os.Environ(), "PATH="+fakeBin+string(os.PathListSeparator)+os.Getenv("PATH"),
				"VERSION=test", "MEMHPA_BUILD_HEARTBEAT=1", "FAKE_RELEASE="+release, "FAKE_FAIL="+fail,
				"FAKE_GOVERSION="+tt.localGo, "FAKE_GOMODCACHE="+modCache, "FAKE_GOOS=linux", "FAKE_GOARCH=amd64")
			// A file, not a pipe: the script writes to it directly while the test reads it.
			stderrPath := filepath.Join(dir, "stderr")
			stderr, err := os.Create(stderrPath)
			if err != nil {
				t.Fatal(err)
			}
			defer stderr.Close()
			cmd.Stderr = stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			// Let go run until the script has said once that it is still at it.
			if err := harness.Poll(context.Background(), time.Minute, 100*time.Millisecond, func(context.Context) (bool, error) {
				return strings.Contains(readFile(t, stderrPath), "still building webhook"), nil
			}); err != nil {
				t.Errorf("no heartbeat while go build ran: %v", err)
			}
			if err := os.WriteFile(release, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			var runErr error
			select {
			case runErr = <-done:
			case <-time.After(time.Minute):
				_ = cmd.Process.Kill()
				t.Fatalf("hack/build.sh did not end; stderr:\n%s", readFile(t, stderrPath))
			}
			var exit *exec.ExitError
			if tt.fail != errors.As(runErr, &exit) {
				t.Errorf("hack/build.sh: %v, want failure %v", runErr, tt.fail)
			}
			out := readFile(t, stderrPath)
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("stderr lacks %q", w)
				}
			}
			for _, w := range tt.dontWant {
				if strings.Contains(out, w) {
					t.Errorf("stderr has %q", w)
				}
			}
			if t.Failed() {
				t.Logf("stderr:\n%s", out)
			}
		})
	}
}
