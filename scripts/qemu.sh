#!/usr/bin/env bash
# qemu.sh run|shell|stop|boot: the QEMU camera (Debian's kernel, the initramfs
# from scripts/image.sh, the kernel's vivid driver as the camera, a raw disk
# image as the SD card and a second one as its flash partition, where the
# device key lives). Two cameras, chosen by CAMERA_ARCH:
#   arm64   qemu-system-aarch64 -M virt, Cortex-A53, 512 MB (the default)
#   mipsle  qemu-system-mipsel -M malta, MIPS 24Kf, 128 MB: a 32-bit
#           little-endian MIPS camera like the Ingenic T31 ones
#
#   run [--fs vfat|ext4]  start the dev cloud (camcloud serve on 127.0.0.1:8443
#                         with its mosquitto on 127.0.0.1:8883 and its TURN
#                         server for live view on 127.0.0.1:3478, data in
#                         out/cloud, log in out/camcloud.log), boot the
#                         camera in the background and show its console (the
#                         agent's log) until it powers off. The terminal is the
#                         console in line mode: each line typed is sent to the
#                         camera's shell, whose answer shows in the log. Ctrl-C
#                         presses the power button, so camagent stops cleanly,
#                         then the cloud stops. Creates the SD card image if absent (vfat unless
#                         --fs ext4) and the flash image if absent, and
#                         provisions the flash for the cloud (scripts/cloud.sh
#                         flash) when the flash or the cloud is new. Needs
#                         out/camagent and out/camcloud (make build).
#   shell                 attach this terminal to the running camera's serial
#                         console (Ctrl-] detaches).
#   stop                  press the running camera's power button and wait.
#   boot                  run QEMU in the foreground with the serial console on
#                         stdin/stdout (or on CAMERA_CONSOLE, a socket path); for
#                         tests. The SD card and flash images must exist; -no-reboot.
#
# The console of `run` is the unix socket out/console.sock (logged to
# out/console.log), its QEMU monitor out/monitor.sock.
#
# Environment (defaults in brackets; SUFFIX is empty for arm64, -mipsle for mipsle):
#   CAMERA_ARCH       arm64 or mipsle                   [arm64]
#   CAMERA_INITRAMFS  initramfs                         [out/initramfs$SUFFIX.cpio.gz]
#   CAMERA_KERNEL     kernel                            [.cache/guest$SUFFIX/vmlinuz]
#   CAMERA_MEM        guest RAM in MB                   [512 arm64, 128 mipsle]
#   CAMERA_SD         SD card image                     [out/sd$SUFFIX.img]
#   CAMERA_SD_FS      file system of a new SD image     [vfat]
#   CAMERA_FLASH      flash partition image (ext4, scripts/flash.sh): the
#                     non-removable disk with the device identity; the guest
#                     mounts it at /var/lib/camagent   [out/flash$SUFFIX.img]
#   CAMERA_FWD        ports forwarded from the guest's 10.0.2.100 to the host's
#                     127.0.0.1: PORT or GUESTPORT:HOSTPORT, space separated
#                                                       [8443 1883 8883 123:1123 3478]
#   CAMERA_APPEND     more kernel command line, e.g. vivid.num_inputs=2
#   CAMERA_CONSOLE    boot only: stdio or a unix socket path (the socket waits
#                     for a client before QEMU starts)  [stdio]
#   CAMERA_MONITOR    boot only: QEMU monitor socket path, or none  [none]
#   CAMERA_CLOUD      run only: the dev cloud's data folder, or none for no
#                     cloud (clips then stay on the card)  [out/cloud]
#
# The network is QEMU user networking with restrict=on: the guest (10.0.2.15)
# reaches nothing but the forwarded ports, and each forwarded connection is
# carried by scripts/qemu/fwd.sh to 127.0.0.1 only.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/out
arch=${CAMERA_ARCH:-arm64}
case $arch in
arm64) suffix= mem=512 ;;
mipsle) suffix=-mipsle mem=128 ;;
*) printf 'qemu: CAMERA_ARCH=%s: want arm64 or mipsle\n' "$arch" >&2; exit 1 ;;
esac
mem=${CAMERA_MEM:-$mem}
initramfs=${CAMERA_INITRAMFS:-$out/initramfs$suffix.cpio.gz}
kernel=${CAMERA_KERNEL:-${CAMAGENT_CACHE:-$top/.cache}/guest$suffix/vmlinuz}
sd=${CAMERA_SD:-$out/sd$suffix.img}
sd_fs=${CAMERA_SD_FS:-vfat}
flash=${CAMERA_FLASH:-$out/flash$suffix.img}
fwd=${CAMERA_FWD:-8443 1883 8883 123:1123 3478}
console_sock=$out/console.sock
console_log=$out/console.log
monitor_sock=$out/monitor.sock
pidfile=$out/qemu.pid
cloud=${CAMERA_CLOUD:-$out/cloud}
cloud_log=$out/camcloud.log
cloud_listen=127.0.0.1:8443
mqtt_listen=127.0.0.1:8883
turn_listen=127.0.0.1:3478

say() { printf 'qemu: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# qemu_args: the machine, shared by run and boot (console and monitor apart).
qemu_args() {
  [ -f "$kernel" ] || die "no kernel at $kernel (make deps)"
  [ -f "$initramfs" ] || die "no initramfs at $initramfs (make image)"
  [ -f "$sd" ] || die "no SD card image at $sd (scripts/sd.sh)"
  [ -f "$flash" ] || die "no flash image at $flash (scripts/flash.sh)"
  command -v "$(qemu_bin)" >/dev/null || die "$(qemu_bin) missing (make deps)"
  local netdev="user,id=n0,restrict=on" f g h fwdcmd
  for f in $fwd; do
    g=${f%%:*} h=${f##*:}
    [[ $g =~ ^[0-9]+$ && $h =~ ^[0-9]+$ ]] || die "CAMERA_FWD entry $f: want PORT or GUESTPORT:HOSTPORT"
    # QEMU splits the command like a shell; commas in -netdev values are doubled.
    fwdcmd="'$top/scripts/qemu/fwd.sh' $h"
    netdev+=",guestfwd=tcp:10.0.2.100:$g-cmd:${fwdcmd//,/,,}"
  done
  # shellcheck disable=SC2054 # commas separate QEMU's sub-options
  case $arch in
  arm64)
    args=(
      -M virt -cpu cortex-a53 -m "$mem" -smp 1 -nographic -nic none
      -kernel "$kernel" -initrd "$initramfs"
      -append "console=ttyAMA0 quiet panic=5 ${CAMERA_APPEND:-}"
      # virt probes virtio-mmio devices from the last one given: the flash
      # comes first so that the SD card is /dev/vda (/init tells them apart
      # by serial anyway).
      -drive "file=${flash//,/,,},if=none,format=raw,id=flash" -device virtio-blk-device,drive=flash,serial=camflash
      -drive "file=${sd//,/,,},if=none,format=raw,id=sd" -device virtio-blk-device,drive=sd,serial=camsd
      -netdev "$netdev" -device virtio-net-device,netdev=n0
    )
    ;;
  mipsle)
    # The Malta board's own NIC and VGA are left out (their ROMs come only with
    # recommended packages); the SD card and the
    # network are virtio PCI devices, without option ROMs (romfile=: the
    # firmware never boots from them, and Debian ships them only in ipxe-qemu).
    args=(
      -M malta -m "$mem" -nographic -nic none -vga none
      -kernel "$kernel" -initrd "$initramfs"
      -append "console=ttyS0 rdinit=/init quiet panic=5 ${CAMERA_APPEND:-}"
      -drive "file=${sd//,/,,},if=none,format=raw,id=sd" -device virtio-blk-pci,drive=sd,serial=camsd,romfile=
      -drive "file=${flash//,/,,},if=none,format=raw,id=flash" -device virtio-blk-pci,drive=flash,serial=camflash,romfile=
      -netdev "$netdev" -device virtio-net-pci,netdev=n0,romfile=
    )
    ;;
  esac
}

qemu_bin() {
  case $arch in
  arm64) echo qemu-system-aarch64 ;;
  mipsle) echo qemu-system-mipsel ;;
  esac
}

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

# start_cloud: camcloud serve in the background on $cloud_listen, with its
# MQTT broker (mosquitto) on $mqtt_listen (the guest's 10.0.2.100:8443 and
# 10.0.2.100:8883 are forwarded there); sets cpid. Fails when they do not
# listen within 30 s (port taken, bad data folder, mosquitto missing).
cpid=
start_cloud() {
  local i
  [ -x "$out/camcloud" ] || die "no $out/camcloud (make build)"
  [ -f "$cloud_log" ] && mv -f "$cloud_log" "$cloud_log.old"
  setsid "$out/camcloud" serve -data "$cloud" -listen "$cloud_listen" -mqtt "$mqtt_listen" -turn "$turn_listen" >"$cloud_log" 2>&1 </dev/null &
  cpid=$!
  for ((i = 0; i < 300; i++)); do
    grep -q '^camcloud: mqtt broker on' "$cloud_log" 2>/dev/null && return 0
    kill -0 $cpid 2>/dev/null || break
    sleep 0.1
  done
  stop_cloud
  tail -n 5 "$cloud_log" >&2 || true
  die "camcloud serve did not start on $cloud_listen, $mqtt_listen and $turn_listen (is another camcloud, or something else, using the ports? ss -ltnp 'sport = :${cloud_listen##*:} or sport = :${mqtt_listen##*:} or sport = :${turn_listen##*:}'; mosquitto missing? make deps)"
}

stop_cloud() {
  [ -n "$cpid" ] || return 0
  kill "$cpid" 2>/dev/null || true
  wait "$cpid" 2>/dev/null || true
  cpid=
}

# monitor CMD: one command to the running camera's QEMU monitor.
monitor() {
  [ -S "$monitor_sock" ] || return 1
  printf '%s\n' "$1" | socat - "UNIX-CONNECT:$monitor_sock" >/dev/null 2>&1
}

# power_off PID: press the power button (the guest stops camagent, unmounts the
# SD card and powers off), wait up to 30 s for QEMU (PID) to exit, then quit
# QEMU, then kill it.
power_off() {
  local pid=$1 i
  [ -n "$pid" ] || return 0
  if [ "$arch" = mipsle ]; then
    # The Malta board has no power button the kernel hears: type the command.
    say "typing camera-poweroff on the console (camagent stops, the SD card is unmounted)"
    printf '\ncamera-poweroff\n' | socat - "UNIX-CONNECT:$console_sock" >/dev/null 2>&1 ||
      say "cannot reach the console at $console_sock"
  else
    say "pressing the power button (camagent stops, the SD card is unmounted)"
    monitor system_powerdown || say "cannot reach the monitor at $monitor_sock"
  fi
  for ((i = 0; i < 150; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  say "the camera did not power off within 30 s: quitting QEMU"
  monitor quit || true
  for ((i = 0; i < 25; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  kill "$pid" 2>/dev/null || true
}

cmd_run() {
  while [ $# -gt 0 ]; do
    case $1 in
    --fs) sd_fs=${2:-}; shift 2 ;;
    --fs=*) sd_fs=${1#--fs=}; shift ;;
    --ext4) sd_fs=ext4; shift ;;
    *) die "run: unknown argument $1" ;;
    esac
  done
  command -v socat >/dev/null || die "socat missing (make deps)"
  running && die "the camera is already running (pid $(cat "$pidfile")): make shell attaches, scripts/qemu.sh stop stops it"
  mkdir -p "$out"
  if [ -f "$sd" ]; then
    say "SD card $sd (kept from before; delete it for a new $sd_fs card)"
  else
    bash "$top/scripts/sd.sh" "$sd" "$sd_fs"
  fi
  [ -f "$flash" ] || bash "$top/scripts/flash.sh" "$flash"
  # Cards made before the flash partition existed carry the old identity.
  if mdir -i "$sd" ::camagent/identity >/dev/null 2>&1 ||
    debugfs -R "stat /camagent/identity" "$sd" 2>/dev/null | grep -q '^Inode:'; then
    say "WARNING: $sd still holds a device identity (camagent/identity, from before the flash partition $flash):" \
      "the camera no longer uses it; delete the card image (rm $sd) so that no key stays on a removable card"
  fi
  qemu_args
  # The camera's time server ([time] servers in scripts/qemu/camagent.toml):
  # devsntp on the host's loopback, reached as 10.0.2.100:123 over TCP.
  [ -x "$out/devsntp" ] || die "no $out/devsntp (make build)"
  setsid "$out/devsntp" -udp "" -tcp 127.0.0.1:1123 >"$out/devsntp.log" 2>&1 </dev/null &
  spid=$!
  trap 'kill $spid 2>/dev/null || true' EXIT
  if [ "$cloud" != none ]; then
    # Provisions only when the flash lacks this cloud's identity files.
    dev_id=$(bash "$top/scripts/cloud.sh" flash "$flash" "$cloud" dev)
    start_cloud
    trap 'stop_cloud; kill $spid 2>/dev/null || true' EXIT
    say "dev cloud: camcloud serve (pid $cpid) on https://$cloud_listen, data $cloud, log $cloud_log"
    say "the camera's clips, verified: $out/camcloud list -data $cloud -account dev"
    say "its MQTT events, verified: $out/camcloud events -data $cloud -account dev (broker tls://$mqtt_listen, guest 10.0.2.100:8883)"
    say "the owner's page: https://$cloud_listen/app/ (the dev cloud's own CA: accept the certificate warning)"
    say "live view: sign in as dev with the token of '$out/camcloud token -data $cloud -account dev', press 'Register this browser's key'" \
      "(the cloud sends the camera a binding naming it over MQTT), then 'Live' beside the camera;" \
      "(TURN server $turn_listen, the camera's 10.0.2.100:3478)."
  fi
  rm -f "$console_sock" "$monitor_sock" "$pidfile"
  [ -f "$console_log" ] && mv -f "$console_log" "$console_log.old"
  qpid=
  trap 'power_off "$qpid"' INT TERM
  # Own session: the terminal's Ctrl-C must reach this script, not QEMU.
  setsid "$(qemu_bin)" "${args[@]}" \
    -chardev "socket,id=con,path=$console_sock,server=on,wait=off,logfile=$console_log" \
    -serial chardev:con \
    -monitor "unix:$monitor_sock,server=on,wait=off" \
    -pidfile "$pidfile" </dev/null &
  qpid=$!
  say "$arch camera booting (pid $qpid); console log $console_log"
  say "make shell attaches to the console; Ctrl-C here powers the camera off"
  local i
  for ((i = 0; i < 50; i++)); do [ -f "$console_log" ] && break; kill -0 $qpid 2>/dev/null || break; sleep 0.1; done
  # tail ends after QEMU. The shell's line editor asks the terminal for the
  # cursor position (ESC [6n): a terminal showing the log would answer into
  # this terminal's input, so the question is dropped.
  tail -n +1 -F --pid=$qpid "$console_log" 2>/dev/null | sed -u 's/\x1b\[6n//g' &
  tpid=$!
  # What is typed here goes to the console's shell, a line at a time
  # (socat missing: the terminal only shows the log, and says so).
  fpid=
  if command -v socat >/dev/null; then
    say "this terminal is the camera's console: type a command and Enter (e.g. camagent ctl clips);" \
      "make shell (in another terminal) gives a full-screen one with line editing"
    exec 3<&0
    forward_input <&3 &
    fpid=$!
    exec 3<&-
  else
    say "this terminal only shows the camera's console log (socat missing: make deps); what is typed is not run"
  fi
  trap 'kill $tpid $fpid 2>/dev/null || true; stop_cloud; kill $spid 2>/dev/null || true' EXIT
  # wait returns early when a trapped signal arrives; QEMU may still be running.
  while kill -0 $qpid 2>/dev/null; do wait $qpid || true; done
  local st=0
  wait $qpid || st=$?
  wait $tpid || true # the last console lines
  rm -f "$console_sock" "$monitor_sock" "$pidfile"
  say "camera off (QEMU exit status $st)"
  if [ -n "$cpid" ]; then
    stop_cloud
    say "dev cloud stopped; its data stays in $cloud (to look again: $out/camcloud serve -data $cloud &" \
      "then $out/camcloud list -data $cloud -account dev)"
  fi
}

# forward_input sends each line read on stdin to the camera's serial console,
# where its shell runs it (the answer shows in the console log). It connects
# for one line at a time, so `make shell` can still attach in between; while
# it is attached the line is not sent, and this says so.
forward_input() {
  local line
  while IFS= read -r line; do
    # QEMU drops what the serial port has not taken yet when the client
    # hangs up: stay connected a second after the line.
    if ! { printf '%s\r' "$line"; sleep 1; } | socat -u - "UNIX-CONNECT:$console_sock" 2>/dev/null; then
      say "not sent to the camera: its console is busy (make shell attached?) or the camera is off"
    fi
  done
}

cmd_shell() {
  command -v socat >/dev/null || die "socat missing (make deps)"
  if ! running || [ ! -S "$console_sock" ]; then die "the camera is not running (make run)"; fi
  if [ -t 0 ]; then
    say "attached to the camera console; press Enter for a prompt, Ctrl-] to detach"
    exec socat -,raw,echo=0,escape=0x1d "UNIX-CONNECT:$console_sock"
  fi
  exec socat - "UNIX-CONNECT:$console_sock"
}

cmd_stop() {
  running || die "the camera is not running"
  power_off "$(cat "$pidfile")"
}

cmd_boot() {
  qemu_args
  local console=${CAMERA_CONSOLE:-stdio} mon=${CAMERA_MONITOR:-none}
  if [ "$console" = stdio ]; then
    args+=(-chardev "stdio,id=con,signal=off")
  else
    args+=(-chardev "socket,id=con,path=$console,server=on,wait=on")
  fi
  args+=(-serial chardev:con -no-reboot)
  if [ "$mon" = none ]; then args+=(-monitor none); else args+=(-monitor "unix:$mon,server=on,wait=off"); fi
  exec "$(qemu_bin)" "${args[@]}"
}

case ${1:-} in
run) shift; cmd_run "$@" ;;
shell) cmd_shell ;;
stop) cmd_stop ;;
boot) cmd_boot ;;
*) die "usage: qemu.sh run [--fs vfat|ext4] | shell | stop | boot" ;;
esac
