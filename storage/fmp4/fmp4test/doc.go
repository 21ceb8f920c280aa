// Package fmp4test checks clips the way a user's player would: with Debian's
// ffprobe and ffmpeg. The muxer's tests and the recorder's tests share it, so
// "plays cleanly" means the same thing in both. Tests skip when the tools are
// missing or under -short.
package fmp4test
