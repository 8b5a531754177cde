# The team's habits. `make help` lists them.
GO        ?= go
PKGS      ?= ./...
FUZZTIME  ?= 60s
STATICCHECK_VERSION ?= v0.8.2
VERSION   ?= $(shell ./scripts/release.sh version)
COMMIT    ?= $(shell c=$$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown); git diff --quiet HEAD 2>/dev/null || c=$$c-dirty; echo $$c)
BUILDDATE ?= $(shell date -u -d @$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null || date +%s)} +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS   := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(BUILDDATE)

.PHONY: help build run test race lint fmt vet fuzz fuzz-short bench peers container-check webdocs release arm-check unit-check openapi-lint

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

build: ## build ./sipphone
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o sipphone ./cmd/sipphone

release: ## static binaries and tarballs for linux/amd64, arm64, arm/v7 with SHA256SUMS, in dist/
	./scripts/release.sh

arm-check: ## run the arm64 and armv7 binaries under qemu-user against baresip (builds them first)
	./scripts/arm-check.sh

unit-check: ## systemd-analyze verify and security on deploy/sipphone.service
	./deploy/check-unit.sh

openapi-lint: ## lint the served /openapi.json with Redocly's CLI (npm)
	./scripts/openapi-lint.sh

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
	sudo apt-get install -y sip-tester baresip-core multimon-ng sox espeak-ng chromium mosquitto mosquitto-clients qemu-user nodejs npm

container-check: ## build every Dockerfile stage and the amd64/arm64 images with buildah, run them
	bash scripts/container-check.sh

webdocs: ## refresh the embedded API docs viewer from npm
	bash scripts/update-webdocs.sh
