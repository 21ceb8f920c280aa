#!/usr/bin/env bash
# deps.sh: install what building, running and testing camagent needs, idempotently.
#
# Host packages come from apt-get (only the missing ones are installed; nothing is
# printed when everything is there). The guest's Debian arm64 kernel and busybox
# are downloaded with apt-get download (not installed) and unpacked into the cache
# folder (.cache/, ignored by git), as ../shared/QEMU-NOTES.md describes.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cache=${CAMAGENT_CACHE:-$top/.cache}
guest=$cache/guest

# Host packages: the QEMU camera (qemu-system-arm, qemu-user-static for arm test
# binaries, cpio and kmod for the initramfs, dosfstools/mtools/e2fsprogs for the SD
# image) and the test peers (ffmpeg for ffprobe).
host_pkgs=(qemu-system-arm qemu-user-static cpio kmod dosfstools mtools e2fsprogs
  ffmpeg busybox socat openssl chromium)

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
