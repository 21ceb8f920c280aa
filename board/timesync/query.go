package timesync

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// server is one configured time server.
type server struct {
	network string // udp or tcp
	addr    string // host:port
}

func (s server) String() string {
	if s.network == "tcp" {
		return "tcp://" + s.addr
	}
	return s.addr
}

// CheckServer reports whether s is a server Config.Servers accepts.
func CheckServer(s string) error {
	_, err := parseServer(s)
	return err
}

// parseServer reads host, host:port or tcp://host:port.
func parseServer(s string) (server, error) {
	network := "udp"
	if rest, ok := strings.CutPrefix(s, "tcp://"); ok {
		network, s = "tcp", rest
	}
	if s == "" {
		return server{}, fmt.Errorf("timesync: empty server")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if network == "tcp" {
			return server{}, fmt.Errorf("timesync: server tcp://%s: want tcp://host:port", s)
		}
		host, port = s, "123"
	}
	if host == "" || strings.ContainsAny(host, "/ ") {
		return server{}, fmt.Errorf("timesync: server %q: want host, host:port or tcp://host:port", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return server{}, fmt.Errorf("timesync: server %q: port %q is not 1..65535", s, port)
	}
	return server{network: network, addr: net.JoinHostPort(host, port)}, nil
}

// dialer opens connections to servers; tests and the QEMU camera use the
// real network, there is no fake.
type dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// query sends one SNTP request to srv and measures the answer. now is the
// local clock (time.Now: its monotonic reading times the round trip).
func query(ctx context.Context, d dialer, srv server, now func() time.Time, timeout time.Duration) (sample, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := d.DialContext(ctx, srv.network, srv.addr)
	if err != nil {
		return sample{}, fmt.Errorf("timesync: %s: %w", srv, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	var buf [packetSize]byte
	t1 := now()
	// The transmit time goes out as sent and must come back as the
	// originate time: it is the request's cookie.
	sent := toNTP(t1)
	req := packet{version: version, mode: modeClient, transmit: sent}
	req.marshal(buf[:])
	if _, err := conn.Write(buf[:]); err != nil {
		return sample{}, fmt.Errorf("timesync: %s: send: %w", srv, err)
	}
	for {
		// UDP: one datagram per read; TCP: exactly 48 bytes.
		var n int
		if srv.network == "tcp" {
			n, err = io.ReadFull(conn, buf[:])
		} else {
			n, err = conn.Read(buf[:])
		}
		t4 := now()
		if err != nil {
			return sample{}, fmt.Errorf("timesync: %s: receive: %w", srv, err)
		}
		p, err := parsePacket(buf[:n])
		if err == nil {
			err = checkReply(p, sent)
		}
		if err != nil {
			if srv.network == "udp" && p.originate != sent {
				continue // a stray or late datagram: wait for ours until the deadline
			}
			return sample{}, fmt.Errorf("timesync: %s: %w", srv, err)
		}
		return measure(p, t1, t4), nil
	}
}
