#!/usr/bin/env bash
# flash.sh [-f] IMG [MIB]: create the QEMU camera's flash partition, a raw disk
# image with an ext4 file system labelled CAMFLASH, MIB MiB (default 8). It
# stands for the non-removable flash (NOR/NAND/eMMC) where a real camera keeps
# its device key: scripts/qemu.sh attaches it as a second virtio disk (serial
# camflash) that nobody can pull out like the SD card, and the guest's /init
# mounts it at /var/lib/camagent, the qemu-virt board profile's data folder.
# scripts/cloud.sh flash provisions the device identity onto it. Refuses to
# overwrite an existing IMG unless -f is given.
set -euo pipefail

say() { printf 'flash: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

force=0
[ "${1:-}" = -f ] && { force=1; shift; }
if [ $# -lt 1 ] || [ $# -gt 2 ]; then die "usage: flash.sh [-f] IMG [MIB]"; fi
img=$1 mib=${2:-8}
if ! [[ $mib =~ ^[0-9]+$ ]] || [ "$mib" -lt 2 ]; then die "size $mib MiB: want a whole number, at least 2"; fi
if [ -e "$img" ] && [ $force -eq 0 ]; then die "$img exists (use -f to replace it)"; fi
command -v mkfs.ext4 >/dev/null || die "mkfs.ext4 missing (make deps)"

mkdir -p "$(dirname "$img")"
rm -f "$img"
truncate -s "${mib}M" "$img"
mkfs.ext4 -q -F -L CAMFLASH "$img"
say "created $img (ext4, $mib MiB, label CAMFLASH)"
