# Release targets: container images and the chart package.
#   make docker-build                        both images, tagged $(TAG)
#   make IMAGE=registry.example/me/memhpa docker-build
#                                            -> registry.example/me/memhpa-webhook:$(TAG), ...-scaler:$(TAG)
#   make WEBHOOK_IMAGE=... SCALER_IMAGE=...  one image name each
#   make push                                push both
#   make helm-package                        charts/memhpa -> $(CHART_DIR)/memhpa-<version>.tgz
#   make manifests                           charts/memhpa -> $(MANIFESTS) (kubectl apply -f; not committed)

CONTAINER_TOOL ?= docker
IMAGE          ?= ghcr.io/memhpa/memhpa
WEBHOOK_IMAGE  ?= $(IMAGE)-webhook
SCALER_IMAGE   ?= $(IMAGE)-scaler
TAG            ?= $(VERSION)
# Extra flags for `docker build`, e.g. --platform linux/arm64.
DOCKER_BUILD_FLAGS ?=
HELM           ?= $(MEMHPA_BIN)/helm
CHART_DIR      ?= _output/charts
MANIFESTS      ?= dist/memhpa.yaml

##@ Release
.PHONY: docker-build docker-build-webhook docker-build-scaler
docker-build: docker-build-webhook docker-build-scaler ## Build both images (IMAGE=, WEBHOOK_IMAGE=, SCALER_IMAGE=, TAG=)

docker-build-webhook: ## Build the webhook image $(WEBHOOK_IMAGE):$(TAG)
	$(CONTAINER_TOOL) build $(DOCKER_BUILD_FLAGS) --build-arg VERSION=$(VERSION) -f Dockerfile.webhook -t $(WEBHOOK_IMAGE):$(TAG) .

docker-build-scaler: ## Build the scaler image $(SCALER_IMAGE):$(TAG)
	$(CONTAINER_TOOL) build $(DOCKER_BUILD_FLAGS) --build-arg VERSION=$(VERSION) -f Dockerfile.scaler -t $(SCALER_IMAGE):$(TAG) .

.PHONY: push
push: ## Push both images (after docker-build)
	$(CONTAINER_TOOL) push $(WEBHOOK_IMAGE):$(TAG)
	$(CONTAINER_TOOL) push $(SCALER_IMAGE):$(TAG)

.PHONY: helm-package
helm-package: ## Package the chart into $(CHART_DIR), appVersion = TAG
	@test -x "$(HELM)" || hack/tools.sh helm
	@mkdir -p $(CHART_DIR)
	$(HELM) package charts/memhpa --app-version $(TAG) --destination $(CHART_DIR)

.PHONY: manifests
manifests: ## Render one install manifest into dist/memhpa.yaml (namespace, CRD, cert-manager TLS; IMAGE=, TAG= name the images)
	@test -x "$(HELM)" || hack/tools.sh helm
	HELM=$(HELM) hack/manifests.sh $(MANIFESTS) \
	  --set webhook.image.repository=$(WEBHOOK_IMAGE) --set webhook.image.tag=$(TAG) \
	  --set scaler.image.repository=$(SCALER_IMAGE) --set scaler.image.tag=$(TAG)
