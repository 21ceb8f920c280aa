// Package livesize holds two programs whose stripped binary sizes, compared
// per architecture by scripts/livesize.sh, give what live view
// (uplink/live, i.e. github.com/pion/webrtc/v4) adds to a binary that
// already links net/http and crypto/tls as the agent does: device/ runs a
// live.Server, base/ uses the same camagent packages without it. A third,
// pion/, links pion/webrtc alone (a PeerConnection answering an offer, with
// a data channel and an H.264 track): the least any live view built on pion
// carries (README "Size budget").
package livesize
