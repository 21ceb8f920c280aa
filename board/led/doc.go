// Package led shows the agent's state on a status LED through the kernel's
// LED class (/sys/class/leds/<name>), so someone standing at the camera can
// tell booting from online from recording from a fault without a console.
//
// The patterns, and how each is made:
//
//	off        trigger "none", brightness 0
//	booting    fast blink, 100 ms on / 100 ms off (timer trigger)
//	online     solid: trigger "none", brightness max_brightness
//	recording  slow blink, 1 s on / 1 s off (timer trigger)
//	fault      double blink: two 100 ms flashes every second (pattern
//	           trigger); where the kernel has no pattern trigger, a very
//	           fast 50 ms / 50 ms blink (timer trigger)
//
// The kernel does the blinking, so no goroutine is needed and the LED keeps
// its pattern if the agent hangs (the watchdog deals with that). A board whose
// kernel lacks the timer trigger (ledtrig-timer) shows the blinking patterns
// as solid on; Open logs that once.
//
// Open looks for the first of the board's LED names under the root (the Pi's
// activity LED is "ACT", "led0" on older kernels). When none exists the LED is
// absent: SetPattern records the pattern and does nothing, and Absent says so,
// so a board without LEDs is not an error. A present LED that cannot be read
// or written is an error. Restore puts back the trigger the LED had before
// (the Pi's "mmc0" disk activity) at a clean shutdown.
//
// Paths are read under a root directory so tests run on a fake tree.
package led
