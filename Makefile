# memhpa: a memory-based Horizontal Pod Autoscaler for Kubernetes.
# `make help` lists the targets. Pinned versions: hack/versions.env.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

include hack/versions.env
# The product's toolchain (hack/versions.env); the go command fetches it once.
export GOTOOLCHAIN := $(GO_TOOLCHAIN)
MODULES      := webhook scaler test
CACHE        ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/memhpa
MEMHPA_BIN   ?= $(CACHE)/bin
export MEMHPA_BIN
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GO_TEST_FLAGS ?= -race -count=1
# One place for the build flags of the product binaries: `make build` and both
# Dockerfiles use exactly these (see hack/build.sh).
BIN_DIR      := bin
# up, demo and bench run the binaries `make build` just made.
PRODUCT_BINS := MEMHPA_WEBHOOK_BIN=$(CURDIR)/$(BIN_DIR)/webhook MEMHPA_SCALER_BIN=$(CURDIR)/$(BIN_DIR)/scaler
# make bench's comparison mode (one Prometheus query per MemHpa) builds only
# with this tag, so the product has neither its flag nor its code; its tests
# run in make test and make test-unit as a second pass over these packages.
BENCH_TAGS   := memhpabench
BENCH_PKGS   := ./internal/app ./internal/controller ./internal/promsource ./internal/promquery
# Flags of memhpa-bench, e.g. BENCH_FLAGS=-scale-points=100,1000 for a run
# without the 10,000-MemHpa point (go run ./cmd/memhpa-bench -help lists them).
BENCH_FLAGS  ?=

# Targets of one area each (release: images, chart packaging) live beside this file.
-include hack/make/*.mk

##@ General
.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development
.PHONY: generate
generate: ## Regenerate deep-copy, clientset, listers, informers and the CRD
	hack/update-codegen.sh

.PHONY: fmt
fmt: ## Format all Go code
	"$$(go env GOROOT)/bin/gofmt" -w $(MODULES) certs

.PHONY: tools
tools: ## Build the pinned control plane, kwok, helm (cached outside the clone) and install Prometheus
	hack/tools.sh

##@ Build
.PHONY: build
build: ## Build the webhook and scaler binaries into bin/
	hack/build.sh webhook $(BIN_DIR)/webhook
	hack/build.sh scaler $(BIN_DIR)/scaler

##@ Test
.PHONY: test
# verify-fast first (make runs prerequisites left to right): an unformatted
# file or a stale CRD fails in seconds, before the tools and the slow tests.
test: verify-fast tools ## Run the fast checks, then every test of every module, including end-to-end tests on the local control plane
	@for m in $(MODULES); do echo "== go test ($$m)"; (cd $$m && go test $(GO_TEST_FLAGS) -timeout 45m ./...) || exit 1; done
	@echo "== go test -tags $(BENCH_TAGS) (scaler)"; cd scaler && go test $(GO_TEST_FLAGS) -tags $(BENCH_TAGS) $(BENCH_PKGS)

.PHONY: test-unit
test-unit: ## Run the tests that need no control plane (fast)
	@for m in webhook scaler; do echo "== go test ($$m)"; (cd $$m && go test $(GO_TEST_FLAGS) ./...) || exit 1; done
	@echo "== go test -tags $(BENCH_TAGS) (scaler)"; cd scaler && go test $(GO_TEST_FLAGS) -tags $(BENCH_TAGS) $(BENCH_PKGS)

.PHONY: verify
verify: ## The fast checks, plus: each module builds alone (GOWORK=off), govulncheck (offline) finds no reachable vulnerability
	hack/verify.sh

.PHONY: verify-fast
verify-fast: ## Fail when code is unformatted, vet fails, generated code or the CRD is stale, or a pure package does I/O (make test runs this first)
	hack/verify.sh fast

##@ Local control plane
.PHONY: up
up: tools build ## Start the local control plane with memhpa in the background
	cd test && $(PRODUCT_BINS) go run ./cmd/memhpa-dev up

.PHONY: down
down: ## Stop the local control plane; nothing is left running
	cd test && go run ./cmd/memhpa-dev down

.PHONY: demo
demo: tools build ## Build everything, start a local control plane and show memhpa at work
	cd test && $(PRODUCT_BINS) go run ./cmd/memhpa-dev demo

##@ Fuzzing and benchmarks
.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 10 million executions: 10000000x)
	hack/fuzz.sh

.PHONY: bench
bench: tools build ## Measure memhpa against same-run baselines and write docs/performance.md (not part of make test)
	MEMHPA_BUILD_TAGS=$(BENCH_TAGS) hack/build.sh scaler $(BIN_DIR)/scaler-bench
	cd test && $(PRODUCT_BINS) MEMHPA_SCALER_BENCH_BIN=$(CURDIR)/$(BIN_DIR)/scaler-bench go run ./cmd/memhpa-bench $(BENCH_FLAGS)
