package timesync

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// packetSize is the size of an NTP packet without extensions or MAC.
const packetSize = 48

// ntpEpochOffset is the seconds from 1900-01-01 (the NTP era 0 epoch) to
// 1970-01-01.
const ntpEpochOffset = 2208988800

// NTP header fields.
const (
	modeClient = 3
	modeServer = 4
	version    = 4
	leapAlarm  = 3 // LI 3: the server's clock is not synchronised
)

// ntpTime is a 64-bit NTP timestamp: seconds since 1900 and a binary
// fraction.
type ntpTime uint64

// toNTP converts t; times before 1968 or after 2104 wrap as NTP era 0 does
// not hold them (RFC 4330 section 3 reads the high bit to tell the eras apart;
// era 1 starts in 2036, handled by fromNTP).
func toNTP(t time.Time) ntpTime {
	sec := uint64(t.Unix() + ntpEpochOffset)
	frac := (uint64(t.Nanosecond()) << 32) / 1e9
	return ntpTime(sec<<32 | frac)
}

// fromNTP converts an NTP timestamp, taking one with the high bit clear as
// era 1 (2036-2104), as RFC 4330 section 3 recommends.
func fromNTP(v ntpTime) time.Time {
	sec := int64(v >> 32)
	if sec&0x80000000 == 0 {
		sec += 1 << 32
	}
	nsec := (int64(v&0xffffffff) * 1e9) >> 32
	return time.Unix(sec-ntpEpochOffset, nsec)
}

// packet is the part of an NTP packet SNTP uses.
type packet struct {
	leap, version, mode uint8
	stratum             uint8
	rootDelay           uint32 // 16.16 seconds
	rootDispersion      uint32
	refID               [4]byte
	originate           ntpTime
	receive             ntpTime
	transmit            ntpTime
}

func (p *packet) marshal(b []byte) {
	clear(b[:packetSize])
	b[0] = p.leap<<6 | p.version<<3 | p.mode
	b[1] = p.stratum
	b[2] = 4 // poll: 16 s
	b[3] = 0xec
	binary.BigEndian.PutUint32(b[4:], p.rootDelay)
	binary.BigEndian.PutUint32(b[8:], p.rootDispersion)
	copy(b[12:16], p.refID[:])
	binary.BigEndian.PutUint64(b[16:], uint64(p.receive)) // reference time: the last set
	binary.BigEndian.PutUint64(b[24:], uint64(p.originate))
	binary.BigEndian.PutUint64(b[32:], uint64(p.receive))
	binary.BigEndian.PutUint64(b[40:], uint64(p.transmit))
}

// ErrBadPacket marks an NTP packet that is not a usable answer.
var ErrBadPacket = errors.New("timesync: bad NTP packet")

func parsePacket(b []byte) (packet, error) {
	if len(b) < packetSize {
		return packet{}, fmt.Errorf("%w: %d bytes, want at least %d", ErrBadPacket, len(b), packetSize)
	}
	var p packet
	p.leap, p.version, p.mode = b[0]>>6, b[0]>>3&7, b[0]&7
	p.stratum = b[1]
	p.rootDelay = binary.BigEndian.Uint32(b[4:])
	p.rootDispersion = binary.BigEndian.Uint32(b[8:])
	copy(p.refID[:], b[12:16])
	p.originate = ntpTime(binary.BigEndian.Uint64(b[24:]))
	p.receive = ntpTime(binary.BigEndian.Uint64(b[32:]))
	p.transmit = ntpTime(binary.BigEndian.Uint64(b[40:]))
	return p, nil
}

// checkReply checks a server's answer to the request that carried sent as
// its transmit time (RFC 4330 section 5).
func checkReply(p packet, sent ntpTime) error {
	switch {
	case p.mode != modeServer:
		return fmt.Errorf("%w: mode %d, want %d (server)", ErrBadPacket, p.mode, modeServer)
	case p.version < 3 || p.version > 4:
		return fmt.Errorf("%w: version %d", ErrBadPacket, p.version)
	case p.stratum == 0:
		return fmt.Errorf("%w: kiss-o'-death %q", ErrBadPacket, p.refID[:])
	case p.stratum > 15:
		return fmt.Errorf("%w: stratum %d", ErrBadPacket, p.stratum)
	case p.leap == leapAlarm:
		return fmt.Errorf("%w: the server's clock is not synchronised (leap indicator 3)", ErrBadPacket)
	case p.originate != sent:
		return fmt.Errorf("%w: originate time does not echo our request (a stale or forged answer)", ErrBadPacket)
	case p.transmit == 0 || p.receive == 0:
		return fmt.Errorf("%w: zero receive or transmit time", ErrBadPacket)
	}
	return nil
}

// sample is one measurement against a server.
type sample struct {
	offset time.Duration // add to the local clock to get the server's
	delay  time.Duration // round trip, less the server's processing
	// maxErr bounds |offset error|: half the delay, plus the server's own
	// root delay/2 and root dispersion.
	maxErr time.Duration
}

// measure computes a sample from the reply and the local send time t1 and
// receive time t4 (RFC 4330 section 5).
func measure(p packet, t1, t4 time.Time) sample {
	t2, t3 := fromNTP(p.receive), fromNTP(p.transmit)
	offset := (t2.Sub(t1) + t3.Sub(t4)) / 2
	delay := t4.Sub(t1) - t3.Sub(t2)
	if delay < 0 {
		delay = 0
	}
	root := short(p.rootDelay)/2 + short(p.rootDispersion)
	return sample{offset: offset, delay: delay, maxErr: delay/2 + root}
}

// short converts an NTP 16.16 short format value.
func short(v uint32) time.Duration {
	return time.Duration((uint64(v) * uint64(time.Second)) >> 16)
}
