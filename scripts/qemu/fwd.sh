#!/bin/sh
# fwd.sh PORT: one guest connection forwarded by QEMU's guestfwd (cmd: form) to
# the host's loopback. QEMU starts one of these per connection, with the guest's
# TCP stream on stdin, stdout and stderr, so nc's own messages (connection
# refused) are dropped rather than sent to the guest as data. Only 127.0.0.1 is
# ever contacted.
exec busybox nc 127.0.0.1 "$1" 2>/dev/null
