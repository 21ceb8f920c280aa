package control

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// Peer is the process at the other end of a control connection, as the kernel
// reports it.
type Peer struct {
	UID, GID, PID int
}

// peerInfo is what the server learnt about a connection's peer: the peer, or
// why it could not be learnt.
type peerInfo struct {
	peer Peer
	// err is nil when peer is known; it wraps errors.ErrUnsupported where the
	// platform cannot name peers, and anything else when the lookup failed.
	err error
}

type peerKey struct{}

// PeerFromContext returns the peer of the connection a request came over, as
// seen by a route handler. ok is false when the peer is unknown.
func PeerFromContext(ctx context.Context) (p Peer, ok bool) {
	pi, found := ctx.Value(peerKey{}).(peerInfo)
	if !found || pi.err != nil {
		return Peer{}, false
	}
	return pi.peer, true
}

// errPeerRefused is the reason given to a refused peer.
var errPeerRefused = errors.New("control: access denied")

// authorize decides whether a peer may use a route. ownUID is the agent's uid.
//
//   - A known peer is allowed when it is root or runs as the agent's user, for
//     read and write routes alike.
//   - Where the platform cannot name peers (errors.ErrUnsupported), the socket's
//     mode 0600 has already limited connections to root and the owner: read
//     routes are allowed, write routes are refused.
//   - When the lookup failed for any other reason, everything is refused.
func authorize(pi peerInfo, ownUID int, write bool) error {
	switch {
	case pi.err == nil:
		if pi.peer.UID == 0 || pi.peer.UID == ownUID {
			return nil
		}
		return fmt.Errorf("%w: uid %d is neither root nor the agent's uid %d; run as root", errPeerRefused, pi.peer.UID, ownUID)
	case errors.Is(pi.err, errors.ErrUnsupported):
		if !write {
			return nil
		}
		return fmt.Errorf("%w: peer credentials are not supported on this platform, write requests are refused", errPeerRefused)
	default:
		return fmt.Errorf("%w: cannot identify the peer: %v", errPeerRefused, pi.err)
	}
}

// readPeer learns the peer of c.
func readPeer(c net.Conn) peerInfo {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return peerInfo{err: fmt.Errorf("control: peer credentials: %T is not a unix connection", c)}
	}
	p, err := peerCred(uc)
	if err != nil {
		return peerInfo{err: fmt.Errorf("control: peer credentials: %w", err)}
	}
	return peerInfo{peer: p}
}
