################################################################################
#
# camagent
#
################################################################################

# The source is the repository this external tree lives in
# (scripts/package/buildroot, three levels down). Buildroot rsyncs it into
# the build directory; the exclusions keep out build outputs and the QEMU
# guest kernel cache.
CAMAGENT_VERSION = local
CAMAGENT_SITE = $(realpath $(BR2_EXTERNAL_CAMAGENT_PATH)/../../..)
CAMAGENT_SITE_METHOD = local
CAMAGENT_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude /out --exclude /.cache --exclude '*.test'
# No CAMAGENT_LICENSE: the repository has no LICENSE file yet (legal-info
# reports "unknown").
CAMAGENT_FILES = $(BR2_EXTERNAL_CAMAGENT_PATH)/..
CAMAGENT_BOARD = $(call qstrip,$(BR2_PACKAGE_CAMAGENT_BOARD))
CAMAGENT_GIT_VERSION = $(shell git -C $(CAMAGENT_SITE) describe --tags --always --dirty 2>/dev/null || echo dev)

ifeq ($(BR2_PACKAGE_CAMAGENT_FROM_SOURCE),y)

CAMAGENT_GOMOD = github.com/camagent/camagent
CAMAGENT_BUILD_TARGETS = agent
CAMAGENT_BIN_NAME = camagent
CAMAGENT_LDFLAGS = -s -w -X main.version=$(CAMAGENT_GIT_VERSION)
# Built as the repository's Makefile builds it (README "Size budget"):
# without net/http's unused HTTP/2, and the control-plane packages listed in
# scripts/noinline.txt without inlining (0.6 MB smaller on armv7).
CAMAGENT_TAGS = nethttpomithttp2
CAMAGENT_BUILD_OPTS = $(foreach p,$(shell grep '^[a-z]' $(CAMAGENT_SITE)/scripts/noinline.txt),-gcflags=$(p)=-l)
# Pure Go: no cgo, a static binary whatever the toolchain. GOTOOLCHAIN=local
# makes a host-go older than go.mod's "go" line fail with a clear message
# instead of trying to download a toolchain.
CAMAGENT_GO_ENV = CGO_ENABLED=0 GOTOOLCHAIN=local
CAMAGENT_GOPROXY = $(call qstrip,$(BR2_PACKAGE_CAMAGENT_GOPROXY))

# A local site has no download step, which is where Buildroot vendors the
# Go modules (its Go builds run with -mod=vendor and GOPROXY=off). Vendor
# here when the source tree has no vendor/ of its own.
define CAMAGENT_GO_VENDOR
	if [ ! -d $(@D)/vendor ]; then \
		cd $(@D) && $(HOST_GO_TARGET_ENV) GOFLAGS=-mod=mod \
			GOPROXY=$(CAMAGENT_GOPROXY) GOTOOLCHAIN=local \
			$(GO_BIN) mod vendor; \
	fi
endef
CAMAGENT_PRE_BUILD_HOOKS += CAMAGENT_GO_VENDOR

else # prebuilt

CAMAGENT_PREBUILT_BIN = $(call qstrip,$(BR2_PACKAGE_CAMAGENT_PREBUILT_PATH))

define CAMAGENT_INSTALL_TARGET_CMDS
	test -f $(CAMAGENT_PREBUILT_BIN) || { \
		echo "camagent: no prebuilt binary at $(CAMAGENT_PREBUILT_BIN) (make mipsle/armv7/arm64 in the repository)"; \
		exit 1; }
	$(INSTALL) -D -m 0755 $(CAMAGENT_PREBUILT_BIN) $(TARGET_DIR)/usr/bin/camagent
endef

endif

# Config, persistent data directory, SD card mount point. The generated
# config only names the board; every other key takes camagent's default
# (camagent.example.toml beside it documents them all). A rootfs overlay's
# camagent.toml, copied later, replaces it.
define CAMAGENT_INSTALL_FILES
	$(INSTALL) -d -m 0755 $(TARGET_DIR)/etc/camagent $(TARGET_DIR)/mnt/sd
	$(INSTALL) -D -m 0755 $(CAMAGENT_FILES)/camagent-sd-check \
		$(TARGET_DIR)/usr/sbin/camagent-sd-check
	$(INSTALL) -d -m 0700 $(TARGET_DIR)/var/lib/camagent
	$(INSTALL) -m 0644 $(CAMAGENT_SITE)/agent/config/camagent.example.toml \
		$(TARGET_DIR)/etc/camagent/camagent.example.toml
	if [ ! -e $(TARGET_DIR)/etc/camagent/camagent.toml ]; then \
		printf '%s\n' \
			'# camagent configuration: only what differs from the defaults.' \
			'# Every key, with its default and range: camagent.example.toml.' \
			'board = "$(CAMAGENT_BOARD)"' \
			>$(TARGET_DIR)/etc/camagent/camagent.toml; \
	fi
endef
CAMAGENT_POST_INSTALL_TARGET_HOOKS += CAMAGENT_INSTALL_FILES

define CAMAGENT_INSTALL_INIT_SYSV
	$(INSTALL) -D -m 0755 $(CAMAGENT_FILES)/S90camagent \
		$(TARGET_DIR)/etc/init.d/S90camagent
endef

define CAMAGENT_INSTALL_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(CAMAGENT_FILES)/camagent.service \
		$(TARGET_DIR)/usr/lib/systemd/system/camagent.service
endef

ifeq ($(BR2_PACKAGE_CAMAGENT_FROM_SOURCE),y)
$(eval $(golang-package))
else
$(eval $(generic-package))
endif
