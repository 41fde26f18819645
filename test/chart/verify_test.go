package chart

import (
	"crypto/sha256"
	"errors"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMakeTestChecksFirst: `make test`, which CI runs (.ci/run), runs the
// fast checks of hack/verify.sh before it builds the tools and runs the tests.
func TestMakeTestChecksFirst(t *testing.T) {
	root := repoRoot(t)
	ci, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ci), "\nmake test\n") {
		t.Errorf(".ci/run does not run `make test`:\n%s", ci)
	}
	out := makeDryRun(t, root, "test")
	steps := []string{"hack/verify.sh fast", "hack/tools.sh", "go test"}
	last := -1
	for _, s := range steps {
		i := strings.Index(out, s)
		if i < 0 {
			t.Errorf("`make test` does not run %q:\n%s", s, out)
			continue
		}
		if i < last {
			t.Errorf("`make test` runs %q too late, want the order %q:\n%s", s, steps, out)
		}
		last = i
	}
}

// copyRepo copies the files git sees in the repository (tracked, and untracked
// but not ignored) into a new git repository, and returns its path.
func copyRepo(t *testing.T, root string) string {
	t.Helper()
	dst := t.TempDir()
	list := exec.Command("git", "-C", root, "ls-files", "-z", "-co", "--exclude-standard")
	files, err := list.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, f := range strings.Split(strings.TrimRight(string(files), "\x00"), "\x00") {
		b, err := os.ReadFile(filepath.Join(root, f))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the working tree, not committed yet
		}
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dst, f), string(b), st.Mode().Perm())
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "-A"}} {
		if out, err := exec.Command("git", append([]string{"-C", dst}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return dst
}

func writeFile(t *testing.T, path, content string, perm os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
}

// treeSums is the SHA-256 of every file below dir but .git, by path.
func treeSums(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	sums := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sums[strings.TrimPrefix(p, dir)] = sha256.Sum256(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

// TestVerifyFastSaysTheFix breaks a copy of the repository in each way the
// fast checks look for, runs `hack/verify.sh fast` there, and wants a failure
// that names each break with the command that fixes it, nothing about the
// parts left alone, and the copy unchanged (the generators write elsewhere).
func TestVerifyFastSaysTheFix(t *testing.T) {
	repo := copyRepo(t, repoRoot(t))
	writeFile(t, filepath.Join(repo, "webhook/internal/admission/zz_unformatted.go"),
		"package admission\n\nfunc  unformatted( ) {}\n", 0o644)
	writeFile(t, filepath.Join(repo, "scaler/internal/calc/zz_impure.go"),
		"package calc\n\nimport (\n\t\"os\"\n\t\"time\"\n)\n\nvar _ = os.Getpid\n\nfunc wallClock() time.Time { return time.Now() }\n", 0o644)
	writeFile(t, filepath.Join(repo, "test/harness/zz_vet.go"),
		"package harness\n\nimport \"fmt\"\n\nfunc badFormat() string { return fmt.Sprintf(\"%d\", \"x\") }\n", 0o644)
	crd := filepath.Join(repo, "charts/memhpa/files/crds/autoscaling.memhpa.io_memhpas.yaml")
	b, err := os.ReadFile(crd)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, crd, strings.Replace(string(b), "description:", "description: edited by hand,", 1), 0o644)
	before := treeSums(t, repo)

	cmd := exec.Command(filepath.Join(repo, "hack", "verify.sh"), "fast")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("hack/verify.sh fast on a broken tree: %v, want a failure\n%s", err, out)
	}
	for _, want := range []string{
		"gofmt would change:\nwebhook/internal/admission/zz_unformatted.go\n  fix: make fmt",
		"FAILED: stale: charts/memhpa/files/crds\n  fix: make generate, and commit the result",
		"FAILED: go vet (test)",
		"scaler/internal/calc must stay pure but imports:\nos\n",
		"FAILED: scaler/internal/calc calls time.Now\n  fix: take a clock.Clock",
		"verify fast: FAILED",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, dontWant := range []string{"FAILED: go vet (webhook)", "FAILED: go vet (scaler)", "stale: webhook/", "validation must stay pure"} {
		if strings.Contains(string(out), dontWant) {
			t.Errorf("output has %q, which was not broken", dontWant)
		}
	}
	after := treeSums(t, repo)
	if !maps.Equal(before, after) {
		for p := range after {
			if before[p] != after[p] {
				t.Errorf("verify changed or added %s", p)
			}
		}
		for p := range before {
			if _, ok := after[p]; !ok {
				t.Errorf("verify removed %s", p)
			}
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}
