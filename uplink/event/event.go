package event

import (
	"crypto"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/camagent/camagent/uplink/envelope"
	"github.com/camagent/camagent/uplink/identity"
)

// ContentType is the protected COSE content type of an event message.
const ContentType = "application/vnd.camagent.event.v1+cbor"

// Version is the format version this package writes and reads.
const Version = 1

// Limits enforced by Sign and by every decoder.
const (
	MaxSize      = 4 << 10 // bytes of COSE
	MaxBoxes     = 32
	MaxOwnerLen  = 128
	MaxBootIDLen = 64
	MaxClipName  = 128
	MaxState     = 32
	MaxReason    = 512
	MaxOp        = 32
	MaxNonce     = 64
	maxPPM       = 1_000_000
)

// Kind says what happened.
type Kind string

// The kinds of event.
const (
	KindMotionStart   Kind = "motion-start"
	KindMotionEnd     Kind = "motion-end"
	KindClipSealed    Kind = "clip-sealed"
	KindClipUploaded  Kind = "clip-uploaded"
	KindRetention     Kind = "retention"
	KindSD            Kind = "sd"
	KindCaptureFault  Kind = "capture-fault"
	KindDayNight      Kind = "day-night"
	KindState         Kind = "state"
	KindOnline        Kind = "online"
	KindOffline       Kind = "offline"
	KindCommandResult Kind = "cmd-result"
)

// Kinds lists every kind.
func Kinds() []Kind {
	return []Kind{KindMotionStart, KindMotionEnd, KindClipSealed, KindClipUploaded, KindRetention, KindSD,
		KindCaptureFault, KindDayNight, KindState, KindOnline, KindOffline, KindCommandResult}
}

// Values of Event.State for cmd-result.
const (
	ResultDone    = "done"    // the command was carried out
	ResultRefused = "refused" // it was not; Reason says why
	ResultConfirm = "confirm" // it needs a second signed command with Challenge
)

// Errors returned (wrapped) by Sign, Verify and Parse; test with errors.Is.
var (
	// ErrTooLarge: the COSE bytes are over MaxSize.
	ErrTooLarge = errors.New("event: too large")
	// ErrMalformed: not a canonical event message of this format.
	ErrMalformed = errors.New("event: malformed")
	// ErrBadSignature: the signature does not verify with the key.
	ErrBadSignature = errors.New("event: bad signature")
	// ErrKeyMismatch: the key, the kid and the payload's device disagree.
	ErrKeyMismatch = errors.New("event: key does not match device ID")
)

// Box is a motion region in input pixels.
type Box struct{ X, Y, W, H uint32 }

// Event is what the daemon reports. Only the fields of its Kind are set (see
// the package doc's table); the rest stay zero.
type Event struct {
	Kind Kind
	// Time is when it happened; zero means "when it is published".
	Time time.Time

	ScorePPM uint32 // motion: peak score, parts per million of the analysed area
	Boxes    []Box  // motion: regions of the peak frame
	MotionID uint64 // motion: the detector's event number

	Clip        string        // clip: the clip's name on the card
	ManifestSeq uint64        // clip: its manifest's sequence number
	Bytes       uint64        // clip: its size
	Duration    time.Duration // clip-sealed: its length (ms precision)

	Deleted uint64 // retention: clips deleted
	Freed   uint64 // retention: bytes freed

	State  string // sd, day-night, cmd-result: see the package doc
	Reason string // anything a person should read

	Uptime  time.Duration // state, online (s precision)
	SDFree  uint64        // state: free bytes on the card
	SDTotal uint64        // state: the card's size
	FPS     float64       // state: capture frames per second
	Backlog uint64        // state: clips waiting for upload
	Dropped uint64        // state: events dropped from the full queue, ever

	Nonce     []byte // cmd-result: the command's nonce
	Op        string // cmd-result: the command's op
	Challenge []byte // cmd-result "confirm"
}

// Header is what every message says about where it comes from.
type Header struct {
	DeviceID     string // Sign fills in "" with the signer's ID
	Owner        string
	Seq          uint64
	BootID       string
	ClockTrusted bool
}

// Message is a decoded event message.
type Message struct {
	Header
	Event
}

// ScorePPM converts a motion score in [0,1] to parts per million, clamped.
func ScorePPM(score float64) uint32 {
	switch {
	case !(score > 0): // also NaN
		return 0
	case score >= 1:
		return maxPPM
	}
	return uint32(math.Round(score * maxPPM))
}

// Sign encodes h and e (whose Time must be set) and signs them with signer.
func Sign(h Header, e Event, signer crypto.Signer) ([]byte, error) {
	id, err := identity.DeviceID(signer.Public())
	if err != nil {
		return nil, fmt.Errorf("event: sign: %w", err)
	}
	if h.DeviceID == "" {
		h.DeviceID = id
	}
	if h.DeviceID != id {
		return nil, fmt.Errorf("event: sign: %w: header names %.64q, signer is %s", ErrKeyMismatch, h.DeviceID, id)
	}
	w, err := toWire(h, e)
	if err != nil {
		return nil, fmt.Errorf("event: sign: %w: %v", ErrMalformed, err)
	}
	payload, err := envelope.EncodeCanonical(&w)
	if err != nil {
		return nil, fmt.Errorf("event: sign: %w", err)
	}
	out, err := envelope.Seal(signer, ContentType, []byte(id), payload)
	if err != nil {
		return nil, fmt.Errorf("event: sign: %w", err)
	}
	if len(out) > MaxSize {
		return nil, fmt.Errorf("event: sign: %d bytes (max %d): %w", len(out), MaxSize, ErrTooLarge)
	}
	return out, nil
}

// Verify checks that b is an event message signed by pub and that pub's
// device ID, the kid and the message's device agree, and returns it.
func Verify(b []byte, pub crypto.PublicKey) (Message, error) {
	msg, m, err := parse(b)
	if err != nil {
		return Message{}, fmt.Errorf("event: verify: %w", err)
	}
	id, err := identity.DeviceID(pub)
	if err != nil {
		return Message{}, fmt.Errorf("event: verify: %w: %w", ErrKeyMismatch, err)
	}
	if id != m.DeviceID {
		return Message{}, fmt.Errorf("event: verify: %w: signed as %s, the key given is %s", ErrKeyMismatch, m.DeviceID, id)
	}
	if err := msg.Verify(pub); err != nil {
		return Message{}, fmt.Errorf("event: verify: %w: %w", ErrBadSignature, err)
	}
	return m, nil
}

// Parse decodes b WITHOUT verifying its signature. UNVERIFIED: nothing it
// returns may be trusted, stored or shown as from that device; it exists to
// pick the pinned key to verify with (the kid) and for diagnostics.
func Parse(b []byte) (Message, error) {
	_, m, err := parse(b)
	if err != nil {
		return Message{}, fmt.Errorf("event: parse: %w", err)
	}
	return m, nil
}

func parse(b []byte) (*envelope.Message, Message, error) {
	if len(b) > MaxSize {
		return nil, Message{}, fmt.Errorf("%w: %d bytes (max %d)", ErrTooLarge, len(b), MaxSize)
	}
	msg, err := envelope.Parse(b, ContentType)
	if err != nil {
		return nil, Message{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	var w wire
	if err := envelope.DecodeStrict(msg.Payload, &w, envelope.Limits{MaxNested: 4, MaxArray: MaxBoxes, MaxPairs: 24}); err != nil {
		return nil, Message{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	m, err := fromWire(&w)
	if err != nil {
		return nil, Message{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if kid := string(msg.KID); kid != m.DeviceID {
		return nil, Message{}, fmt.Errorf("%w: kid %.64q but the message names %s", ErrKeyMismatch, kid, m.DeviceID)
	}
	return msg, m, nil
}

type wire struct {
	Version uint64   `cbor:"1,keyasint"`
	Device  string   `cbor:"2,keyasint"`
	Owner   string   `cbor:"3,keyasint"`
	Seq     uint64   `cbor:"4,keyasint"`
	Boot    string   `cbor:"5,keyasint"`
	Time    int64    `cbor:"6,keyasint"`
	Clock   bool     `cbor:"7,keyasint"`
	Kind    string   `cbor:"8,keyasint"`
	Body    wireBody `cbor:"9,keyasint"`
}

type wireBody struct {
	Score     uint32    `cbor:"1,keyasint,omitempty"`
	Boxes     []wireBox `cbor:"2,keyasint,omitempty"`
	Motion    uint64    `cbor:"3,keyasint,omitempty"`
	Clip      string    `cbor:"4,keyasint,omitempty"`
	Manifest  uint64    `cbor:"5,keyasint,omitempty"`
	Bytes     uint64    `cbor:"6,keyasint,omitempty"`
	Duration  uint64    `cbor:"7,keyasint,omitempty"`
	Deleted   uint64    `cbor:"8,keyasint,omitempty"`
	Freed     uint64    `cbor:"9,keyasint,omitempty"`
	State     string    `cbor:"10,keyasint,omitempty"`
	Reason    string    `cbor:"11,keyasint,omitempty"`
	Uptime    uint64    `cbor:"12,keyasint,omitempty"`
	SDFree    uint64    `cbor:"13,keyasint,omitempty"`
	SDTotal   uint64    `cbor:"14,keyasint,omitempty"`
	FPS       uint64    `cbor:"15,keyasint,omitempty"`
	Backlog   uint64    `cbor:"16,keyasint,omitempty"`
	Dropped   uint64    `cbor:"17,keyasint,omitempty"`
	Nonce     []byte    `cbor:"18,keyasint,omitempty"`
	Op        string    `cbor:"19,keyasint,omitempty"`
	Challenge []byte    `cbor:"20,keyasint,omitempty"`
}

type wireBox struct {
	_          struct{} `cbor:",toarray"`
	X, Y, W, H uint32
}

func toWire(h Header, e Event) (wire, error) {
	if e.Time.IsZero() {
		return wire{}, errors.New("time is not set")
	}
	fps := uint64(0)
	if e.FPS > 0 && e.FPS < 1e6 {
		fps = uint64(math.Round(e.FPS * 1000))
	}
	w := wire{
		Version: Version, Device: h.DeviceID, Owner: h.Owner, Seq: h.Seq, Boot: h.BootID,
		Time: e.Time.UnixMilli(), Clock: h.ClockTrusted, Kind: string(e.Kind),
		Body: wireBody{
			Score: e.ScorePPM, Motion: e.MotionID, Clip: e.Clip, Manifest: e.ManifestSeq, Bytes: e.Bytes,
			Duration: uint64(max(e.Duration, 0) / time.Millisecond), Deleted: e.Deleted, Freed: e.Freed,
			State: e.State, Reason: e.Reason, Uptime: uint64(max(e.Uptime, 0) / time.Second),
			SDFree: e.SDFree, SDTotal: e.SDTotal, FPS: fps, Backlog: e.Backlog, Dropped: e.Dropped,
			Nonce: e.Nonce, Op: e.Op, Challenge: e.Challenge,
		},
	}
	for _, b := range e.Boxes {
		w.Body.Boxes = append(w.Body.Boxes, wireBox{X: b.X, Y: b.Y, W: b.W, H: b.H})
	}
	if len(w.Body.Nonce) == 0 {
		w.Body.Nonce = nil
	}
	if len(w.Body.Challenge) == 0 {
		w.Body.Challenge = nil
	}
	return w, w.check()
}

func fromWire(w *wire) (Message, error) {
	if err := w.check(); err != nil {
		return Message{}, err
	}
	b := &w.Body
	m := Message{
		Header: Header{DeviceID: w.Device, Owner: w.Owner, Seq: w.Seq, BootID: w.Boot, ClockTrusted: w.Clock},
		Event: Event{
			Kind: Kind(w.Kind), Time: time.UnixMilli(w.Time).UTC(),
			ScorePPM: b.Score, MotionID: b.Motion, Clip: b.Clip, ManifestSeq: b.Manifest, Bytes: b.Bytes,
			Duration: time.Duration(b.Duration) * time.Millisecond, Deleted: b.Deleted, Freed: b.Freed,
			State: b.State, Reason: b.Reason, Uptime: time.Duration(b.Uptime) * time.Second,
			SDFree: b.SDFree, SDTotal: b.SDTotal, FPS: float64(b.FPS) / 1000, Backlog: b.Backlog,
			Dropped: b.Dropped, Nonce: b.Nonce, Op: b.Op, Challenge: b.Challenge,
		},
	}
	for _, x := range b.Boxes {
		m.Boxes = append(m.Boxes, Box{X: x.X, Y: x.Y, W: x.W, H: x.H})
	}
	return m, nil
}

// check validates the form of every field.
func (w *wire) check() error {
	const maxDuration = uint64(math.MaxInt64 / int64(time.Millisecond))
	b := &w.Body
	switch {
	case w.Version != Version:
		return fmt.Errorf("version %d (want %d)", w.Version, Version)
	case identity.ValidDeviceID(w.Device) != nil:
		return identity.ValidDeviceID(w.Device)
	case len(w.Owner) > MaxOwnerLen || !utf8.ValidString(w.Owner):
		return fmt.Errorf("owner must be UTF-8 of at most %d bytes", MaxOwnerLen)
	case w.Seq == 0:
		return errors.New("sequence number 0 (numbers start at 1)")
	case w.Boot == "" || len(w.Boot) > MaxBootIDLen || !printable(w.Boot):
		return fmt.Errorf("boot ID must be 1..%d printable ASCII bytes", MaxBootIDLen)
	case !slices.Contains(Kinds(), Kind(w.Kind)):
		return fmt.Errorf("unknown kind %.32q", w.Kind)
	case b.Score > maxPPM:
		return fmt.Errorf("score %d ppm is over %d", b.Score, maxPPM)
	case len(b.Boxes) > MaxBoxes:
		return fmt.Errorf("%d boxes (max %d)", len(b.Boxes), MaxBoxes)
	case len(b.Clip) > MaxClipName || !printable(b.Clip):
		return fmt.Errorf("clip name must be at most %d printable ASCII bytes", MaxClipName)
	case len(b.State) > MaxState || !printable(b.State):
		return fmt.Errorf("state must be at most %d printable ASCII bytes", MaxState)
	case len(b.Reason) > MaxReason || !utf8.ValidString(b.Reason):
		return fmt.Errorf("reason must be UTF-8 of at most %d bytes", MaxReason)
	case len(b.Op) > MaxOp || !printable(b.Op):
		return fmt.Errorf("op must be at most %d printable ASCII bytes", MaxOp)
	case len(b.Nonce) > MaxNonce || len(b.Challenge) > MaxNonce:
		return fmt.Errorf("nonce and challenge are at most %d bytes", MaxNonce)
	case b.Duration > maxDuration || b.Uptime > maxDuration/1000:
		return errors.New("duration out of range")
	}
	return nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
