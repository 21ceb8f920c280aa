// Command devsntp is the QEMU cameras' time server: it answers SNTP requests
// with the host's clock, over UDP and over TCP (the cameras' restricted
// network forwards only TCP). scripts/qemu.sh run starts it on the loopback;
// it is for development hosts whose own clock is right, never for a fleet.
//
//	devsntp [-udp 127.0.0.1:1123] [-tcp 127.0.0.1:1123]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/camagent/camagent/board/timesync"
)

func main() {
	udp := flag.String("udp", "127.0.0.1:1123", "UDP address to answer on (\"\": none)")
	tcp := flag.String("tcp", "127.0.0.1:1123", "TCP address to answer on (\"\": none)")
	flag.Parse()
	s, err := timesync.Listen(timesync.ServerConfig{UDP: *udp, TCP: *tcp})
	if err != nil {
		fmt.Fprintln(os.Stderr, "devsntp:", err)
		os.Exit(1)
	}
	fmt.Printf("devsntp: listening on udp %s tcp %s\n", s.UDPAddr(), s.TCPAddr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := s.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "devsntp:", err)
		os.Exit(1)
	}
}
