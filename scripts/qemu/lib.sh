# lib.sh: shared by /init and /sbin/camera-poweroff of the QEMU camera (sourced,
# busybox sh).
# shellcheck shell=sh disable=SC2034 # the variables are used by the scripts that source this

CAMERA_RUN=/run/camera                          # pid files and flags
CAMAGENT_CONFIG=/etc/camagent/camagent.toml
CAMERA_DATA=/var/lib/camagent                   # the flash partition: the device identity

# say MESSAGE: a console line stamped with the kernel's uptime in seconds.
say() {
  read -r _up _ </proc/uptime
  echo "camera [$_up]: $*"
}

# sd_mount: the SD card's mount point, [storage] mount in camagent's config.
sd_mount() {
  awk '
    /^[ \t]*\[/ { sec = $0; gsub(/[ \t\[\]]/, "", sec); next }
    sec == "storage" && /^[ \t]*mount[ \t]*=/ {
      v = $0; sub(/^[^=]*=[ \t]*"/, "", v); sub(/".*/, "", v); print v; found = 1; exit
    }
    END { if (!found) print "/mnt/sd" }
  ' "$CAMAGENT_CONFIG"
}
