package chart

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/memhpa/memhpa/test/harness"
)

// parseDockerfile parses a Dockerfile with BuildKit's parser and returns its
// stages; BuildKit's lint warnings fail the test.
func parseDockerfile(t *testing.T, path string) []instructions.Stage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, w := range res.Warnings {
		t.Errorf("%s: parser warning: %s", path, w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []parser.Range) {
		t.Errorf("%s:%v: BuildKit lint %s: %s", path, loc, rule, msg)
	}})
	stages, _, err := instructions.Parse(res.AST, lint)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return stages
}

var (
	// A Go builder pinned to a patch release.
	pinnedGoBuilder = regexp.MustCompile(`^golang:1\.\d+\.\d+(@sha256:[a-f0-9]{64})?$`)
	// Distroless static, pinned by digest.
	pinnedDistroless = regexp.MustCompile(`^gcr\.io/distroless/static(-debian\d+)?:[a-z0-9.-]+@sha256:[a-f0-9]{64}$`)
)

// TestDockerfiles checks what `docker build` would do without a Docker engine:
// a multi-stage build on a pinned Go builder that downloads each module's
// dependencies before copying sources, builds with hack/build.sh (the script
// `make build` runs) under GOWORK=off, and ends on pinned distroless static as
// 65532:65532.
func TestDockerfiles(t *testing.T) {
	root := repoRoot(t)
	ignore := dockerignore(t, root)
	versions, err := harness.Versions(root)
	if err != nil {
		t.Fatal(err)
	}
	// The images are built by the toolchain that `make` and CI use.
	wantBuilder := "golang:" + strings.TrimPrefix(versions["GO_TOOLCHAIN"], "go")
	for _, tc := range []struct {
		name string
		// modules whose go.mod/go.sum must be copied before `go mod download`,
		// in this order (the scaler replaces the API module with ../webhook).
		modules []string
	}{
		{"webhook", []string{"webhook"}},
		{"scaler", []string{"webhook", "scaler"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(root, "Dockerfile."+tc.name)
			stages := parseDockerfile(t, path)
			if len(stages) < 2 {
				t.Fatalf("%d stages; want a multi-stage build", len(stages))
			}
			build, final := stages[0], stages[len(stages)-1]
			if !pinnedGoBuilder.MatchString(build.BaseName) {
				t.Errorf("builder %q is not a pinned golang:1.x.y image", build.BaseName)
			}
			if image, _, _ := strings.Cut(build.BaseName, "@"); image != wantBuilder {
				t.Errorf("builder %q; want %s, the GO_TOOLCHAIN of hack/versions.env", image, wantBuilder)
			}
			if !pinnedDistroless.MatchString(final.BaseName) {
				t.Errorf("final stage %q is not distroless static pinned by digest", final.BaseName)
			}
			checkBuildStage(t, build, tc.name, tc.modules, root, ignore)
			checkFinalStage(t, final, build.Name, tc.name)
		})
	}
}

func checkBuildStage(t *testing.T, st instructions.Stage, name string, modules []string, root string, ignore *patternmatcher.PatternMatcher) {
	t.Helper()
	env := map[string]string{}
	var (
		copied      []string // context paths copied so far, in order
		downloadAt  = -1     // index in copied when `go mod download` ran
		built       bool
		versionArgs bool
	)
	for _, cmd := range st.Commands {
		switch c := cmd.(type) {
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				env[kv.Key] = kv.Value
			}
		case *instructions.ArgCommand:
			for _, a := range c.Args {
				if a.Key == "VERSION" {
					versionArgs = true
				}
			}
		case *instructions.CopyCommand:
			if c.From != "" {
				continue
			}
			for _, src := range c.SourcePaths {
				copied = append(copied, src)
				checkContextPath(t, root, ignore, src)
			}
		case *instructions.RunCommand:
			line := strings.Join(c.CmdLine, " ")
			if strings.Contains(line, "go mod download") {
				downloadAt = len(copied)
				if !strings.Contains(line, "cd "+modules[len(modules)-1]) {
					t.Errorf("`go mod download` does not run in module %s: %q", modules[len(modules)-1], line)
				}
			}
			if strings.Contains(line, "hack/build.sh "+name+" ") {
				built = true
				if !strings.Contains(line, "VERSION=") {
					t.Errorf("build does not pass VERSION to hack/build.sh: %q", line)
				}
			}
			if strings.Contains(line, "go build") {
				t.Errorf("go build called directly (%q); build flags live in hack/build.sh only", line)
			}
		}
	}
	if env["GOWORK"] != "off" || env["CGO_ENABLED"] != "0" {
		t.Errorf("ENV GOWORK=%q CGO_ENABLED=%q; want off and 0", env["GOWORK"], env["CGO_ENABLED"])
	}
	if !versionArgs {
		t.Error("no ARG VERSION: the version cannot be stamped")
	}
	if !built {
		t.Errorf("the binary is not built by hack/build.sh %s", name)
	}
	if downloadAt < 0 {
		t.Fatal("no `go mod download` layer")
	}
	before := copied[:downloadAt]
	var wantBefore []string
	for _, m := range modules {
		wantBefore = append(wantBefore, m+"/go.mod", m+"/go.sum")
	}
	if !slices.Equal(before, wantBefore) {
		t.Errorf("copied before `go mod download`: %v; want exactly %v (sources after, so the dependency layer is cached)", before, wantBefore)
	}
	for _, m := range modules {
		if !slices.Contains(copied[downloadAt:], m+"/") {
			t.Errorf("module %s/ is not copied after the download", m)
		}
	}
}

// checkContextPath: a path a COPY takes from the build context exists and is
// not excluded by .dockerignore.
func checkContextPath(t *testing.T, root string, ignore *patternmatcher.PatternMatcher, src string) {
	t.Helper()
	rel := strings.TrimSuffix(src, "/")
	if _, err := os.Stat(filepath.Join(root, rel)); err != nil {
		t.Errorf("COPY %s: not in the repository: %v", src, err)
	}
	excluded, err := ignore.MatchesOrParentMatches(rel)
	if err != nil {
		t.Fatal(err)
	}
	if excluded {
		t.Errorf("COPY %s: excluded by .dockerignore", src)
	}
}

func checkFinalStage(t *testing.T, st instructions.Stage, buildStage, name string) {
	t.Helper()
	var user string
	var entrypoint []string
	var copied bool
	for _, cmd := range st.Commands {
		switch c := cmd.(type) {
		case *instructions.UserCommand:
			user = c.User
		case *instructions.EntrypointCommand:
			if c.PrependShell {
				t.Error("ENTRYPOINT in shell form; distroless has no shell")
			}
			entrypoint = c.CmdLine
		case *instructions.CopyCommand:
			if c.From == buildStage && slices.Equal(c.SourcePaths, []string{"/out/" + name}) {
				copied = true
			} else {
				t.Errorf("final stage copies %v from %q; want only the binary from the build stage", c.SourcePaths, c.From)
			}
		case *instructions.RunCommand:
			t.Errorf("RUN in the final stage: %v", c.CmdLine)
		}
	}
	if user != "65532:65532" {
		t.Errorf("USER %q; want 65532:65532 (numeric, so that runAsNonRoot can check it)", user)
	}
	if !copied {
		t.Errorf("the final stage does not copy /out/%s from stage %q", name, buildStage)
	}
	if !slices.Equal(entrypoint, []string{"/" + name}) {
		t.Errorf("ENTRYPOINT %v; want [/%s]", entrypoint, name)
	}
}

func dockerignore(t *testing.T, root string) *patternmatcher.PatternMatcher {
	t.Helper()
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	return pm
}

// TestDockerignoreKeepsContextSmall: the context holds the two modules and the
// build script, and neither the other parts of the repository nor tests.
func TestDockerignoreKeepsContextSmall(t *testing.T) {
	pm := dockerignore(t, repoRoot(t))
	for path, wantExcluded := range map[string]bool{
		"hack/build.sh":               false,
		"webhook/go.mod":              false,
		"webhook/cmd/webhook/main.go": false,
		"scaler/go.sum":               false,
		"scaler/cmd/scaler/main.go":   false,
		"test/go.mod":                 true,
		"charts/memhpa/values.yaml":   true,
		".git/config":                 true,
		"bin/webhook":                 true,
		"hack/tools.sh":               true,
		"webhook/internal/admission/admission_test.go": true,
	} {
		got, err := pm.MatchesOrParentMatches(path)
		if err != nil {
			t.Fatal(err)
		}
		if got != wantExcluded {
			t.Errorf("%s excluded = %v, want %v", path, got, wantExcluded)
		}
	}
}

// TestBuildFlagsInOnePlace: hack/build.sh holds the flags the images use, and
// `make build` runs the same script.
func TestBuildFlagsInOnePlace(t *testing.T) {
	root := repoRoot(t)
	script, err := os.ReadFile(filepath.Join(root, "hack", "build.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CGO_ENABLED=${CGO_ENABLED:-0}", "-trimpath", "-X main.version=$version"} {
		if !bytes.Contains(script, []byte(want)) {
			t.Errorf("hack/build.sh lacks %q", want)
		}
	}
	out := makeDryRun(t, root, "build")
	for _, name := range []string{"webhook", "scaler"} {
		if !strings.Contains(out, "hack/build.sh "+name+" ") {
			t.Errorf("`make build` does not run hack/build.sh %s:\n%s", name, out)
		}
	}
}

// TestMakeImageNames: `make docker-build` honours IMAGE, the per-image
// overrides and TAG, and builds each image from its Dockerfile.
func TestMakeImageNames(t *testing.T) {
	root := repoRoot(t)
	tests := []struct {
		name string
		vars []string
		want []string
	}{
		{"IMAGE is a prefix", []string{"IMAGE=registry.example/me/memhpa", "TAG=v1.2.3"}, []string{
			"-f Dockerfile.webhook -t registry.example/me/memhpa-webhook:v1.2.3 .",
			"-f Dockerfile.scaler -t registry.example/me/memhpa-scaler:v1.2.3 .",
		}},
		{"per-image overrides", []string{"WEBHOOK_IMAGE=a.example/hook", "SCALER_IMAGE=b.example/scale", "TAG=t"}, []string{
			"-f Dockerfile.webhook -t a.example/hook:t .",
			"-f Dockerfile.scaler -t b.example/scale:t .",
		}},
		{"VERSION stamps the binary", []string{"VERSION=v9.8.7"}, []string{
			"--build-arg VERSION=v9.8.7 -f Dockerfile.webhook -t ghcr.io/memhpa/memhpa-webhook:v9.8.7 .",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := makeDryRun(t, root, append([]string{"docker-build"}, tc.vars...)...)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("make -n docker-build %v: no %q in:\n%s", tc.vars, w, out)
				}
			}
		})
	}
	out := makeDryRun(t, root, "push", "IMAGE=registry.example/me/memhpa", "TAG=v1")
	for _, w := range []string{"push registry.example/me/memhpa-webhook:v1", "push registry.example/me/memhpa-scaler:v1"} {
		if !strings.Contains(out, w) {
			t.Errorf("make -n push: no %q in:\n%s", w, out)
		}
	}
}

func makeDryRun(t *testing.T, root string, args ...string) string {
	t.Helper()
	cmd := exec.Command("make", append([]string{"-n", "-C", root, "--no-print-directory"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return fmt.Sprint(string(out))
}
