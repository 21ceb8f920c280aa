package timesync

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Server answers SNTP requests with its clock, over UDP and over TCP (48
// bytes each way, see the package doc). It is the dev cloud's time server
// for the QEMU cameras (cmd devsntp) and the peer of this package's tests;
// it says stratum 1 and synchronised whatever its clock: only for hosts
// whose clock is right.
type Server struct {
	udp   net.PacketConn
	tcp   net.Listener
	now   func() time.Time
	wg    sync.WaitGroup
	conns sync.Map // net.Conn -> struct{}, closed when Run ends
}

// ServerConfig says where to listen; either address may be "" (off).
type ServerConfig struct {
	UDP, TCP string
	Now      func() time.Time // default time.Now
}

// Listen opens the server's sockets.
func Listen(cfg ServerConfig) (*Server, error) {
	s := &Server{now: cfg.Now}
	if s.now == nil {
		s.now = time.Now
	}
	var err error
	if cfg.UDP != "" {
		if s.udp, err = net.ListenPacket("udp", cfg.UDP); err != nil {
			return nil, fmt.Errorf("timesync: server: %w", err)
		}
	}
	if cfg.TCP != "" {
		if s.tcp, err = net.Listen("tcp", cfg.TCP); err != nil {
			if s.udp != nil {
				s.udp.Close()
			}
			return nil, fmt.Errorf("timesync: server: %w", err)
		}
	}
	return s, nil
}

// UDPAddr and TCPAddr are the addresses listened on ("" when off).
func (s *Server) UDPAddr() string {
	if s.udp == nil {
		return ""
	}
	return s.udp.LocalAddr().String()
}

func (s *Server) TCPAddr() string {
	if s.tcp == nil {
		return ""
	}
	return s.tcp.Addr().String()
}

// Run answers until ctx ends, then closes everything and returns nil.
func (s *Server) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		if s.udp != nil {
			s.udp.Close()
		}
		if s.tcp != nil {
			s.tcp.Close()
		}
		s.conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
	})
	defer stop()
	if s.udp != nil {
		s.wg.Go(s.serveUDP)
	}
	if s.tcp != nil {
		s.wg.Go(s.serveTCP)
	}
	<-ctx.Done()
	s.wg.Wait()
	return nil
}

func (s *Server) serveUDP() {
	var in, out [packetSize * 2]byte
	for {
		n, addr, err := s.udp.ReadFrom(in[:])
		if err != nil {
			return
		}
		if reply, ok := s.answer(in[:n], out[:]); ok {
			_, _ = s.udp.WriteTo(reply, addr)
		}
	}
}

func (s *Server) serveTCP() {
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			return
		}
		s.conns.Store(c, struct{}{})
		s.wg.Go(func() {
			defer s.conns.Delete(c)
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			var in, out [packetSize]byte
			for {
				if _, err := io.ReadFull(c, in[:]); err != nil {
					return
				}
				reply, ok := s.answer(in[:], out[:])
				if !ok {
					return
				}
				if _, err := c.Write(reply); err != nil {
					return
				}
			}
		})
	}
}

// answer builds the reply to a client request in out; false when req is
// not one.
func (s *Server) answer(req, out []byte) ([]byte, bool) {
	recv := s.now()
	p, err := parsePacket(req)
	if err != nil || p.mode != modeClient {
		return nil, false
	}
	v := p.version
	if v < 3 || v > 4 {
		v = version
	}
	r := packet{version: v, mode: modeServer, stratum: 1, refID: [4]byte{'L', 'O', 'C', 'L'},
		originate: p.transmit, receive: toNTP(recv)}
	r.transmit = toNTP(s.now())
	r.marshal(out)
	return out[:packetSize], true
}
