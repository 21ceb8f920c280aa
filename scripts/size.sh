#!/usr/bin/env bash
# size.sh [TAGS]: the size budget. For each architecture the Makefile builds
# (arm64, armv7, mipsle): the stripped size of camagent (as `make cross`
# builds it), its xz -9 size (a firmware image is compressed), and the ten
# packages that contribute most (scripts/sizetop: the ELF symbols of an
# unstripped build grouped by package, and by module).
#
# Then the same for "camagent+pion+paho": the agent's own main package
# copied into a throwaway module under out/size with one more file that
# really uses github.com/pion/webrtc/v4 and github.com/eclipse/paho.mqtt.golang
# (a peer connection with a video track, an MQTT client), so the linker keeps
# what live view and MQTT will need. Packages both share are counted once.
# It measures today what linking them will cost, until uplink/live and
# uplink/mqtt are in the agent itself (then the first table says it).
#
# TAGS (comma-separated Go build tags, e.g. nolive,nohass) are passed to every
# build. Budget for armv7 with pion and paho linked: 12 MB stripped, 4 MB xz.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/out/size
tags=${1:-}
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

# build ARCH DIR OUT [strip]: build the main package in DIR.
build() {
  local arch=$1 dir=$2 o=$3 ld="-X main.version=size"
  [ "${4:-}" = strip ] && ld="-s -w $ld"
  (cd "$dir" && env $(target "$arch") CGO_ENABLED=0 go build -trimpath -tags "$tags" -ldflags "$ld" -o "$o" .)
}

# top_packages OUT: the ten largest packages of an unstripped binary.
top_packages() {
  (cd "$top" && go run ./scripts/sizetop -n 10 "$1") | sed 's/^/    /'
}

# report NAME ARCH DIR
report() {
  local name=$1 arch=$2 dir=$3 s x
  build "$arch" "$dir" "$out/$name-$arch" strip
  build "$arch" "$dir" "$out/$name-$arch.full"
  xz -9 -T1 -c "$out/$name-$arch" >"$out/$name-$arch.xz"
  s=$(stat -c %s "$out/$name-$arch") x=$(stat -c %s "$out/$name-$arch.xz")
  awk -v n="$name" -v a="$arch" -v s="$s" -v x="$x" 'BEGIN { printf "  %-22s %-7s %6.2f MB stripped  %5.2f MB xz\n", n, a, s / 1e6, x / 1e6 }'
  top_packages "$out/$name-$arch.full"
}

# The throwaway module: the agent's main package plus pion and paho in use.
mk_plus() {
  local d=$out/plus
  rm -rf "$d" && mkdir -p "$d"
  for f in "$top"/agent/*.go; do
    case $f in *_test.go) continue ;; esac
    cp "$f" "$d/"
  done
  cat >"$d/zz_pion_paho.go" <<'GO'
package main

import (
	"os"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/pion/webrtc/v4"
)

// Reached only when the variable is set, so the linker keeps it all.
func init() {
	if os.Getenv("CAMAGENT_SIZE_PROBE") == "" {
		return
	}
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err == nil {
		tr, _ := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264}, "v", "cam")
		_, _ = pc.AddTrack(tr)
		o, _ := pc.CreateOffer(nil)
		_ = pc.SetLocalDescription(o)
		_ = pc.Close()
	}
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://127.0.0.1:1883"))
	c.Connect().Wait()
	c.Publish("t", 1, true, "x").Wait()
	c.Disconnect(0)
}
GO
  cat >"$d/go.mod" <<GO
module camagentsize

go 1.26

require github.com/camagent/camagent v0.0.0

replace github.com/camagent/camagent => $top
GO
  (cd "$d" && cp "$top/go.sum" . && go get github.com/pion/webrtc/v4@v4.2.26 github.com/eclipse/paho.mqtt.golang@v1.5.1 >/dev/null 2>&1 &&
    go mod tidy >/dev/null 2>&1) || { echo "size: cannot resolve pion/paho for the probe (go mod tidy in $d)" >&2; exit 1; }
}

echo "camagent${tags:+ (tags $tags)}: stripped and xz -9 sizes, top 10 packages (ELF symbols of an unstripped build)"
for arch in arm64 armv7 mipsle; do report camagent "$arch" "$top/agent"; done
mk_plus
echo
echo "camagent+pion+paho (throwaway build in $out/plus; budget armv7 <= 12 MB stripped, <= 4 MB xz)"
for arch in arm64 armv7 mipsle; do report camagent+pion+paho "$arch" "$out/plus"; done
