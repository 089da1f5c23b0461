# kubepay Makefile (kubebuilder v4 layout). `make help` lists the targets.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

IMG ?= kubepay/manager:latest
# Platforms `make image` builds; the image is the same for the same sources and SOURCE_DATE_EPOCH
# (default: the last commit's time, 0 outside git).
PLATFORMS ?= linux/amd64,linux/arm64
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
GO ?= go
CONTROLLER_GEN ?= $(GO) tool controller-gen
# golangci-lint is pinned in a module of its own (hack/tools) so its dependencies stay out of the
# manager's go.mod; the first run builds it from the Go module proxy.
GOLANGCI_LINT ?= $(GO) tool -modfile=hack/tools/go.mod golangci-lint
# Control-plane binaries for envtest, built from the Go module proxy by hack/ (no downloads).
K8S_VERSION ?= 1.37.2
TEST_TIMEOUT ?= 30m
# The kubectl hack/ builds (kustomize included); override to use your own.
KUBECTL ?= bin/k8s/$(K8S_VERSION)/kubectl
# helm v4, pinned beside golangci-lint in hack/tools; the first run builds it (about 9 minutes).
HELM ?= $(GO) tool -modfile=hack/tools/go.mod helm
CHART ?= charts/kubepay

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: ## Generate CRDs and RBAC from the kubebuilder markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./api/..." paths="./controllers/..." paths="./webhook/..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	@$(MAKE) --no-print-directory helm-sync

.PHONY: generate
generate: ## Generate DeepCopy methods and the currency tables (Go and CRD rules) from the ISO 4217 list.
	$(GO) generate ./internal/money
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run go fmt.
	$(GO) fmt ./...

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...

.PHONY: lint
lint: ## Run golangci-lint with .golangci.yml (version pinned in hack/tools/go.mod).
	$(GOLANGCI_LINT) run ./...
	cd test/rules && $(GO) tool -modfile=../../hack/tools/go.mod golangci-lint run ./...

.PHONY: control-plane
control-plane: ## Get kube-apiserver, etcd and kubectl into bin/k8s: setup-envtest release, else built from source (skipped when present).
	K8S_VERSION=$(K8S_VERSION) hack/build-control-plane.sh >/dev/null

.PHONY: test
test: vet control-plane ## Run all tests on a real kube-apiserver + etcd (envtest).
	KUBEBUILDER_ASSETS="$$(K8S_VERSION=$(K8S_VERSION) hack/build-control-plane.sh 2>/dev/null)" \
		$(GO) test ./... -count=1 -timeout $(TEST_TIMEOUT)
	# The alerts and dashboard checks are a module of their own (see test/rules/go.mod).
	cd test/rules && KUBEBUILDER_ASSETS="$$(cd ../.. && K8S_VERSION=$(K8S_VERSION) hack/build-control-plane.sh 2>/dev/null)" \
		$(GO) test ./... -count=1 -timeout $(TEST_TIMEOUT)

##@ Build

.PHONY: build
build: ## Build the manager and sandbox gateway binaries into bin/.
	$(GO) build -o bin/manager ./cmd/manager
	$(GO) build -o bin/sandbox-gateway ./cmd/sandbox-gateway

.PHONY: run
run: ## Run the manager against the cluster in ~/.kube/config.
	$(GO) run ./cmd/manager

.PHONY: demo
demo: ## Run kubepay end to end on a local control plane (DEMO_EXIT=1 exits after the story).
	$(GO) build -o bin/kubepay-demo ./hack/demo
	bin/kubepay-demo

.PHONY: image
image: ## Build the manager image (IMG) for PLATFORMS without a container engine: OCI layout bin/image/layout and bin/image/manager.oci.tar.
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run ./hack/image -img $(IMG) -platforms $(PLATFORMS) -out bin/image

.PHONY: docker-build
docker-build: ## Build the manager image (needs a Docker engine).
	docker build -t $(IMG) .

##@ Deployment

.PHONY: install
install: manifests control-plane ## Install the CRDs into the cluster in ~/.kube/config.
	$(KUBECTL) apply -k config/crd

.PHONY: uninstall
uninstall: control-plane ## Remove the CRDs.
	$(KUBECTL) delete -k config/crd --ignore-not-found

# deploy and build-installer render this overlay: config/default with kustomize's images override set to IMG.
DEPLOY_OVERLAY ?= bin/deploy

.PHONY: deploy
deploy: manifests control-plane ## Deploy the manager (image IMG) to the cluster in ~/.kube/config.
	hack/deploy-overlay.sh $(IMG) $(DEPLOY_OVERLAY) >/dev/null
	$(KUBECTL) apply -k $(DEPLOY_OVERLAY)

.PHONY: undeploy
undeploy: control-plane ## Remove the manager from the cluster.
	$(KUBECTL) delete -k config/default --ignore-not-found

.PHONY: build-installer
build-installer: manifests control-plane ## Write one dist/install.yaml (image IMG) with everything to deploy.
	mkdir -p dist
	hack/deploy-overlay.sh $(IMG) $(DEPLOY_OVERLAY) >/dev/null
	$(KUBECTL) kustomize $(DEPLOY_OVERLAY) > dist/install.yaml

##@ Helm

.PHONY: helm-sync
helm-sync: ## Copy the generated CRDs (config/crd/bases), manager ClusterRole (config/rbac/role.yaml) and alert rules (config/prometheus/rules.yaml) into charts/kubepay; manifests runs it.
	rm -f $(CHART)/crds/*.yaml
	cp config/crd/bases/*.yaml $(CHART)/crds/
	cp config/rbac/role.yaml $(CHART)/files/manager-role.yaml
	cp config/prometheus/rules.yaml $(CHART)/files/prometheus-rules.yaml

.PHONY: helm-lint
helm-lint: ## Lint charts/kubepay with its defaults and with every option on (test/helm/testdata/values-all-on.yaml).
	$(HELM) lint --strict $(CHART)
	$(HELM) lint --strict $(CHART) -f test/helm/testdata/values-all-on.yaml

HELM_RELEASE ?= kubepay
HELM_NAMESPACE ?= kubepay-system
HELM_VALUES ?=

.PHONY: helm-template
helm-template: ## Print the chart's manifests, CRDs included (HELM_RELEASE, HELM_NAMESPACE, HELM_VALUES=file).
	@$(HELM) template $(HELM_RELEASE) $(CHART) --namespace $(HELM_NAMESPACE) --include-crds $(if $(HELM_VALUES),--values $(HELM_VALUES))

.PHONY: helm-package
helm-package: ## Package charts/kubepay into dist/.
	mkdir -p dist
	$(HELM) package $(CHART) --destination dist

##@ Measurement

.PHONY: bench
bench: ## Benchmark kubepay against the API server's own limit, transition Events on and off, API writes named per order (BENCH_ORDERS, BENCH_CONCURRENCY, BENCH_PACED, BENCH_PACE_FRACTIONS, BENCH_TRANSITION_EVENTS); writes bin/bench/results.json.
	$(GO) run ./test/bench -scale 0
	$(GO) test -run '^$$' -bench . -benchmem ./internal/statemachine/ ./providers/...

BENCH_SCALE ?= 20000
.PHONY: bench-scale
bench-scale: ## Benchmark an empty cluster against one holding BENCH_SCALE settled orders (start to ready, heap, latency, etcd bytes, retention); writes bin/bench/scale.json.
	$(GO) run ./test/bench -scale $(BENCH_SCALE)

FUZZTIME ?= 30s
# Every fuzz target: package and function. Their seed corpora (testdata/fuzz) also run in make test.
FUZZ_TARGETS = ./internal/money:FuzzToMinor ./providers/sandbox:FuzzParseNotification \
	./providers/stripe:FuzzParseNotification ./providers/alipay:FuzzParseNotification \
	./providers/wechatpay:FuzzParseNotification

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 30s).
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "== $$fn in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

.PHONY: soak
soak: ## Soak kubepay under chaos: 2 managers and the gateway killed and restarted (SOAK_ORDERS, default 1000; SOAK_QUICK=1 for 100); writes bin/soak/results.json.
	$(GO) run ./test/soak
