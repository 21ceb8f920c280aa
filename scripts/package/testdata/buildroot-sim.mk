# A stand-in for Buildroot's package infrastructure, just enough to evaluate
# buildroot/package/camagent/camagent.mk and run its steps in the order
# pkg-generic.mk and pkg-golang.mk do: rsync the local source with the
# package's exclusions, the pre-build hooks (vendoring), go build with
# -mod=vendor and GOPROXY=off, the install commands and hooks. It is not
# Buildroot: it checks the .mk's variables, hooks and paths, not Buildroot
# itself.
#
#   make -f buildroot-sim.mk EXT=.../buildroot CONFIG=file.config OUT=dir
include $(CONFIG)
BR2_EXTERNAL_CAMAGENT_PATH := $(EXT)
qstrip = $(strip $(subst ",,$(1)))
INSTALL := install
TARGET_DIR := $(OUT)/target
BUILD_DIR := $(OUT)/build
GO_BIN := $(shell command -v go)
HOST_GO_TARGET_ENV := GO111MODULE=on GOFLAGS=-mod=vendor GOPROXY=off GOARCH=arm64 CGO_ENABLED=1
pkgname := camagent
golang-package = $(eval CAMAGENT_KIND := golang)
generic-package = $(eval CAMAGENT_KIND := generic)
include $(EXT)/external.mk
D := $(BUILD_DIR)/camagent-$(CAMAGENT_VERSION)

define sep


endef

.PHONY: all
all: $(D)/.stamp_installed

# Buildroot's targets are stamp files in the build directory, so $(@D) is it.
$(D)/.stamp_installed:
	mkdir -p $(@D) $(TARGET_DIR)
	rsync -au --chmod=u=rwX,go=rX --exclude .git $(CAMAGENT_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS) $(CAMAGENT_SITE)/ $(@D)
ifeq ($(CAMAGENT_KIND),golang)
	$(foreach h,$(CAMAGENT_PRE_BUILD_HOOKS),$(call $(h))$(sep))
	cd $(@D) && $(HOST_GO_TARGET_ENV) $(CAMAGENT_GO_ENV) $(GO_BIN) build -ldflags "$(CAMAGENT_LDFLAGS)" \
		-tags "$(CAMAGENT_TAGS)" $(CAMAGENT_BUILD_OPTS) -modcacherw -trimpath -buildvcs=false \
		-o $(@D)/bin/$(CAMAGENT_BIN_NAME) $(CAMAGENT_GOMOD)/$(CAMAGENT_BUILD_TARGETS)
	$(INSTALL) -D -m 0755 $(@D)/bin/$(CAMAGENT_BIN_NAME) $(TARGET_DIR)/usr/bin/$(CAMAGENT_BIN_NAME)
else
	$(CAMAGENT_INSTALL_TARGET_CMDS)
endif
	$(foreach h,$(CAMAGENT_POST_INSTALL_TARGET_HOOKS),$(call $(h))$(sep))
	$(CAMAGENT_INSTALL_INIT_SYSV)
	$(CAMAGENT_INSTALL_INIT_SYSTEMD)
	touch $@
