# camagent — build, test and run the camera agent. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
GOBUILD := CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)'
# The agent is built without net/http's bundled HTTP/2 (the standard library's
# nethttpomithttp2 tag). Its upload transport sets its own TLS config and
# dialer and never asks for HTTP/2, so it speaks HTTP/1.1 either way; the tag
# only drops the unused code: 0.46 MB of the armv7 binary (make size).
AGENTTAGS := nethttpomithttp2
# The packages of scripts/noinline.txt (the control plane: never per frame)
# are compiled without inlining: 0.59 MB smaller stripped, 0.20 MB xz on
# armv7 (README "Size budget"). `make size NOINLINE=` measures without.
NOINLINE := $(shell grep '^[a-z]' scripts/noinline.txt)
AGENTBUILD := $(GOBUILD) -tags '$(AGENTTAGS)' $(foreach p,$(NOINLINE),-gcflags=$(p)=-l)
OUT     := out
CACHE   := .cache
GOFILES := $(shell find . -name '*.go' -not -path './.cache/*' -not -path './out/*') go.mod go.sum scripts/noinline.txt

.PHONY: storm crossunit size powercut help deps build arm64 armv7 mipsle cross test unit e2e run image shell bench fuzz lint clean memcheck

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

deps: ## install the host packages and fetch the guest kernel (idempotent)
	@bash scripts/deps.sh

build: ## build camagent (and camcloud) for this host into out/
	$(AGENTBUILD) -o $(OUT)/camagent ./agent
	$(GOBUILD) -o $(OUT)/camcloud ./uplink/camcloud
	$(GOBUILD) -o $(OUT)/devsntp ./board/timesync/devsntp

$(OUT)/camagent-arm64: $(GOFILES)
	GOOS=linux GOARCH=arm64 $(AGENTBUILD) -o $@ ./agent
$(OUT)/camagent-armv7: $(GOFILES)
	GOOS=linux GOARCH=arm GOARM=7 $(AGENTBUILD) -o $@ ./agent
$(OUT)/camagent-mipsle: $(GOFILES)
	GOOS=linux GOARCH=mipsle GOMIPS=softfloat $(AGENTBUILD) -o $@ ./agent

arm64: $(OUT)/camagent-arm64 ## cross-build for linux/arm64
armv7: $(OUT)/camagent-armv7 ## cross-build for linux/arm GOARM=7
mipsle: $(OUT)/camagent-mipsle ## cross-build for linux/mipsle GOMIPS=softfloat
cross: arm64 armv7 mipsle ## all three cross builds, with their sizes
	@ls -l $(OUT)/camagent-arm64 $(OUT)/camagent-armv7 $(OUT)/camagent-mipsle | awk '{printf "  %-24s %6.2f MB\n", $$9, $$5/1e6}'
	@# The small-board build (no live view, no Home Assistant) must build too;
	@# vet checks it on every architecture without linking (cheap).
	for a in arm64:: arm:7: mipsle::softfloat; do IFS=: read -r arch arm mips <<<"$$a"; \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch GOARM=$$arm GOMIPS=$$mips go vet -tags nolive,nohass ./agent/... || exit 1; done

# The QEMU camera: ARCH=arm64 (the default, -M virt) or ARCH=mipsle (-M malta).
ARCH ?= arm64
IMAGE_arm64  := $(OUT)/initramfs.cpio.gz
IMAGE_mipsle := $(OUT)/initramfs-mipsle.cpio.gz

image: deps $(OUT)/camagent-$(ARCH) ## build the QEMU camera's initramfs (ARCH=arm64|mipsle)
	@CAMERA_ARCH=$(ARCH) bash scripts/image.sh $(OUT)/camagent-$(ARCH) $(IMAGE_$(ARCH))

run: image ## boot the QEMU camera (vivid + SD image) and show the agent's log (ARCH=mipsle: the MIPS one)
	@$(MAKE) --no-print-directory build
	@CAMERA_ARCH=$(ARCH) bash scripts/qemu.sh run

shell: ## attach to the running QEMU camera's serial console
	@CAMERA_ARCH=$(ARCH) bash scripts/qemu.sh shell

size: ## the size budget: stripped and xz sizes per architecture and tag set (default, nolive,nohass), top packages (TAGS=... for one set)
	@AGENTTAGS=$(AGENTTAGS) NOINLINE='$(NOINLINE)' bash scripts/size.sh $(TAGS)

lint: ## gofmt check and go vet, also for 32-bit GOARCH=386 (catches what 32-bit cameras would hit)
	@out=$$(gofmt -l $$(git ls-files '*.go' ; git ls-files -o --exclude-standard '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...
	CGO_ENABLED=0 GOARCH=386 go build ./...
	CGO_ENABLED=0 GOARCH=386 go vet ./...

unit: ## unit and integration tests (with -race), and the detector's quality gate (without: too slow under -race)
	go test -race -count=1 ./...
	@# The HTTP client and server of the agent again as the agent is built (AGENTTAGS: no HTTP/2).
	go test -count=1 -tags '$(AGENTTAGS)' ./uplink/upload/ ./agent/control/
	go test -count=1 -run 'TestEvaluateScenes' ./capture/motion
	go test -count=1 -run '^TestStorm$$' ./uplink/ingest/storm
	@$(MAKE) --no-print-directory crossunit

crossunit: ## V4L2 struct layouts and ioctl numbers checked on the 32-bit targets (under qemu-user)
	GOARCH=arm GOARM=7 go test -count=1 -exec qemu-arm-static -run 'V4L2|Ioc|Webcam' ./capture/
	GOARCH=mipsle GOMIPS=softfloat go test -count=1 -exec qemu-mipsel-static -run 'V4L2|Ioc|Webcam' ./capture/

e2e: ## the QEMU end-to-end test, on the arm64 and the mipsle camera
	@$(MAKE) --no-print-directory image ARCH=arm64
	@$(MAKE) --no-print-directory image ARCH=mipsle
	CAMAGENT_E2E=1 go test -count=1 -v -timeout 25m ./scripts/e2e/

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

POWERCUTS ?= 20
powercut: image ## cut the QEMU camera's power POWERCUTS times on vfat and on ext4, then check card and cloud
	CAMAGENT_E2E=1 CAMAGENT_POWERCUTS=$(POWERCUTS) go test -count=1 -v -timeout 120m -run '^TestPowerCut$$' ./scripts/e2e/
live-size: ## what live view (pion/webrtc) adds to the binary, per architecture
	@bash scripts/livesize.sh

MEMCHECK ?= 10m
memcheck: ## the long memory measurement in the arm64 QEMU camera (MEMCHECK=10m): RSS min/median/max with vivid's movement on and off
	@$(MAKE) --no-print-directory image ARCH=arm64
	CAMAGENT_MEMCHECK=$(MEMCHECK) go test -count=1 -v -timeout 60m -run TestMemCheck ./scripts/e2e/

STORM_N ?= 13000
STORM_SCALE ?= 1
storm: ## the reconnect storm at the incident's size (STORM_N cameras, jitter vs none); report in out/storm
	CAMAGENT_STORM_N=$(STORM_N) CAMAGENT_STORM_SCALE=$(STORM_SCALE) CAMAGENT_STORM_OUT=$(CURDIR)/$(OUT)/storm \
	  go test -count=1 -v -timeout 90m -run '^TestStorm$$' ./uplink/ingest/storm
