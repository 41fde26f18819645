package chart

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExamplesListed: examples/README.md links every examples/*.yaml and
// nothing else, so that its table stays the list of what there is (the e2e
// test TestManifestsAndExamples applies each file).
func TestExamplesListed(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "examples")
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples/*.yaml: %v", err)
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(string(readme), "\n") {
		if name, ok := strings.CutPrefix(line, "| ["); ok {
			listed[strings.SplitN(name, "]", 2)[0]] = true
		}
	}
	for _, f := range files {
		name := filepath.Base(f)
		if !listed[name] {
			t.Errorf("examples/README.md does not list %s", name)
		}
		delete(listed, name)
	}
	for name := range listed {
		t.Errorf("examples/README.md lists %s, which is not in examples/", name)
	}
}
