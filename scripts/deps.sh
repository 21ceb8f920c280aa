#!/usr/bin/env bash
# deps.sh: install what building, running and testing camagent needs, idempotently.
#
# Host packages come from apt-get (only the missing ones are installed; nothing is
# printed when everything is there). The guest's Debian arm64 kernel and busybox
# are downloaded with apt-get download (not installed) and unpacked into the cache
# folder (.cache/, ignored by git), as ARCHITECTURE.md ("Building, running and testing") describes.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cache=${CAMAGENT_CACHE:-$top/.cache}
guest=$cache/guest

# Host packages: the QEMU camera (qemu-system-arm, qemu-user-static for arm test
# binaries, cpio and kmod for the initramfs, dosfstools/mtools/e2fsprogs for the SD
# image) and the test peers (ffmpeg for ffprobe).
host_pkgs=(qemu-system-arm qemu-user-static cpio kmod dosfstools mtools e2fsprogs
  ffmpeg busybox socat openssl)

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

# The guest: Debian's arm64 kernel (with its modules) and static busybox.
if [ ! -f "$guest/ready" ]; then
  say "fetching the Debian arm64 kernel and busybox into $guest"
  rm -rf "$guest" && mkdir -p "$guest/lists/partial" "$guest/debs" "$guest/root"
  o=(-oAPT::Architecture=arm64 -oAPT::Architectures=arm64 -oDir::State::Lists="$guest/lists"
     -oDir::Cache="$guest/aptcache" -oDebug::NoLocking=1 -oAPT::Sandbox::User=root)
  mkdir -p "$guest/aptcache/archives/partial"
  apt-get "${o[@]}" update -qq >/dev/null
  kpkg=$(apt-cache "${o[@]}" depends linux-image-arm64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  [ -n "$kpkg" ] || { say "cannot resolve the arm64 kernel package (apt-cache depends linux-image-arm64)"; exit 1; }
  (cd "$guest/debs" && apt-get "${o[@]}" download -qq "$kpkg" busybox-static >/dev/null)
  for d in "$guest"/debs/*.deb; do dpkg -x "$d" "$guest/root"; done
  kver=$(ls "$guest/root/lib/modules" | head -1)
  depmod -b "$guest/root" "$kver"
  ln -sf "root/boot/vmlinuz-$kver" "$guest/vmlinuz"
  echo "$kver" >"$guest/kver"
  rm -rf "$guest/debs" "$guest/aptcache" "$guest/lists"
  touch "$guest/ready"
  say "guest kernel $kver ready"
fi

# The guest's card check: Debian's arm64 dosfstools (fsck.vfat) and e2fsprogs
# (e2fsck; busybox has neither) with the libraries they link, unpacked beside
# the kernel. A marker of its own, so that a cache made before this step
# gains it without refetching the kernel.
if [ ! -f "$guest/fsck-ready-2" ]; then
  say "fetching Debian's arm64 dosfstools and e2fsprogs (the guest's card check) into $guest/fsck"
  rm -rf "$guest/fsck" "$guest/fscklists" "$guest/fsckdebs" && mkdir -p "$guest/fscklists/partial" "$guest/fsckdebs" "$guest/fsck"
  o=(-oAPT::Architecture=arm64 -oAPT::Architectures=arm64 -oDir::State::Lists="$guest/fscklists"
     -oDir::Cache="$guest/fsckaptcache" -oDebug::NoLocking=1 -oAPT::Sandbox::User=root)
  mkdir -p "$guest/fsckaptcache/archives/partial"
  apt-get "${o[@]}" update -qq >/dev/null
  (cd "$guest/fsckdebs" && apt-get "${o[@]}" download -qq dosfstools e2fsprogs libext2fs2 libcom-err2 \
    libblkid1 libuuid1 libc6 >/dev/null)
  for d in "$guest"/fsckdebs/*.deb; do dpkg -x "$d" "$guest/fsck"; done
  rm -rf "$guest/fsckdebs" "$guest/fsckaptcache" "$guest/fscklists"
  for b in sbin/fsck.fat sbin/e2fsck; do
    [ -x "$guest/fsck/$b" ] || { say "the guest's card check: $b missing after unpacking"; exit 1; }
  done
  touch "$guest/fsck-ready-2"
  say "guest fsck.vfat and e2fsck ready"
fi
