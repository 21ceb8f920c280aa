// Package packaging holds what puts camagent into a camera's firmware image,
// and the tests that keep those files honest: the busybox-init script
// S90camagent, the systemd unit camagent.service, and the Buildroot external
// tree in buildroot/ (package/camagent with golang-package, Config.in,
// external.desc, external.mk). README.md is the "Flashing" and "Buildroot"
// text for the project README.
//
// The tests parse the config the Buildroot package generates with the agent's
// own config parser, check that the paths in the scripts agree with the
// agent's defaults, run S90camagent under sh (and busybox sh) against a fake
// agent (start, crash and restart, clean exit, stop), and run shellcheck and
// systemd-analyze when they are installed. CAMAGENT_PACKAGE_BUILD=1 also
// evaluates camagent.mk under a small stand-in for Buildroot's package
// infrastructure (testdata/buildroot-sim.mk), vendoring offline and
// cross-building the agent for arm64.
package packaging
