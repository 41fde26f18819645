package docs

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/memhpa/memhpa/test/harness"
)

// mapHeading starts the section of docs/architecture.md that holds the map.
const mapHeading = "## Map: the packages, and one MemHpa through them"

// mapRows returns the first field of each line of the first fenced block
// after the map's heading: a package directory, relative to the repository.
func mapRows(t *testing.T, doc string) []string {
	t.Helper()
	_, section, ok := strings.Cut(doc, "\n"+mapHeading+"\n")
	if !ok {
		t.Fatalf("docs/architecture.md has no section %q", mapHeading)
	}
	_, block, ok := strings.Cut(section, "```\n")
	if !ok {
		t.Fatal("the map section has no fenced block")
	}
	block, _, _ = strings.Cut(block, "```")
	var rows []string
	sc := bufio.NewScanner(strings.NewReader(block))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 0 {
			rows = append(rows, f[0])
		}
	}
	return rows
}

// goPackages returns the directories below the modules that hold Go files,
// leaving out testdata and nested modules (test/tools is outside go.work).
func goPackages(t *testing.T, root string) []string {
	t.Helper()
	var dirs []string
	for _, m := range []string{"webhook", "scaler", "test"} {
		err := filepath.WalkDir(filepath.Join(root, m), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if d.IsDir() {
				if d.Name() == "testdata" || (rel != m && fileExists(filepath.Join(p, "go.mod"))) {
					return filepath.SkipDir
				}
				return nil
			}
			if dir := filepath.Dir(rel); strings.HasSuffix(p, ".go") && !slices.Contains(dirs, dir) {
				dirs = append(dirs, dir)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return dirs
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestArchitectureMapMatchesCode: every Go package is at or below a row of
// the map, and every row is a directory that exists.
func TestArchitectureMapMatchesCode(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := mapRows(t, string(doc))
	for _, r := range rows {
		if st, err := os.Stat(filepath.Join(root, r)); err != nil || !st.IsDir() {
			t.Errorf("the map in docs/architecture.md names %s, which is not a directory: rename or remove its row", r)
		}
	}
	for _, p := range goPackages(t, root) {
		covered := slices.ContainsFunc(rows, func(r string) bool { return p == r || strings.HasPrefix(p, r+"/") })
		if !covered {
			t.Errorf("package %s is not in the map of docs/architecture.md: add a row for it", p)
		}
	}
}
