package protocol

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/camagent/camagent/storage/atomicfile"
)

// Paths of the ingest API. {sha256} is 64 lowercase hex digits.
const (
	PathManifests    = "/v1/manifests"        // POST: the COSE bytes of a manifest
	PathObjectPrefix = "/v1/objects/"         // PUT /v1/objects/{sha256}?offset=N
	StatusSuffix     = "/status"              // GET|HEAD /v1/objects/{sha256}/status
	PathDevicesFmt   = "/v1/devices/%s/items" // GET: a device's items (viewer)
	PathItemFmt      = "/v1/items/%s/%d/%s"   // GET: one object with its manifest (viewer)
	PathEnroll       = "/v1/enroll"           // POST: a CSR (camcloud's dev CA)
	ManifestRole     = "manifest"             // the role name under which an item's manifest is served
	ContentManifest  = "application/cose; cose-type=\"cose-sign1\""
	ContentObject    = "application/octet-stream" // PUT bodies
	ContentJSON      = "application/json"
)

// Headers.
const (
	// HeaderOffset carries an object's stored length in answers to PUT and
	// to the status request (also for HEAD, which has no body).
	HeaderOffset = "Upload-Offset"
	// HeaderManifest carries, on an object served by the read API, the
	// standard base64 of the COSE bytes of the manifest that covers it.
	HeaderManifest = "Camagent-Manifest"
	// HeaderRetryAfter is the standard Retry-After: seconds or an HTTP-date.
	HeaderRetryAfter = "Retry-After"
)

// Error codes, stable and machine readable. Each refusal has its own.
const (
	CodeNoClientCert     = "no-client-cert"      // 401: no TLS client certificate
	CodeCertExpired      = "cert-expired"        // 401: certificate expired or not yet valid
	CodeCertUntrusted    = "cert-untrusted"      // 401: not issued by the ingest's CA
	CodeCertInvalid      = "cert-invalid"        // 401: other chain or usage failure
	CodeCertIdentity     = "cert-identity"       // 401: certificate CN is not its key's device ID
	CodeTooLarge         = "too-large"           // 413: manifest or object over its limit
	CodeMalformed        = "malformed"           // 400: not a well-formed manifest (CBOR/COSE)
	CodeKeyMismatch      = "key-mismatch"        // 400: kid, device ID and embedded key disagree
	CodeBadSignature     = "bad-signature"       // 400: the signature does not verify
	CodeIdentityMismatch = "identity-mismatch"   // 403: manifest device is not the TLS client
	CodeUnpaired         = "unpaired"            // 403: the device is paired to no account
	CodeOwnerMismatch    = "owner-mismatch"      // 403: manifest owner is not the device's account
	CodeLookupFailed     = "lookup-inconsistent" // 503: the owner lookup kept answering for other devices
	CodeSeqRollback      = "seq-rollback"        // 409: sequence below the latest accepted
	CodeSeqConflict      = "seq-conflict"        // 409: another manifest with that sequence is stored
	CodeSizeConflict     = "size-conflict"       // 409: the object was declared with another size
	CodeNotDeclared      = "not-declared"        // 404: no manifest of this device declares the object
	CodeOffsetMismatch   = "offset-mismatch"     // 409: offset is not the stored length
	CodeBusy             = "busy"                // 409: the object is being written by another request
	CodeHashMismatch     = "hash-mismatch"       // 422: the object's SHA-256 is not the declared one
	CodeTruncated        = "truncated"           // 400: the body ended before the object's end
	CodeBadRequest       = "bad-request"         // 400: bad path, offset or method
	CodeUnauthorized     = "unauthorized"        // 401: read API without a valid viewer token
	CodeForbidden        = "forbidden"           // 403: the viewer's account does not own the device
	CodeNotFound         = "not-found"           // 404
	CodeStoreCorrupt     = "store-corrupt"       // 500: a stored item failed re-verification
	CodeInternal         = "internal"            // 500/503: storage failure on the ingest
	// CodeOverloaded (503, with Retry-After): the ingest is at capacity
	// (admission control); nothing is wrong with the device or the item.
	CodeOverloaded = "overloaded"
)

// Codes lists every error code, for tests and docs.
func Codes() []string {
	return []string{CodeNoClientCert, CodeCertExpired, CodeCertUntrusted, CodeCertInvalid, CodeCertIdentity,
		CodeTooLarge, CodeMalformed, CodeKeyMismatch, CodeBadSignature, CodeIdentityMismatch, CodeUnpaired,
		CodeOwnerMismatch, CodeLookupFailed, CodeSeqRollback, CodeSeqConflict, CodeSizeConflict,
		CodeNotDeclared, CodeOffsetMismatch, CodeBusy, CodeHashMismatch, CodeTruncated, CodeBadRequest,
		CodeUnauthorized, CodeForbidden, CodeNotFound, CodeStoreCorrupt, CodeInternal, CodeOverloaded}
}

// ManifestAnswer answers POST PathManifests: what the ingest still lacks.
type ManifestAnswer struct {
	Device string `json:"device"`
	Seq    uint64 `json:"seq"`
	// Replay: this exact manifest was already stored; nothing changed.
	Replay bool `json:"replay,omitempty"`
	// Gap: the manifest does not link to the newest one the ingest has
	// from this device (recorded, not refused).
	Gap bool `json:"gap,omitempty"`
	// Complete: every object the manifest covers is stored.
	Complete bool `json:"complete"`
	// Missing lists the objects still lacking, in the manifest's order.
	Missing []Missing `json:"missing"`
}

// Missing is one object the ingest lacks and how much of it it has.
type Missing struct {
	SHA256 string `json:"sha256"`
	Role   string `json:"role"`
	Size   uint64 `json:"size"`
	Offset uint64 `json:"offset"`
}

// ObjectAnswer answers PUT and the status request.
type ObjectAnswer struct {
	SHA256   string `json:"sha256"`
	Size     uint64 `json:"size"`
	Offset   uint64 `json:"offset"`
	Complete bool   `json:"complete"`
}

// ErrorAnswer is the body of every refusal.
type ErrorAnswer struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	// Offset is the stored length of the object, on offset-mismatch,
	// truncated and busy answers.
	Offset *uint64 `json:"offset,omitempty"`
}

// ItemList answers GET PathDevicesFmt.
type ItemList struct {
	Device string `json:"device"`
	Items  []Item `json:"items"`
	// Next is the "after" value for the next page; 0 when this was the last.
	Next uint64 `json:"next,omitempty"`
}

// Item is one stored manifest and its objects, as the read API lists it. It
// is a convenience for listing: a viewer shows nothing before it has checked
// the object against the manifest served with it (package verify).
type Item struct {
	Seq          uint64       `json:"seq"`
	Owner        string       `json:"owner"`
	StartMS      int64        `json:"start_ms"`
	EndMS        int64        `json:"end_ms"`
	ClockTrusted bool         `json:"clock_trusted"`
	Complete     bool         `json:"complete"`
	Objects      []ItemObject `json:"objects"`
}

// ItemObject is one object of a listed item.
type ItemObject struct {
	Role      string `json:"role"`
	MediaType string `json:"media_type"`
	Size      uint64 `json:"size"`
	SHA256    string `json:"sha256"`
	Stored    bool   `json:"stored"`
}

// Limits of the decoders.
const (
	MaxAnswer     = 64 << 10 // bytes of a JSON answer to the device
	MaxListAnswer = 8 << 20  // bytes of an item list
	MaxMissing    = 16       // objects in a ManifestAnswer (manifest.MaxObjects)
	MaxListItems  = 1000     // items in one ItemList page
)

// ErrDecode is returned (wrapped) for an answer that does not decode.
var ErrDecode = errors.New("protocol: bad answer")

// DecodeManifestAnswer decodes a ManifestAnswer of at most MaxAnswer bytes.
func DecodeManifestAnswer(r io.Reader) (ManifestAnswer, error) {
	var a ManifestAnswer
	if err := decode(r, MaxAnswer, &a); err != nil {
		return ManifestAnswer{}, err
	}
	if len(a.Missing) > MaxMissing {
		return ManifestAnswer{}, fmt.Errorf("%w: %d missing objects (max %d)", ErrDecode, len(a.Missing), MaxMissing)
	}
	for _, m := range a.Missing {
		if _, err := ParseSHA256(m.SHA256); err != nil {
			return ManifestAnswer{}, fmt.Errorf("%w: %w", ErrDecode, err)
		}
		if m.Offset > m.Size {
			return ManifestAnswer{}, fmt.Errorf("%w: offset %d beyond size %d", ErrDecode, m.Offset, m.Size)
		}
	}
	return a, nil
}

// DecodeObjectAnswer decodes an ObjectAnswer of at most MaxAnswer bytes.
func DecodeObjectAnswer(r io.Reader) (ObjectAnswer, error) {
	var a ObjectAnswer
	if err := decode(r, MaxAnswer, &a); err != nil {
		return ObjectAnswer{}, err
	}
	if _, err := ParseSHA256(a.SHA256); err != nil {
		return ObjectAnswer{}, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	if a.Offset > a.Size {
		return ObjectAnswer{}, fmt.Errorf("%w: offset %d beyond size %d", ErrDecode, a.Offset, a.Size)
	}
	return a, nil
}

// DecodeErrorAnswer decodes an ErrorAnswer of at most MaxAnswer bytes.
func DecodeErrorAnswer(r io.Reader) (ErrorAnswer, error) {
	var a ErrorAnswer
	if err := decode(r, MaxAnswer, &a); err != nil {
		return ErrorAnswer{}, err
	}
	if a.Code == "" || len(a.Code) > 64 {
		return ErrorAnswer{}, fmt.Errorf("%w: error answer without a code", ErrDecode)
	}
	return a, nil
}

// DecodeItemList decodes an ItemList of at most MaxListAnswer bytes.
func DecodeItemList(r io.Reader) (ItemList, error) {
	var a ItemList
	if err := decode(r, MaxListAnswer, &a); err != nil {
		return ItemList{}, err
	}
	if len(a.Items) > MaxListItems {
		return ItemList{}, fmt.Errorf("%w: %d items (max %d)", ErrDecode, len(a.Items), MaxListItems)
	}
	return a, nil
}

// decode reads one JSON value of at most limit bytes into v, refusing
// unknown fields and trailing data.
func decode(r io.Reader, limit int64, v any) error {
	b, err := atomicfile.ReadMax(r, "body", limit)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDecode, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", ErrDecode, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data", ErrDecode)
	}
	return nil
}

// ErrBadSHA256 is returned (wrapped) for text that is not 64 lowercase hex
// digits.
var ErrBadSHA256 = errors.New("protocol: not a lowercase hex SHA-256")

// ParseSHA256 parses 64 lowercase hex digits.
func ParseSHA256(s string) ([32]byte, error) {
	var h [32]byte
	if len(s) != 64 {
		return h, fmt.Errorf("%w: %.80q", ErrBadSHA256, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return h, fmt.Errorf("%w: %.80q", ErrBadSHA256, s)
		}
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("%w: %.80q", ErrBadSHA256, s)
	}
	return h, nil
}

// FormatSHA256 is the lowercase hex of h.
func FormatSHA256(h [32]byte) string { return hex.EncodeToString(h[:]) }

// ObjectPath is the PUT path of an object.
func ObjectPath(h [32]byte) string { return PathObjectPrefix + FormatSHA256(h) }

// StatusPath is the status path of an object.
func StatusPath(h [32]byte) string { return ObjectPath(h) + StatusSuffix }

// MaxOffset bounds offsets and sizes on the wire (2^53: exact in JSON
// numbers everywhere).
const MaxOffset = 1 << 53

// ErrBadOffset is returned (wrapped) for an offset that is not a plain
// decimal in [0, MaxOffset].
var ErrBadOffset = errors.New("protocol: bad offset")

// ParseOffset parses a decimal offset: digits only, no sign, no leading
// zero (but "0"), at most MaxOffset.
func ParseOffset(s string) (uint64, error) {
	if s == "" || len(s) > 16 || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("%w: %.40q", ErrBadOffset, s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: %.40q", ErrBadOffset, s)
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v > MaxOffset {
		return 0, fmt.Errorf("%w: %.40q", ErrBadOffset, s)
	}
	return v, nil
}

// MaxRetryAfter caps what ParseRetryAfter returns: a server cannot park a
// camera for longer than this with one answer.
const MaxRetryAfter = time.Hour

// ParseRetryAfter parses a Retry-After value, either delay-seconds or an
// HTTP-date (RFC 9110 10.2.3), relative to now. It returns false when the
// value is absent or invalid; the delay is clamped to [0, MaxRetryAfter].
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" || len(v) > 64 {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		for i := 0; i < len(v); i++ {
			if v[i] < '0' || v[i] > '9' {
				return 0, false
			}
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n > uint64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter, err == nil || errors.Is(err, strconv.ErrRange)
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	switch {
	case d < 0:
		d = 0
	case d > MaxRetryAfter:
		d = MaxRetryAfter
	}
	return d, true
}
