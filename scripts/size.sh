#!/usr/bin/env bash
# size.sh [TAGS]: the size budget. For each architecture the Makefile builds
# (arm64, armv7, mipsle) and each build-tag set: the stripped size of
# camagent (built as `make cross` builds it), its xz -9 size (a firmware
# image is compressed), and the ten packages that contribute most
# (scripts/sizetop: the ELF symbols of an unstripped build grouped by
# package, and by module).
#
# The tag sets are the default build (everything) and "nolive,nohass" (no
# live view, so no pion/webrtc; no Home Assistant publisher), the build for
# small boards. TAGS (comma-separated Go build tags) measures that one set
# instead. Every build also has AGENTTAGS (the Makefile's: nethttpomithttp2),
# as make cross builds it, and the packages of scripts/noinline.txt compiled
# without inlining (NOINLINE, the Makefile's; empty for none). Budget for
# armv7 with everything linked: 12 MB stripped, 4 MB xz; the last lines say
# how far the default build is from it, and whether any reachable function
# looks methods up by reflection (that would make the linker keep every
# exported method of every reachable type; scripts/sizetop -why reads the
# linker's -dumpdep output).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/out/size
agenttags=${AGENTTAGS-nethttpomithttp2}
noinline=${NOINLINE-$(grep '^[a-z]' "$top/scripts/noinline.txt")}
gcflags=()
for p in $noinline; do gcflags+=("-gcflags=$p=-l"); done
rm -f "$out/armv7-default" # the budget line is about this run's default build only
mkdir -p "$out"
command -v xz >/dev/null || { echo "size: xz missing (make deps)" >&2; exit 1; }

# target ARCH: GOOS/GOARCH and friends for it.
target() {
  case $1 in
  arm64) echo "GOOS=linux GOARCH=arm64" ;;
  armv7) echo "GOOS=linux GOARCH=arm GOARM=7" ;;
  mipsle) echo "GOOS=linux GOARCH=mipsle GOMIPS=softfloat" ;;
  esac
}

# build ARCH TAGS OUT [strip|dumpdep]: build the agent.
build() {
  local arch=$1 tags=$2 o=$3 ld="-X main.version=size"
  [ "${4:-}" = strip ] && ld="-s -w $ld"
  [ "${4:-}" = dumpdep ] && ld="-s -w -dumpdep $ld"
  tags=$agenttags${tags:+,$tags}
  (cd "$top" && env $(target "$arch") CGO_ENABLED=0 go build -trimpath -tags "${tags#,}" ${gcflags[@]+"${gcflags[@]}"} -ldflags "$ld" -o "$o" ./agent)
}

# report ARCH TAGS
report() {
  local arch=$1 tags=$2 name s x
  name=camagent-$arch${tags:+-${tags//,/-}}
  build "$arch" "$tags" "$out/$name" strip
  build "$arch" "$tags" "$out/$name.full"
  xz -9 -T1 -c "$out/$name" >"$out/$name.xz"
  s=$(stat -c %s "$out/$name") x=$(stat -c %s "$out/$name.xz")
  awk -v n="${tags:-default}" -v a="$arch" -v s="$s" -v x="$x" \
    'BEGIN { printf "  %-14s %-7s %6.2f MB stripped  %5.2f MB xz\n", n, a, s / 1e6, x / 1e6 }'
  (cd "$top" && go run ./scripts/sizetop -n 10 "$out/$name.full") | sed 's/^/    /'
  [ "$arch$tags" = armv7 ] && echo "$s $x" >"$out/armv7-default" || true
}

sets=("" "nolive,nohass")
[ $# -gt 0 ] && sets=("$1")
echo "camagent: stripped and xz -9 sizes, top 10 packages (ELF symbols of an unstripped build)"
echo "budget: armv7 with everything <= 12 MB stripped, <= 4 MB xz"
for tags in "${sets[@]}"; do
  echo
  echo "tags: ${tags:-none (the default build: everything)}"
  for arch in arm64 armv7 mipsle; do report "$arch" "$tags"; done
done

echo
if [ -s "$out/armv7-default" ]; then
  read -r s x <"$out/armv7-default"
  awk -v s="$s" -v x="$x" 'BEGIN {
    printf "budget, armv7 default: %.2f MB stripped (limit 12.00: %s), %.2f MB xz (limit 4.00: %s)\n",
      s / 1e6, s <= 12e6 ? "ok" : sprintf("over by %.2f MB", (s - 12e6) / 1e6),
      x / 1e6, x <= 4e6 ? "ok" : sprintf("over by %.2f MB", (x - 4e6) / 1e6) }'
fi
build armv7 "${1:-}" "$out/dumpdep" dumpdep >"$out/dumpdep.txt" 2>&1
(cd "$top" && go run ./scripts/sizetop -why <"$out/dumpdep.txt")
