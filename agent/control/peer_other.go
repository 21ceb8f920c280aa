//go:build !linux

package control

import (
	"errors"
	"net"
)

// peerCred is not supported off Linux; see authorize for what that allows.
func peerCred(*net.UnixConn) (Peer, error) {
	return Peer{}, errors.ErrUnsupported
}
