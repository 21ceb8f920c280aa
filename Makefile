# camagent — build, test and run the camera agent. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
GOBUILD := CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)'
OUT     := out
CACHE   := .cache
GOFILES := $(shell find . -name '*.go' -not -path './.cache/*' -not -path './out/*') go.mod go.sum

.PHONY: help deps build arm64 armv7 mipsle cross test unit e2e run image shell bench fuzz lint clean

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

deps: ## install the host packages and fetch the guest kernel (idempotent)
	@bash scripts/deps.sh

build: ## build camagent (and camcloud) for this host into out/
	$(GOBUILD) -o $(OUT)/camagent ./agent
	$(GOBUILD) -o $(OUT)/camcloud ./uplink/camcloud

$(OUT)/camagent-arm64: $(GOFILES)
	GOOS=linux GOARCH=arm64 $(GOBUILD) -o $@ ./agent
$(OUT)/camagent-armv7: $(GOFILES)
	GOOS=linux GOARCH=arm GOARM=7 $(GOBUILD) -o $@ ./agent
$(OUT)/camagent-mipsle: $(GOFILES)
	GOOS=linux GOARCH=mipsle GOMIPS=softfloat $(GOBUILD) -o $@ ./agent

arm64: $(OUT)/camagent-arm64 ## cross-build for linux/arm64
armv7: $(OUT)/camagent-armv7 ## cross-build for linux/arm GOARM=7
mipsle: $(OUT)/camagent-mipsle ## cross-build for linux/mipsle GOMIPS=softfloat
cross: arm64 armv7 mipsle ## all three cross builds, with their sizes
	@ls -l $(OUT)/camagent-arm64 $(OUT)/camagent-armv7 $(OUT)/camagent-mipsle | awk '{printf "  %-24s %6.2f MB\n", $$9, $$5/1e6}'

image: deps $(OUT)/camagent-arm64 ## build the QEMU camera's initramfs
	@bash scripts/image.sh $(OUT)/camagent-arm64 $(OUT)/initramfs.cpio.gz

run: image ## boot the QEMU camera (vivid + SD image) and show the agent's log
	@$(MAKE) --no-print-directory build
	@bash scripts/qemu.sh run

shell: ## attach to the running QEMU camera's serial console
	@bash scripts/qemu.sh shell

lint: ## gofmt check and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' ; git ls-files -o --exclude-standard '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...

unit: ## unit and integration tests (with -race), and the detector's quality gate (without: too slow under -race)
	go test -race -count=1 ./...
	go test -count=1 -run 'TestEvaluateScenes' ./capture/motion

e2e: image ## the QEMU end-to-end test
	CAMAGENT_E2E=1 go test -count=1 -v -timeout 15m ./scripts/e2e/

test: deps lint cross unit e2e ## everything: vet, cross builds, unit, integration and QEMU end-to-end tests

bench: ## benchmarks (motion vs OpenCV MOG2, recorder, uploads, manifests, ...)
	@bash scripts/deps.sh bench
	go test -run '^$$' -bench . -benchmem ./...
	@bash scripts/livesize.sh

FUZZTIME ?= 10s
fuzz: ## run every fuzz target for FUZZTIME each
	@set -e; for pkg in $$(go list ./...); do \
	  for f in $$(go test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f"; go test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

clean: ## remove build outputs (keeps the downloaded guest kernel in .cache)
	rm -rf $(OUT)

live-size: ## what live view (pion/webrtc) adds to the binary, per architecture
	@bash scripts/livesize.sh
