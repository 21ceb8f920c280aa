// Package board describes the hardware the agent runs on.
//
// The same binary runs on a QEMU virt machine with the kernel's vivid camera,
// on a Raspberry Pi with a UVC or CSI camera, and on generic boards with a UVC
// camera. A Profile names what differs between them — video device and
// format preferences, status LED, IR-cut and IR LED GPIO lines, watchdog, SD
// card device and mount point, persistent data and keystore paths, serial
// console, and where the hardware ID comes from — so the rest of the agent
// asks the board instead of hard-coding paths. Lookup returns a copy the
// config may override field by field; Validate names the bad field.
//
// Every path is opened under a configurable root (Join), so tests run against
// a fake /sys, /proc and /dev built in a temporary directory (boardtest.Tree).
// Hardware the board does not have is "absent", not an error: OpenStatusLED,
// OpenWatchdog and OpenIR return no-op parts for it, and only hardware that
// is present but failing is an error.
//
// The hardware itself is driven by the subpackages: led (status LED patterns
// through /sys/class/leds), gpio (GPIO character device uAPI v2 in pure Go),
// watchdog (/dev/watchdog), daynight (the IR-cut/IR LED switch from scene
// luma) and keystore (the device key).
package board
