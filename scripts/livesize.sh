#!/usr/bin/env bash
# What live view (pion/webrtc) adds to a stripped binary, per target
# architecture: scripts/livesize/device minus scripts/livesize/base.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for t in arm64:: arm:7: mipsle::softfloat; do
  IFS=: read -r arch arm mips <<<"$t"
  for p in base device; do
    CGO_ENABLED=0 GOOS=linux GOARCH=$arch GOARM=$arm GOMIPS=$mips \
      go build -trimpath -ldflags '-s -w' -o "$out/$p-$arch" ./scripts/livesize/$p
  done
  b=$(stat -c %s "$out/base-$arch"); d=$(stat -c %s "$out/device-$arch")
  printf 'live view (pion) size cost linux/%-7s %8d bytes (%d -> %d)\n' "$arch" $((d - b)) "$b" "$d"
done
