package command

import (
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/camagent/camagent/uplink/envelope"
	"github.com/camagent/camagent/uplink/identity"
)

// ContentType is the protected COSE content type of a command.
const ContentType = "application/vnd.camagent.command.v1+cbor"

// Version is the format version.
const Version = 1

// Limits.
const (
	MaxSize     = 16 << 10 // bytes of COSE
	MaxPatch    = 8 << 10  // bytes of TOML in a config patch
	MinNonce    = 16
	MaxNonce    = 32
	MaxLifetime = 24 * time.Hour  // expires - issued
	MaxSkew     = 5 * time.Minute // how far issued may be ahead of the device clock
	maxOp       = 32
)

// Op is what a command asks for.
type Op string

// The operations.
const (
	// OpConfigPatch changes configuration keys: Patch is a TOML fragment
	// validated exactly as the configuration file; a refused patch changes
	// nothing and the reason is published.
	OpConfigPatch Op = "config-patch"
	// OpSnapshot takes a signed JPEG and uploads it like a clip's thumbnail.
	OpSnapshot Op = "snapshot"
	// OpUploadNow starts uploading the backlog without waiting (service op).
	OpUploadNow Op = "upload-now"
	// OpReboot restarts the camera (service op).
	OpReboot Op = "reboot"
	// OpFormatSD asks to format the SD card: the camera answers with a
	// challenge and formats only on a following OpFormatSDConfirm.
	OpFormatSD Op = "format-sd"
	// OpFormatSDConfirm confirms OpFormatSD: Confirm is the challenge.
	OpFormatSDConfirm Op = "format-sd-confirm"
)

// Ops lists every op.
func Ops() []Op {
	return []Op{OpConfigPatch, OpSnapshot, OpUploadNow, OpReboot, OpFormatSD, OpFormatSDConfirm}
}

// Service reports whether the vendor's service key may sign op (otherwise
// only the owner may). Reading the camera's picture, changing its settings
// and erasing its recordings are the owner's alone.
func (op Op) Service() bool { return op == OpReboot || op == OpUploadNow }

// Errors of Parse and Check; test with errors.Is.
var (
	ErrTooLarge     = errors.New("command: too large")
	ErrMalformed    = errors.New("command: malformed")
	ErrUnsigned     = errors.New("command: not signed by the owner or the vendor")
	ErrNotPermitted = errors.New("command: the vendor key may not sign this op")
	ErrMisaddressed = errors.New("command: addressed to another device")
	ErrExpired      = errors.New("command: expired")
	ErrNotYetValid  = errors.New("command: not valid yet")
	ErrReplay       = errors.New("command: replayed (nonce already used)")
	ErrReplayFull   = errors.New("command: replay cache full")
	ErrNotPaired    = errors.New("command: the device is not paired to an owner")
)

// Command is a decoded command.
type Command struct {
	DeviceID string
	Nonce    []byte
	Issued   time.Time
	Expires  time.Time
	Op       Op
	Patch    string // OpConfigPatch
	Confirm  []byte // OpFormatSDConfirm
}

// New returns a command for device with a fresh random nonce, issued now and
// valid for ttl.
func New(device string, op Op, now time.Time, ttl time.Duration) Command {
	n := make([]byte, 16)
	_, _ = rand.Read(n)
	return Command{DeviceID: device, Nonce: n, Issued: now, Expires: now.Add(ttl), Op: op}
}

// Sign encodes c and signs it with signer (the owner's or the vendor's key).
func Sign(c Command, signer crypto.Signer) ([]byte, error) {
	w := toWire(c)
	if err := w.check(); err != nil {
		return nil, fmt.Errorf("command: sign: %w: %v", ErrMalformed, err)
	}
	payload, err := envelope.EncodeCanonical(&w)
	if err != nil {
		return nil, fmt.Errorf("command: sign: %w", err)
	}
	out, err := envelope.Seal(signer, ContentType, nil, payload)
	if err != nil {
		return nil, fmt.Errorf("command: sign: %w", err)
	}
	if len(out) > MaxSize {
		return nil, fmt.Errorf("command: sign: %w", ErrTooLarge)
	}
	return out, nil
}

// Parse decodes b WITHOUT checking its signature (UNVERIFIED: for logs and
// tests; Checker.Check is what decides).
func Parse(b []byte) (Command, error) {
	_, c, err := parse(b)
	if err != nil {
		return Command{}, fmt.Errorf("command: parse: %w", err)
	}
	return c, nil
}

func parse(b []byte) (*envelope.Message, Command, error) {
	if len(b) > MaxSize {
		return nil, Command{}, fmt.Errorf("%w: %d bytes (max %d)", ErrTooLarge, len(b), MaxSize)
	}
	msg, err := envelope.Parse(b, ContentType)
	if err != nil {
		return nil, Command{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if msg.KID != nil {
		return nil, Command{}, fmt.Errorf("%w: a command carries no kid", ErrMalformed)
	}
	var w wire
	if err := envelope.DecodeStrict(msg.Payload, &w, envelope.Limits{MaxNested: 4, MaxPairs: 16}); err != nil {
		return nil, Command{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := w.check(); err != nil {
		return nil, Command{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return msg, fromWire(&w), nil
}

type wire struct {
	Version uint64 `cbor:"1,keyasint"`
	Device  string `cbor:"2,keyasint"`
	Nonce   []byte `cbor:"3,keyasint"`
	Issued  int64  `cbor:"4,keyasint"`
	Expires int64  `cbor:"5,keyasint"`
	Op      string `cbor:"6,keyasint"`
	Patch   string `cbor:"7,keyasint,omitempty"`
	Confirm []byte `cbor:"8,keyasint,omitempty"`
}

func toWire(c Command) wire {
	w := wire{Version: Version, Device: c.DeviceID, Nonce: c.Nonce, Issued: c.Issued.UnixMilli(),
		Expires: c.Expires.UnixMilli(), Op: string(c.Op), Patch: c.Patch, Confirm: c.Confirm}
	if len(w.Confirm) == 0 {
		w.Confirm = nil
	}
	return w
}

func fromWire(w *wire) Command {
	return Command{DeviceID: w.Device, Nonce: w.Nonce, Issued: time.UnixMilli(w.Issued).UTC(),
		Expires: time.UnixMilli(w.Expires).UTC(), Op: Op(w.Op), Patch: w.Patch, Confirm: w.Confirm}
}

func (w *wire) check() error {
	op := Op(w.Op)
	switch {
	case w.Version != Version:
		return fmt.Errorf("version %d (want %d)", w.Version, Version)
	case identity.ValidDeviceID(w.Device) != nil:
		return identity.ValidDeviceID(w.Device)
	case len(w.Nonce) < MinNonce || len(w.Nonce) > MaxNonce:
		return fmt.Errorf("nonce is %d bytes (want %d..%d)", len(w.Nonce), MinNonce, MaxNonce)
	case w.Expires <= w.Issued:
		return errors.New("expires before it is issued")
	case w.Expires-w.Issued > MaxLifetime.Milliseconds():
		return fmt.Errorf("valid for longer than %s", MaxLifetime)
	case len(w.Op) > maxOp || !slices.Contains(Ops(), op):
		return fmt.Errorf("unknown op %.32q", w.Op)
	case (op == OpConfigPatch) != (w.Patch != ""):
		return errors.New("a patch comes with config-patch and only with it")
	case len(w.Patch) > MaxPatch || !utf8.ValidString(w.Patch):
		return fmt.Errorf("patch must be UTF-8 of at most %d bytes", MaxPatch)
	case (op == OpFormatSDConfirm) != (len(w.Confirm) != 0):
		return errors.New("a confirmation comes with format-sd-confirm and only with it")
	case len(w.Confirm) > MaxNonce:
		return fmt.Errorf("confirmation is over %d bytes", MaxNonce)
	}
	return nil
}
