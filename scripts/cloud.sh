#!/usr/bin/env bash
# cloud.sh: the dev cloud (camcloud) for the QEMU camera, on the host.
#
#   flash IMG [DATA [ACCOUNT]]
#       Provision the camera's flash partition image IMG (ext4, as
#       scripts/flash.sh makes it) against the cloud in DATA [out/cloud], paired
#       to ACCOUNT [dev]: camcloud init (once per DATA); the device key (the one
#       already on the flash, else a new one made by camagent provision on the
#       host); camcloud enroll of its CSR into device.crt (and the C2PA claim-signing
#       chain into c2pa.crt, for Content Credentials); camcloud pair into
#       owner.binding; the cloud's ca.crt and pairing.pub; and turn.cred, the
#       credential of the dev cloud's TURN server (camcloud serve -turn), which
#       the camera's [live] ice_servers use for live view. All of it goes to
#       the top folder of the flash, which the camera mounts at
#       /var/lib/camagent, where scripts/qemu/camagent.toml looks. Never the SD
#       card: whoever pulls the card must not walk away with the camera's
#       identity. Does nothing when the flash already holds this cloud's CA, a
#       certificate and an owner binding (then it only brings turn.cred up to
#       date). Prints the device ID.
#
# Environment (defaults in brackets):
#   CAMAGENT_HOST  camagent built for the host  [out/camagent]
#   CAMCLOUD       camcloud built for the host  [out/camcloud]
# (make build builds both.)
#
# The key only passes through a private temporary folder on the host, removed
# on exit. The image must not be in use by a running camera.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
camagent=${CAMAGENT_HOST:-$top/out/camagent}
camcloud=${CAMCLOUD:-$top/out/camcloud}
files=(device.key device.crt owner.binding ca.crt pairing.pub c2pa.crt turn.cred)

say() { printf 'cloud: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# fs IMG: vfat or ext4, from the ext superblock magic.
fs() {
  if [ "$(od -An -tx1 -j1080 -N2 "$1" | tr -d ' \n')" = 53ef ]; then echo ext4; else echo vfat; fi
}

# at NAME: the path of identity file NAME on the image (its top folder).
at() { echo "/$1"; }

# get IMG FS NAME LOCAL: copy identity file NAME off the (ext4) image; fails
# when absent.
get() {
  # debugfs exits 0 for a missing file: ask for its inode first.
  debugfs -R "stat $(at "$3")" "$1" 2>/dev/null | grep -q '^Inode:' || return 1
  debugfs -R "dump $(at "$3") $4" "$1" 2>/dev/null
}

# put IMG FS LOCALDIR: write the identity files from LOCALDIR to the image.
put() {
  local f
  for f in "${files[@]}"; do
    echo "rm $(at "$f")"
    echo "write $3/$f $(at "$f")"
    # owned by root and 0600 (the key above all), as the camera writes them
    echo "sif $(at "$f") uid 0"
    echo "sif $(at "$f") gid 0"
    echo "sif $(at "$f") mode 0100600"
  done >"$3/debugfs.cmds"
  debugfs -w -f "$3/debugfs.cmds" "$1" >/dev/null 2>&1
  # Read everything back: debugfs reports failures only in its output.
  for f in "${files[@]}"; do
    get "$1" "$2" "$f" "$3/check" || die "$f was not written to $1"
    cmp -s "$3/$f" "$3/check" || die "$f on $1 differs from what was written"
  done
}

# put_one IMG FS TMP NAME SRC: write the single identity file NAME from SRC.
put_one() {
  local f=$4
  printf 'rm %s\nwrite %s %s\nsif %s uid 0\nsif %s gid 0\nsif %s mode 0100600\n' \
    "$(at "$f")" "$5" "$(at "$f")" "$(at "$f")" "$(at "$f")" "$(at "$f")" >"$3/debugfs.cmds"
  debugfs -w -f "$3/debugfs.cmds" "$1" >/dev/null 2>&1
  get "$1" "$2" "$f" "$3/check" && cmp -s "$5" "$3/check" || die "$f was not written to $1"
}

cmd_flash() {
  if [ $# -lt 1 ] || [ $# -gt 3 ]; then die "usage: cloud.sh flash IMG [DATA [ACCOUNT]]"; fi
  local img=$1 data=${2:-$top/out/cloud} account=${3:-dev} fs tmp id out
  [ -f "$img" ] || die "no flash image $img (scripts/flash.sh makes one)"
  [ -x "$camagent" ] || die "no host camagent at $camagent (make build)"
  [ -x "$camcloud" ] || die "no camcloud at $camcloud (make build)"
  fs=$(fs "$img")
  [ "$fs" = ext4 ] || die "$img is not ext4: the flash image is made by scripts/flash.sh (an SD card image holds no identity)"
  command -v debugfs >/dev/null || die "debugfs missing (make deps)"
  "$camcloud" init -data "$data" >/dev/null

  tmp=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now
  trap "rm -rf '$tmp'" EXIT
  chmod 700 "$tmp"

  # Provisioned already for this cloud?
  if get "$img" "$fs" ca.crt "$tmp/ca.crt" && cmp -s "$tmp/ca.crt" "$data/ca.crt" &&
    get "$img" "$fs" device.crt "$tmp/device.crt" && get "$img" "$fs" owner.binding "$tmp/owner.binding" &&
    get "$img" "$fs" c2pa.crt "$tmp/c2pa.crt"; then
    get "$img" "$fs" device.key "$tmp/device.key" || die "$img has a certificate but no device key"
    chmod 600 "$tmp/device.key"
    # Flashes provisioned before live view's TURN server lack its credential.
    if ! get "$img" "$fs" turn.cred "$tmp/turn.cred" || ! cmp -s "$tmp/turn.cred" "$data/turn.cred"; then
      put_one "$img" "$fs" "$tmp" turn.cred "$data/turn.cred"
      say "$img: turn.cred (live view's TURN credential) brought up to date"
    fi
    id=$("$camagent" provision -key "$tmp/device.key" | sed -n 's/^device id: //p')
    say "$img is provisioned for $data already (device $id)"
    echo "$id"
    return 0
  fi

  # The flash's key, if it has one: the camera keeps its device ID.
  if get "$img" "$fs" device.key "$tmp/device.key"; then
    chmod 600 "$tmp/device.key"
    say "$img has a device key: keeping it"
  else
    rm -f "$tmp/device.key"
  fi
  out=$("$camagent" provision -key "$tmp/device.key") || die "camagent provision failed"
  id=$(sed -n 's/^device id: //p' <<<"$out")
  [ -n "$id" ] || die "camagent provision printed no device id: $out"
  "$camcloud" enroll -data "$data" -csr "$tmp/device.csr" -out "$tmp/device.crt" -c2pa-out "$tmp/c2pa.crt" >/dev/null
  out=$("$camcloud" pair -data "$data" -device "$id" -account "$account" -out "$tmp/owner.binding")
  # The viewer token pair prints for a new account is not needed:
  # camcloud list makes one from the data folder.
  grep '^paired:' <<<"$out" >&2 || true
  cp "$data/ca.crt" "$data/pairing.pub" "$data/turn.cred" "$tmp/"
  put "$img" "$fs" "$tmp"
  say "provisioned $img ($fs): device $id, paired to $account, certificate from $data/ca.crt"
  echo "$id"
}

case ${1:-} in
flash) shift; cmd_flash "$@" ;;
card) die "cloud.sh card: the device identity is no longer kept on the SD card; provision the flash image: cloud.sh flash IMG (scripts/flash.sh makes one)" ;;
*) die "usage: cloud.sh flash IMG [DATA [ACCOUNT]]" ;;
esac
