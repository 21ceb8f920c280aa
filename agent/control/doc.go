// Package control is the agent's local control socket: the way `camagent ctl`,
// `camagent shell` and the serial console ask a running agent what it is doing
// and tell it what to do, without a network and without a password.
//
// The Server listens on a unix socket (DefaultSocket) that only its owner can
// open (mode 0600), replaces a socket left behind by a crashed agent, refuses to
// start when another agent answers on it, and speaks HTTP/JSON over it. Each
// connection's peer credentials (SO_PEERCRED on Linux) are checked against a
// route table in which every route is marked read or write: only root and the
// agent's own user may use the socket, and where the kernel cannot name the peer
// the socket's file mode is the only guard, so write routes are refused.
//
// Every path and every request and answer type of the socket lives here
// (types.go for ctl's, shell.go for the serial shell's), with the shell's
// unlock protocol (Unlocker: challenge, signed response, session), so that
// the server side (package daemon) and the clients (`camagent ctl`, package
// shell) share one definition; WriteStatus prints a Status for people; the Client's Dial can be swapped
// (tests, or a socket reached through another path). The design follows
// tailscaled's safesocket, localapi and client/local packages.
package control
