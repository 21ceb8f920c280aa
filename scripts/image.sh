#!/usr/bin/env bash
# image.sh AGENT OUT: build the QEMU camera's initramfs (gzip'ed newc cpio).
#
# CAMERA_ARCH says which camera: arm64 (the default; qemu-system-aarch64 -M
# virt) or mipsle (qemu-system-mipsel -M malta); AGENT must be built for it.
#
# Contents: Debian's static busybox of that architecture with its applet symlinks, AGENT as
# /usr/bin/camagent, the kernel modules listed in scripts/qemu/modules.list with
# their dependencies (resolved from the kernel's modules.dep, modules.softdep and
# modules.alias, dependencies first), camagent's config (scripts/qemu/camagent.toml)
# at /etc/camagent/camagent.toml, /init and /sbin/camera-poweroff, and the
# DEVELOPMENT vendor key's public half at /etc/camagent/vendor.pub (see below).
#
# The kernel, modules and busybox come from scripts/deps.sh (.cache/guest, .cache/guest-mipsle). OUT is
# rebuilt only when an input changed: a digest of every input is kept beside it
# (OUT.inputs).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
arch=${CAMERA_ARCH:-arm64}
qdir=$top/scripts/qemu

say() { printf 'image: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

[ $# -eq 2 ] || die "usage: [CAMERA_ARCH=arm64|mipsle] image.sh AGENT OUT (for example out/camagent-arm64 out/initramfs.cpio.gz)"
agent=$1 out=$2
# The guest's folder from scripts/deps.sh, and qemu-user to run its binaries here.
case $arch in
arm64) guest=${CAMAGENT_CACHE:-$top/.cache}/guest qemu_user=qemu-aarch64-static ;;
mipsle) guest=${CAMAGENT_CACHE:-$top/.cache}/guest-mipsle qemu_user=qemu-mipsel-static ;;
*) die "CAMERA_ARCH=$arch: want arm64 or mipsle" ;;
esac
[ -f "$agent" ] || die "no agent binary at $agent (make $arch)"
[ -f "$guest/ready" ] || die "no guest kernel in $guest (make deps)"
kver=$(cat "$guest/kver")
kroot=$guest/root
kmods=$kroot/lib/modules/$kver
busybox=$kroot/bin/busybox
fsck=$guest/fsck
[ -f "$guest/fsck-ready-2" ] || die "no guest fsck.vfat and e2fsck in $fsck (make deps)"
command -v $qemu_user >/dev/null || die "$qemu_user missing (make deps)"
command -v cpio >/dev/null || die "cpio missing (make deps)"

# !!! DEVELOPMENT KEY FOR THE QEMU IMAGE ONLY !!!
# The vendor's service key unlocks the serial shell's privileged commands
# (camagent shell: unlock, camagent sign-challenge). A real vendor key never
# leaves the vendor's signing machine; this one is made here, once, unencrypted
# in OUT's folder (vendor.key, ECDSA P-256, PKCS#8 PEM), so that the end-to-end
# test (scripts/e2e) can sign the QEMU camera's unlock challenges. Never install
# its public half (vendor.pub) on a real camera.
vendor_key=$(dirname "$out")/vendor.key vendor_pub=$(dirname "$out")/vendor.pub
mkdir -p "$(dirname "$out")"
if [ ! -s "$vendor_key" ]; then
  command -v openssl >/dev/null || die "openssl missing: it makes the development vendor key"
  (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$vendor_key.tmp") ||
    die "cannot make the development vendor key"
  mv "$vendor_key.tmp" "$vendor_key"
  rm -f "$vendor_pub"
  say "made the DEVELOPMENT vendor key $vendor_key (for the QEMU image only)"
fi
if [ ! -s "$vendor_pub" ] || [ "$vendor_pub" -ot "$vendor_key" ]; then
  # The agent itself derives the public half, so the camera reads what it wrote.
  $qemu_user "$agent" sign-challenge -key "$vendor_key" -public >"$vendor_pub.tmp" ||
    die "camagent sign-challenge -public could not read $vendor_key"
  mv "$vendor_pub.tmp" "$vendor_pub"
fi

# Up to date? The digest covers the files copied, this script, and the kernel.
inputs() {
  printf 'kernel %s %s\n' "$arch" "$kver"
  sha256sum "$agent" "$busybox" "$fsck/sbin/fsck.fat" "$fsck/sbin/e2fsck" "$top/scripts/package/camagent-sd-check" "$0" "$qdir"/init "$qdir"/lib.sh "$qdir"/camera-poweroff \
    "$qdir"/profile "$qdir"/camagent.toml "$qdir"/modules.list "$kmods/modules.dep" "$vendor_pub" |
    awk '{print $1}'
}
digest=$(inputs | sha256sum | awk '{print $1}')
if [ -f "$out" ] && [ "$(cat "$out.inputs" 2>/dev/null)" = "$digest" ]; then
  say "$out is up to date"
  exit 0
fi

start=$(date +%s.%N)
mkdir -p "$(dirname "$out")"
stage=$(mktemp -d "$(dirname "$out")/.initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT
say "building $out ($arch, kernel $kver, agent $agent)"

mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,etc/camera,etc/camagent,proc,sys,dev,run,tmp,mnt,root}

# busybox and its applets, as the binary itself lists them.
install -m 0755 "$busybox" "$stage/bin/busybox"
napplets=0
while read -r applet; do
  case $applet in bin/busybox | linuxrc | '') continue ;; esac
  ln -sf /bin/busybox "$stage/$applet"
  napplets=$((napplets + 1))
done < <($qemu_user "$busybox" --list-full)
[ "$napplets" -gt 100 ] || die "busybox --list-full listed only $napplets applets"
say "busybox with $napplets applets"

# The agent and the camera's own scripts and config.
install -m 0755 "$agent" "$stage/usr/bin/camagent"
install -m 0755 "$qdir/init" "$stage/init"
install -m 0755 "$qdir/camera-poweroff" "$stage/sbin/camera-poweroff"
install -m 0644 "$qdir/lib.sh" "$stage/etc/camera/lib.sh"
install -m 0644 "$qdir/profile" "$stage/etc/profile"
install -m 0644 "$qdir/camagent.toml" "$stage/etc/camagent/camagent.toml"
# The SD card check (the packaged script) and Debian's fsck.vfat and e2fsck
# for the guest's architecture, with the libraries they link (scripts/deps.sh
# fetched them).
case $arch in
arm64) triplet=aarch64-linux-gnu loader=ld-linux-aarch64.so.1 ;;
mipsle) triplet=mipsel-linux-gnu loader=ld.so.1 ;;
esac
install -m 0755 "$top/scripts/package/camagent-sd-check" "$stage/sbin/camagent-sd-check"
install -m 0755 "$fsck/sbin/fsck.fat" "$fsck/sbin/e2fsck" "$stage/sbin/"
ln -sf fsck.fat "$stage/sbin/fsck.vfat"
mkdir -p "$stage/lib/$triplet"
for l in $loader libc.so.6 libext2fs.so.2 libcom_err.so.2 libe2p.so.2; do
  cp -L "$fsck/lib/$triplet/$l" "$stage/lib/$triplet/$l"
done
for l in libblkid.so.1 libuuid.so.1; do
  cp -L "$fsck/usr/lib/$triplet/$l" "$stage/lib/$triplet/$l"
done
ln -sf "$triplet/$loader" "$stage/lib/$loader"
ln -sf /proc/self/mounts "$stage/etc/mtab" # e2fsck refuses to guess whether the card is mounted
install -m 0644 "$vendor_pub" "$stage/etc/camagent/vendor.pub" # the DEVELOPMENT vendor key (above)
echo camera >"$stage/etc/hostname"
printf '127.0.0.1\tlocalhost\n10.0.2.100\thost\n' >"$stage/etc/hosts"
echo 'root:x:0:0:root:/root:/bin/sh' >"$stage/etc/passwd"
echo 'root:x:0:' >"$stage/etc/group"
say "camagent $(du -h "$agent" | cut -f1), config, /init"

# Kernel modules: each listed module after its dependencies, once. Output lines:
# NAME PATH [OPTIONS], PATH relative to /lib/modules/KVER.
resolve_modules() {
  awk -v want="$1" '
    function norm(n) { gsub(/-/, "_", n); return n }
    function base(p,   n) { n = p; sub(/.*\//, "", n); sub(/\.ko(\.[a-z]+)?$/, "", n); return norm(n) }
    function visit(m, chain,   i, n, a, j, s) {
      if (m in done) return
      if (!(m in file)) {
        if (m in builtin) { done[m] = 1; return }
        printf "module %s (%s) is neither in modules.dep nor built in\n", m, chain > "/dev/stderr"
        bad = 1; return
      }
      if (index(" " chain " ", " " m " ")) { printf "module dependency loop: %s %s\n", chain, m > "/dev/stderr"; bad = 1; return }
      n = split(soft[m], a, " ")        # soft pre-dependencies, by module name or alias
      for (i = 1; i <= n; i++) {
        if (norm(a[i]) in file) visit(norm(a[i]), chain " " m)
        else if (a[i] in alias) { split(alias[a[i]], s, " "); for (j in s) visit(s[j], chain " " m) }
      }
      for (i = 1; i <= ndep[m]; i++) visit(dep[m, i], chain " " m)
      done[m] = 1
      order[++norder] = m
    }
    FILENAME ~ /modules\.dep$/ {
      p = $1; sub(/:$/, "", p); m = base(p); file[m] = p; ndep[m] = NF - 1
      for (i = 2; i <= NF; i++) dep[m, i - 1] = base($i)
      next
    }
    FILENAME ~ /modules\.softdep$/ && $1 == "softdep" {
      m = norm($2); pre = 0
      for (i = 3; i <= NF; i++) {
        if ($i == "pre:") { pre = 1; continue }
        if ($i == "post:") { pre = 0; continue }
        if (pre) soft[m] = soft[m] " " $i
      }
      next
    }
    FILENAME ~ /modules\.alias$/ && $1 == "alias" { alias[$2] = alias[$2] " " norm($3); next }
    FILENAME ~ /modules\.builtin$/ { builtin[base($0)] = 1; next }
    END {
      while ((getline line < want) > 0) {
        sub(/#.*/, "", line)
        if (split(line, w, " ") == 0) continue
        m = norm(w[1]); opts = line; sub(/^[ \t]*[^ \t]+[ \t]*/, "", opts)
        if (opts != "") defaults[m] = opts
        visit(m, "")
      }
      if (bad) exit 1
      for (i = 1; i <= norder; i++) {
        m = order[i]
        print m, file[m] (m in defaults ? " " defaults[m] : "")
      }
    }
  ' "$kmods/modules.dep" "$kmods/modules.softdep" "$kmods/modules.alias" "$kmods/modules.builtin"
}
# Lines of modules.list that start with ARCH: are for that camera only.
awk -v arch="$arch" '{
  if (match($0, /^[a-z0-9]+:/)) { if (substr($0, 1, RLENGTH - 1) != arch) next; $0 = substr($0, RLENGTH + 1) }
  print
}' "$qdir/modules.list" >"$stage/modules.want"
resolve_modules "$stage/modules.want" >"$stage/etc/camera/modules" || die "cannot resolve the kernel modules"
while read -r _ path _; do
  mkdir -p "$stage/lib/modules/$kver/$(dirname "$path")"
  cp "$kmods/$path" "$stage/lib/modules/$kver/$path"
done <"$stage/etc/camera/modules"
rm -f "$stage/modules.want"
say "$(wc -l <"$stage/etc/camera/modules") kernel modules: $(awk '{printf "%s%s", sep, $1; sep=" "}' "$stage/etc/camera/modules")"

# /dev/console lets the kernel give /init its stdio before devtmpfs is mounted
# (without it /init still works, after a kernel warning).
mknod -m 0600 "$stage/dev/console" c 5 1 2>/dev/null || say "cannot mknod /dev/console (not root): /init reopens it"

say "packing"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) |
  gzip -6 >"$out.tmp"
mv "$out.tmp" "$out"
echo "$digest" >"$out.inputs"
say "wrote $out ($(du -h "$out" | cut -f1)) in $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e - s}') s"
