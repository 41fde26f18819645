package docs

import (
	"go/build/constraint"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/memhpa/memhpa/test/harness"
)

// testOnlyPackages are the packages of webhook/ and scaler/ that no binary
// links, each with why it cannot be a _test.go file.
var testOnlyPackages = map[string]string{
	"scaler/internal/gen":                                                       "pod builders shared by the tests of calc, controller and benchmem: another package cannot import a _test.go file",
	"webhook/testing/memhpagen":                                                 "MemHpa builders shared by the tests of the webhook and the scaler (two modules), outside pkg/ so that they are no part of the API",
	"webhook/pkg/generated/clientset/versioned/fake":                            "client-gen's fake clientset, generated with the clientset for its users' tests",
	"webhook/pkg/generated/clientset/versioned/typed/autoscaling/v1alpha1/fake": "client-gen's fake typed client, part of the fake clientset",
}

// TestEveryPackageIsInABinary: a package of webhook/ or scaler/ is linked
// into one of the binaries (issue 12: no product file exists only for
// benchmarks or tests, and test builders are not under the API's pkg/ path).
// What exists for make bench is a _test.go file, or a file behind the
// memhpabench build tag.
func TestEveryPackageIsInABinary(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	const module = "github.com/memhpa/memhpa/"
	imports := map[string][]string{} // directory → the directories it imports, non-test files only
	var roots []string
	for _, dir := range goPackages(t, root) {
		if !strings.HasPrefix(dir, "webhook/") && !strings.HasPrefix(dir, "scaler/") {
			continue
		}
		files, err := filepath.Glob(filepath.Join(root, dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") || benchOnly(t, path) {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := imports[dir]; !ok {
				imports[dir] = []string{}
				if f.Name.Name == "main" {
					roots = append(roots, dir)
				}
			}
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if rel, ok := strings.CutPrefix(p, module); ok {
					imports[dir] = append(imports[dir], rel)
				}
			}
		}
	}
	linked := map[string]bool{}
	for len(roots) > 0 {
		dir := roots[len(roots)-1]
		roots = roots[:len(roots)-1]
		if !linked[dir] {
			linked[dir] = true
			roots = append(roots, imports[dir]...)
		}
	}
	var unlinked []string
	for dir := range imports {
		if !linked[dir] {
			unlinked = append(unlinked, dir)
		}
	}
	slices.Sort(unlinked)
	for _, dir := range unlinked {
		if _, ok := testOnlyPackages[dir]; !ok {
			t.Errorf("%s has non-test files that no binary links: make them _test.go files (or put them behind the memhpabench tag)", dir)
		}
	}
	for dir := range testOnlyPackages {
		if linked[dir] {
			t.Errorf("%s is linked into a binary now: remove it from testOnlyPackages", dir)
		}
	}
}

// benchOnly reports whether the file at path builds only with the
// memhpabench tag.
func benchOnly(t *testing.T, path string) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "package ") {
			return false
		}
		if constraint.IsGoBuild(line) {
			expr, err := constraint.Parse(line)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			return !expr.Eval(func(tag string) bool { return tag != "memhpabench" })
		}
	}
	return false
}
