// Package chart tests the Helm chart (charts/memhpa) and the release files
// around it without a cluster: helm lint, helm template over every value set in
// charts/memhpa/ci, the values schema (it refuses typos and bad values, and it
// agrees with values.yaml), static checks of Dockerfile.webhook,
// Dockerfile.scaler and .dockerignore with BuildKit's own parser, what
// hack/build.sh says while it runs (with a stand-in go command), and that
// `make test` runs hack/verify.sh's fast checks first, which name each break
// of a copy of the repository with its fix and leave the copy unchanged.
//
// The tests run the pinned helm binary that hack/tools.sh builds into
// $MEMHPA_BIN (default ${XDG_CACHE_HOME:-$HOME/.cache}/memhpa/bin); a missing
// binary fails the test with the command that builds it. Installing the chart
// on a real apiserver is tested in test/e2e.
package chart
