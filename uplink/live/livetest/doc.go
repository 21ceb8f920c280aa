// Package livetest holds what live-view tests and development need around the
// live package: Bus, an in-process Transport (the same interface the MQTT
// client and the cloud relay implement), and AnnexB, a capture.Source that
// plays an H.264 Annex B elementary stream file (as Debian's ffmpeg writes
// with -f h264) access unit by access unit, the way an H.264 camera
// delivers them.
package livetest
