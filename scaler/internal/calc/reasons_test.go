package calc

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestReasonsAreTheDecisions: reasons.go holds only the reasons, condition
// types and messages that the decision itself produces; the reasons of I/O
// failures (reading or writing /scale, the status, a selector) live next to
// that I/O, in the controller (issue 12 item 5).
func TestReasonsAreTheDecisions(t *testing.T) {
	fset := token.NewFileSet()
	decl, err := parser.ParseFile(fset, "reasons.go", nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		if path == "reasons.go" || strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok {
				used[id.Name] = true
			}
			return true
		})
	}
	// A constant used by another constant of reasons.go (MetricName) counts.
	ast.Inspect(decl, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok {
			for _, v := range vs.Values {
				ast.Inspect(v, func(n ast.Node) bool {
					if id, ok := n.(*ast.Ident); ok {
						used[id.Name] = true
					}
					return true
				})
			}
		}
		return true
	})
	for _, d := range decl.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			for _, name := range spec.(*ast.ValueSpec).Names {
				if !used[name.Name] {
					t.Errorf("calc.%s is not produced by the decision: move it next to the I/O that reports it (controller/reasons.go)", name.Name)
				}
			}
		}
	}
}
