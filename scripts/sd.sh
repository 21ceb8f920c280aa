#!/usr/bin/env bash
# sd.sh [-f] IMG [vfat|ext4] [MIB]: create the QEMU camera's SD card, a raw disk
# image with one file system and no partition table, labelled CAMSD: vfat (the
# default, like a consumer SD card) or ext4, MIB MiB (default 64). The guest sees
# it as /dev/vda. Refuses to overwrite an existing IMG unless -f is given.
set -euo pipefail

say() { printf 'sd: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

force=0
[ "${1:-}" = -f ] && { force=1; shift; }
if [ $# -lt 1 ] || [ $# -gt 3 ]; then die "usage: sd.sh [-f] IMG [vfat|ext4] [MIB]"; fi
img=$1 fs=${2:-vfat} mib=${3:-64}
if ! [[ $mib =~ ^[0-9]+$ ]] || [ "$mib" -lt 33 ]; then die "size $mib MiB: want a whole number, at least 33"; fi
if [ -e "$img" ] && [ $force -eq 0 ]; then die "$img exists (use -f to replace it)"; fi

mkdir -p "$(dirname "$img")"
rm -f "$img"
case $fs in
vfat)
  command -v mkfs.vfat >/dev/null || die "mkfs.vfat missing (make deps)"
  mkfs.vfat -n CAMSD -C "$img" $((mib * 1024)) >/dev/null
  ;;
ext4)
  command -v mkfs.ext4 >/dev/null || die "mkfs.ext4 missing (make deps)"
  truncate -s "${mib}M" "$img"
  mkfs.ext4 -q -F -L CAMSD "$img"
  ;;
*) die "file system $fs: want vfat or ext4" ;;
esac
say "created $img ($fs, $mib MiB, label CAMSD)"
