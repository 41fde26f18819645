package calc

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestSpecDefaultsHaveOneSource: the meaning of an unset field of a MemHpa's
// spec is v1alpha1's (EffectiveMinReplicas, EffectiveTargetUtilizationPercentage,
// TargetAPIVersion, TargetGroupKind), so that the scaler, the webhook and the
// CRD cannot drift apart (issue 12 item 3). No file of the scaler derives it
// again: none compares those fields with nil or an empty string, declares a
// Default, or parses a group/version (a scale target's group is
// TargetGroupKind's).
func TestSpecDefaultsHaveOneSource(t *testing.T) {
	defaulted := map[string]bool{"MinReplicas": true, "TargetUtilizationPercentage": true, "APIVersion": true}
	fset := token.NewFileSet()
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BinaryExpr:
				if n.Op != token.EQL && n.Op != token.NEQ {
					return true
				}
				for _, pair := range [][2]ast.Expr{{n.X, n.Y}, {n.Y, n.X}} {
					sel, ok := pair[0].(*ast.SelectorExpr)
					if ok && defaulted[sel.Sel.Name] && isUnset(pair[1]) {
						t.Errorf("%s: %s compared with its zero value: use v1alpha1's Effective*/TargetAPIVersion", fset.Position(n.Pos()), sel.Sel.Name)
					}
				}
			case *ast.SelectorExpr:
				if n.Sel.Name == "ParseGroupVersion" {
					t.Errorf("%s: ParseGroupVersion: a scale target's group and kind are v1alpha1.TargetGroupKind's", fset.Position(n.Pos()))
				}
			case *ast.ValueSpec:
				for _, name := range n.Names {
					if strings.HasPrefix(name.Name, "DefaultMin") || strings.HasPrefix(name.Name, "DefaultTarget") {
						t.Errorf("%s: %s: the spec's defaults are v1alpha1's", fset.Position(name.Pos()), name.Name)
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// isUnset reports whether e is nil or "".
func isUnset(e ast.Expr) bool {
	if id, ok := e.(*ast.Ident); ok && id.Name == "nil" {
		return true
	}
	lit, ok := e.(*ast.BasicLit)
	return ok && lit.Kind == token.STRING && lit.Value == `""`
}
