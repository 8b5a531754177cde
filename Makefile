# The team's habits. `make help` lists them.
GO        ?= go
PKGS      ?= ./...
FUZZTIME  ?= 60s
STATICCHECK_VERSION ?= v0.8.2
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: help build run test race lint fmt vet fuzz fuzz-short bench peers container-check webdocs

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

build: ## build ./sipphone
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o sipphone ./cmd/sipphone

run: ## run the server with built-in defaults
	$(GO) run ./cmd/sipphone

test: ## run every test (peers missing are skipped with a hint)
	$(GO) test $(PKGS)

race: ## run every test under the race detector
	$(GO) test -race $(PKGS)

fmt: ## format the code
	gofmt -w $$(git ls-files '*.go')

vet: ## gofmt check and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

lint: vet ## vet plus staticcheck
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

fuzz: ## run every fuzz target for FUZZTIME each (default 60s)
	./scripts/fuzz.sh $(FUZZTIME)

fuzz-short: ## run every fuzz target briefly (as CI does)
	./scripts/fuzz.sh 5s

bench: ## run the benchmarks (results go in BENCHMARKS.md)
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

peers: ## install the real protocol peers the tests use (Debian)
	sudo apt-get install -y sip-tester baresip-core multimon-ng sox espeak-ng chromium

container-check: ## build the runtime image with buildah and check it answers /healthz
	bash scripts/container-check.sh

webdocs: ## refresh the embedded API docs viewer from npm
	bash scripts/update-webdocs.sh
