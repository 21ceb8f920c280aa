#!/usr/bin/env bash
# hwtest.sh: run the board packages' hardware tests against real kernel
# drivers, in the QEMU guest kernel that scripts/deps.sh fetched (.cache/guest):
#   gpio      QEMU virt's PL061 (/dev/gpiochip0), lines 4 and 5 (3 is the power button)
#   watchdog  softdog loaded with soft_noboot=1 (it only logs if it fires)
#   led       a USB keyboard's capslock LED (input-leds), with ledtrig-timer and ledtrig-pattern
# Each package's test binary runs twice: built for arm64 and for armv7 (the
# 32-bit compat ioctl path of the same arm64 kernel). Exit status 0 when every
# run passed. About 30 s; nothing is written outside a temporary directory.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
guest=${CAMAGENT_CACHE:-$top/.cache}/guest
[ -f "$guest/ready" ] || { echo "hwtest: no guest kernel in $guest (make deps)" >&2; exit 1; }
kver=$(cat "$guest/kver")
kmods=$guest/root/lib/modules/$kver
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
st=$work/stage
mkdir -p "$st"/{bin,proc,sys,dev,tmp,t}

cp "$guest/root/bin/busybox" "$st/bin/busybox"
for a in sh mount insmod sleep cat ls echo poweroff grep head uname; do ln -s busybox "$st/bin/$a"; done

# Modules and their dependencies, dependencies first (from modules.dep).
declare -A seen
order=()
visit() {
  local m=$1 line d
  [ -n "${seen[$m]:-}" ] && return
  seen[$m]=1
  line=$(grep -E "(^|/)$m\.ko(\.[a-z]+)?:" "$kmods/modules.dep" || true)
  [ -z "$line" ] && return # built in
  for d in ${line#*:}; do d=${d##*/}; visit "${d%%.ko*}"; done
  order+=("${line%%:*}")
}
for m in softdog ledtrig-timer ledtrig-pattern usbhid hid-generic xhci-pci; do visit "$m"; done
: >"$st/modules"
for p in "${order[@]}"; do
  mkdir -p "$st/lib/modules/$kver/$(dirname "$p")"
  cp "$kmods/$p" "$st/lib/modules/$kver/$p"
  echo "$p" >>"$st/modules"
done

for arch in arm64 arm; do
  for pkg in gpio watchdog led; do
    (cd "$top" && CGO_ENABLED=0 GOOS=linux GOARCH=$arch GOARM=7 go test -c -o "$st/t/$pkg-$arch.test" "./board/$pkg/")
  done
done

cat >"$st/init" <<'EOI'
#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
k=/lib/modules/$(uname -r)
while read -r p; do
  case $p in *softdog*) insmod "$k/$p" soft_noboot=1 ;; *) insmod "$k/$p" ;; esac || echo "insmod $p failed"
done </modules
i=0
while ! ls /sys/class/leds 2>/dev/null | grep -q capslock && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
led=$(ls /sys/class/leds | grep capslock | head -n 1)
echo "HWTEST devices: $(ls /dev/gpiochip* /dev/watchdog 2>&1 | tr '\n' ' ') led=$led"
for arch in arm64 arm; do
  for pkg in gpio watchdog led; do
    CAMAGENT_TEST_GPIOCHIP=/dev/gpiochip0 CAMAGENT_TEST_GPIOLINES=4,5 \
      CAMAGENT_TEST_WATCHDOG=/dev/watchdog CAMAGENT_TEST_LED=$led \
      /t/$pkg-$arch.test -test.run 'Hardware|OpenChip' -test.v -test.count=1
    echo "HWTEST $pkg $arch rc=$?"
  done
done
poweroff -f
EOI
chmod +x "$st/init"
(cd "$st" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initramfs.gz"

timeout 300 qemu-system-aarch64 -M virt -cpu cortex-a53 -m 512 -smp 1 -nographic -nic none \
  -kernel "$guest/vmlinuz" -initrd "$work/initramfs.gz" -append "console=ttyAMA0 quiet panic=5" \
  -device qemu-xhci -device usb-kbd -no-reboot | tr -d "\r" | tee "$work/console.log" | grep -E 'HWTEST|^(---|    )'

runs=$(grep -c 'HWTEST .* rc=' "$work/console.log" || true)
fails=$(grep 'HWTEST .* rc=' "$work/console.log" | grep -vc 'rc=0$' || true)
skips=$(grep -c -- '--- SKIP' "$work/console.log" || true)
echo "hwtest: $runs runs, $fails failed, $skips skipped"
[ "$runs" -eq 6 ] && [ "$fails" -eq 0 ] && [ "$skips" -eq 0 ]
