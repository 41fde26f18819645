package chart

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBinariesPrintTheStampedVersion: both binaries, built by hack/build.sh
// as the images build them, answer --version with the VERSION it stamps
// (-X main.version), and nothing else (issue 12 item 4).
func TestBinariesPrintTheStampedVersion(t *testing.T) {
	root := repoRoot(t)
	const stamp = "v0.0.0-versiontest"
	for _, name := range []string{"webhook", "scaler"} {
		t.Run(name, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), name)
			build := exec.Command(filepath.Join(root, "hack", "build.sh"), name, bin)
			build.Dir = root
			build.Env = append(os.Environ(), "VERSION="+stamp)
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("hack/build.sh %s: %v\n%s", name, err, out)
			}
			cmd := exec.Command(bin, "--version")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s --version: %v\n%s", name, err, stderr.String())
			}
			if got := strings.TrimSpace(string(out)); got != stamp {
				t.Errorf("%s --version printed %q, want %q", name, got, stamp)
			}
		})
	}
}
