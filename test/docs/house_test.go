package docs

import (
	"go/ast"
	"go/build/constraint"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/memhpa/memhpa/test/harness"
)

// testOnlyPackages are the packages of webhook/ and scaler/ that no binary
// links, each with why it cannot be a _test.go file.
var testOnlyPackages = map[string]string{
	"scaler/internal/gen": "pod builders shared by the tests of calc, controller and benchmem: " +
		"another package cannot import a _test.go file",
	"webhook/testing/memhpagen": "MemHpa builders shared by the tests of the webhook and the scaler (two modules), " +
		"outside pkg/ so that they are no part of the API",
	"webhook/pkg/generated/clientset/versioned/fake": "client-gen's fake clientset, " +
		"generated with the clientset for its users' tests",
	"webhook/pkg/generated/clientset/versioned/typed/autoscaling/v1alpha1/fake": "client-gen's fake typed client, " +
		"part of the fake clientset",
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
			t.Errorf("%s has non-test files that no binary links: make them _test.go files, put them behind the memhpabench tag, or (test builders several packages share, outside pkg/) list it in testOnlyPackages with why", dir)
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

// deploymentManifest matches a YAML document of kind Deployment (a MemHpa's
// scaleTargetRef names the kind indented or inline, so it does not match).
var deploymentManifest = regexp.MustCompile(`(?m)^kind:\s*Deployment\s*$`)

// TestOneWorkloadBuilder: the kwok Deployments of the e2e tests, the demo and
// the bench come from harness.Workload (issue 12 item 2), so outside
// test/harness no Go file writes an apps/v1 Deployment literal or a
// "kind: Deployment" manifest of its own.
func TestOneWorkloadBuilder(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range goPackages(t, root) {
		if !strings.HasPrefix(dir, "test/") || dir == "test/harness" {
			continue
		}
		files, err := filepath.Glob(filepath.Join(root, dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range files {
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			apps := map[string]bool{} // the names this file gives k8s.io/api/apps/v1
			for _, imp := range f.Imports {
				if p, _ := strconv.Unquote(imp.Path.Value); p == "k8s.io/api/apps/v1" {
					name := "v1"
					if imp.Name != nil {
						name = imp.Name.Name
					}
					apps[name] = true
				}
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CompositeLit:
					if sel, ok := n.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "Deployment" {
						if x, ok := sel.X.(*ast.Ident); ok && apps[x.Name] {
							t.Errorf("%s: a Deployment literal: build it with harness.Workload", fset.Position(n.Pos()))
						}
					}
				case *ast.BasicLit:
					if v, err := strconv.Unquote(n.Value); n.Kind == token.STRING && err == nil && deploymentManifest.MatchString(v) {
						t.Errorf("%s: a Deployment manifest: write it with harness.Workload{...}.YAML()", fset.Position(n.Pos()))
					}
				}
				return true
			})
		}
	}
}
