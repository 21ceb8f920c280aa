package verify

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/camagent/camagent/uplink/manifest"
)

// Stable decision codes.
const (
	CodeOK            = "ok"
	CodeMalformed     = "malformed"
	CodeUnknownDevice = "unknown-device"
	CodeBadSignature  = "bad-signature"
	CodeWrongOwner    = "wrong-owner"
	CodeNotCovered    = "not-covered"
	CodeSizeMismatch  = "size-mismatch"
	CodeHashMismatch  = "hash-mismatch"
	CodeReadError     = "read-error"
)

// Viewer is what a viewer learned at pairing.
type Viewer struct {
	Account string                      // the viewer's own account ID
	Devices map[string]crypto.PublicKey // device ID -> public key pinned at pairing
}

// Decision says whether to show an item, and why.
type Decision struct {
	Show   bool
	Code   string // one of the Code constants
	Reason string // for people and logs
	// Manifest is the verified manifest; set only when the signature
	// verified with the pinned key (even if the item is refused later).
	Manifest manifest.Manifest
}

// Check decides whether the viewer may be shown object (read to the end, at
// most the manifest's size plus one byte) as the role ("clip", "thumbnail")
// covered by the manifest cose.
func Check(object io.Reader, role string, cose []byte, v Viewer) Decision {
	_, kid, err := manifest.Parse(cose)
	if err != nil {
		if errors.Is(err, manifest.ErrKeyMismatch) {
			return refuse(CodeBadSignature, err.Error())
		}
		return refuse(CodeMalformed, err.Error())
	}
	pinned, ok := v.Devices[kid]
	if !ok || pinned == nil {
		return refuse(CodeUnknownDevice, fmt.Sprintf("device %s is not one of this viewer's paired devices", kid))
	}
	m, err := manifest.Verify(cose, pinned)
	if err != nil {
		if errors.Is(err, manifest.ErrMalformed) || errors.Is(err, manifest.ErrTooLarge) {
			return refuse(CodeMalformed, err.Error())
		}
		return refuse(CodeBadSignature, err.Error())
	}
	d := Decision{Manifest: m}
	if v.Account == "" || m.Owner != v.Account {
		return d.refuse(CodeWrongOwner, fmt.Sprintf("manifest owner is %.140q, viewer is %.140q", m.Owner, v.Account))
	}
	obj, ok := m.Object(role)
	if !ok {
		return d.refuse(CodeNotCovered, fmt.Sprintf("manifest %s #%d covers no %.40q", m.DeviceID, m.Seq, role))
	}
	h := sha256.New()
	limit := obj.Size + 1
	if obj.Size == ^uint64(0) || limit > 1<<62 {
		limit = 1 << 62
	}
	n, err := io.Copy(h, io.LimitReader(object, int64(limit)))
	if err != nil {
		return d.refuse(CodeReadError, fmt.Sprintf("reading the %s: %v", role, err))
	}
	if uint64(n) != obj.Size {
		more := ""
		if uint64(n) > obj.Size {
			more = " or more"
		}
		return d.refuse(CodeSizeMismatch, fmt.Sprintf("the %s is %d%s bytes, manifest says %d", role, n, more, obj.Size))
	}
	var sum [32]byte
	h.Sum(sum[:0])
	if sum != obj.SHA256 {
		return d.refuse(CodeHashMismatch, fmt.Sprintf("the %s has sha256 %x, manifest says %x", role, sum, obj.SHA256))
	}
	d.Show, d.Code = true, CodeOK
	d.Reason = fmt.Sprintf("%s of device %s #%d, owner %s", role, m.DeviceID, m.Seq, m.Owner)
	return d
}

// CheckBytes is Check for an object held in memory.
func CheckBytes(object []byte, role string, cose []byte, v Viewer) Decision {
	return Check(bytes.NewReader(object), role, cose, v)
}

func refuse(code, reason string) Decision { return Decision{Code: code, Reason: reason} }

func (d Decision) refuse(code, reason string) Decision {
	d.Show, d.Code, d.Reason = false, code, reason
	return d
}
