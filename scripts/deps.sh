#!/usr/bin/env bash
# deps.sh: install what building, running and testing camagent needs, idempotently.
#
# Host packages come from apt-get (only the missing ones are installed; nothing is
# printed when everything is there). The guests' Debian kernels, busybox and card
# check tools (arm64 and mipsel) are downloaded with apt-get download (not
# installed) and unpacked into the cache folder (.cache/, ignored by git); see
# ARCHITECTURE.md ("Building, running and testing").
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cache=${CAMAGENT_CACHE:-$top/.cache}
guest=$cache/guest

# Host packages: the QEMU camera (qemu-system-arm, qemu-user-static for arm test
# binaries, cpio and kmod for the initramfs, dosfstools/mtools/e2fsprogs for the SD
# image) and the test peers (ffmpeg for ffprobe, mosquitto for MQTT).
host_pkgs=(qemu-system-arm qemu-user-static cpio kmod dosfstools mtools e2fsprogs
  ffmpeg busybox socat openssl mosquitto chromium)
# the MIPS camera (qemu-system-mipsel) and `make size` (xz)
host_pkgs+=(qemu-system-mips xz-utils)

# The official C2PA reader the Content Credentials tests run (node + npm; a
# nodesource nodejs already brings npm, so only ask apt when one is missing).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then host_pkgs+=(nodejs npm); fi

say() { printf 'deps: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else say "need root to run: $* (run as root or install sudo)"; exit 1; fi
}

# `deps.sh bench` adds what `make bench` compares against: OpenCV's MOG2
# background subtractor (Debian's python3-opencv, run with /usr/bin/python3).
if [ "${1:-}" = bench ]; then host_pkgs+=(python3-opencv); fi

missing=()
for p in "${host_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq >/dev/null
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  say "installed ${#missing[@]} package(s)"
fi

# The guests: Debian's kernel (with its modules) and static busybox for each QEMU
# camera, arm64 (`-M virt`) in $cache/guest and mipsel (`-M malta`, a MIPS32
# little-endian camera like the Ingenic T31 ones) in $cache/guest-mipsle.
# fetch_guest DIR DEBARCH KERNEL-METAPACKAGE
fetch_guest() {
  local dir=$1 arch=$2 meta=$3 kpkg kver
  [ -f "$dir/ready" ] && return 0
  say "fetching the Debian $arch kernel and busybox into $dir"
  rm -rf "$dir" && mkdir -p "$dir/lists/partial" "$dir/debs" "$dir/root"
  local o=(-oAPT::Architecture="$arch" -oAPT::Architectures="$arch" -oDir::State::Lists="$dir/lists"
    -oDir::Cache="$dir/aptcache" -oDebug::NoLocking=1 -oAPT::Sandbox::User=root)
  mkdir -p "$dir/aptcache/archives/partial"
  apt-get "${o[@]}" update -qq >/dev/null
  kpkg=$(apt-cache "${o[@]}" depends "$meta" | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  [ -n "$kpkg" ] || { say "cannot resolve the $arch kernel package (apt-cache depends $meta)"; exit 1; }
  (cd "$dir/debs" && apt-get "${o[@]}" download -qq "$kpkg" busybox-static >/dev/null)
  for d in "$dir"/debs/*.deb; do dpkg -x "$d" "$dir/root"; done
  kver=$(ls "$dir/root/lib/modules" | head -1)
  depmod -b "$dir/root" "$kver"
  ln -sf "root/boot/vmlinuz-$kver" "$dir/vmlinuz"
  echo "$kver" >"$dir/kver"
  rm -rf "$dir/debs" "$dir/aptcache" "$dir/lists"
  touch "$dir/ready"
  say "guest kernel $kver ($arch) ready"
}
fetch_guest "$guest" arm64 linux-image-arm64
fetch_guest "$guest-mipsle" mipsel linux-image-4kc-malta

# The guests' card check: Debian's dosfstools (fsck.vfat) and e2fsprogs (e2fsck;
# busybox has neither) with the libraries they link, unpacked beside each
# kernel. A marker of its own, so that a cache made before this step gains it
# without refetching the kernel.
# fetch_fsck DIR DEBARCH
fetch_fsck() {
  local dir=$1 arch=$2
  [ -f "$dir/fsck-ready-2" ] && return 0
  say "fetching Debian's $arch dosfstools and e2fsprogs (the guest's card check) into $dir/fsck"
  rm -rf "$dir/fsck" "$dir/fscklists" "$dir/fsckdebs" && mkdir -p "$dir/fscklists/partial" "$dir/fsckdebs" "$dir/fsck"
  local o=(-oAPT::Architecture="$arch" -oAPT::Architectures="$arch" -oDir::State::Lists="$dir/fscklists"
     -oDir::Cache="$dir/fsckaptcache" -oDebug::NoLocking=1 -oAPT::Sandbox::User=root)
  mkdir -p "$dir/fsckaptcache/archives/partial"
  apt-get "${o[@]}" update -qq >/dev/null
  (cd "$dir/fsckdebs" && apt-get "${o[@]}" download -qq dosfstools e2fsprogs libext2fs2 libcom-err2 \
    libblkid1 libuuid1 libc6 >/dev/null)
  for d in "$dir"/fsckdebs/*.deb; do dpkg -x "$d" "$dir/fsck"; done
  rm -rf "$dir/fsckdebs" "$dir/fsckaptcache" "$dir/fscklists"
  for b in sbin/fsck.fat sbin/e2fsck; do
    [ -x "$dir/fsck/$b" ] || { say "the guest's card check: $b missing after unpacking"; exit 1; }
  done
  touch "$dir/fsck-ready-2"
  say "guest fsck.vfat and e2fsck ($arch) ready"
}
fetch_fsck "$guest" arm64
fetch_fsck "$guest-mipsle" mipsel

# The Content Authenticity Initiative's official C2PA reader (c2pa-rs as
# WebAssembly, npm @contentauth/c2pa-wasm) that uplink/c2pa's tests run in
# node, installed exactly as package-lock.json pins it (node_modules is
# ignored by git). Re-run when the lock changes: a copy of the lock installed
# last is kept in node_modules/.camagent-lock.
c2pa_tools=$top/uplink/c2pa/testdata/tools
if ! cmp -s "$c2pa_tools/package-lock.json" "$c2pa_tools/node_modules/.camagent-lock" 2>/dev/null ||
   [ ! -f "$c2pa_tools/node_modules/@contentauth/c2pa-wasm/pkg/c2pa_bg.wasm" ]; then
  say "installing the C2PA reader (npm ci in $c2pa_tools)"
  (cd "$c2pa_tools" && npm ci --no-audit --no-fund --loglevel=error >/dev/null &&
    cp package-lock.json node_modules/.camagent-lock)
fi
