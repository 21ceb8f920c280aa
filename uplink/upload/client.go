package upload

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/camagent/camagent/uplink/ingest/protocol"
	"github.com/camagent/camagent/uplink/manifest"
)

// Errors; test them with errors.Is.
var (
	// ErrRefused: the ingest answered with an error code (*RefusedError).
	ErrRefused = errors.New("upload: refused by the ingest")
	// ErrLocal: the item on the card does not match its manifest (a file
	// is missing or has another size, or the manifest is unreadable).
	ErrLocal = errors.New("upload: item on the card does not match its manifest")
	// ErrIncomplete: the ingest still lacks objects after they were sent.
	ErrIncomplete = errors.New("upload: ingest reports the item incomplete")
	// ErrConfig: a bad Config or ClientConfig.
	ErrConfig = errors.New("upload: bad config")
)

// RefusedError is an error answer of the ingest.
type RefusedError struct {
	Op      string // "manifest", "object", "status"
	Status  int    // HTTP status
	Code    string // protocol.Code...
	Message string
	// Offset is the ingest's stored length of the object, when it said.
	Offset *uint64
	// RetryAfter is the Retry-After delay, when the answer had one.
	RetryAfter    time.Duration
	HasRetryAfter bool
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("upload: %s: ingest answered %d %s: %s", e.Op, e.Status, e.Code, e.Message)
}

// Is makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// Class says how the uploader reacts to an error.
type Class int

const (
	// Transient: the network or the ingest is down or busy; retry the same
	// item after a backoff (an outage).
	Transient Class = iota
	// DeviceLevel: the ingest refuses this device (certificate, pairing);
	// nothing can be uploaded until that is fixed; retry after a backoff.
	DeviceLevel
	// Permanent: the ingest refuses this item for good; park it and go on.
	Permanent
	// Local: the item on the card is broken or gone.
	Local
)

// Classify tells how to react to an error of Send.
func Classify(err error) Class {
	if errors.Is(err, ErrLocal) {
		return Local
	}
	var re *RefusedError
	if !errors.As(err, &re) {
		return Transient
	}
	switch re.Code {
	case protocol.CodeNoClientCert, protocol.CodeCertExpired, protocol.CodeCertUntrusted, protocol.CodeCertInvalid,
		protocol.CodeCertIdentity, protocol.CodeUnpaired:
		return DeviceLevel
	case protocol.CodeMalformed, protocol.CodeKeyMismatch, protocol.CodeBadSignature, protocol.CodeIdentityMismatch,
		protocol.CodeOwnerMismatch, protocol.CodeSeqRollback, protocol.CodeSeqConflict, protocol.CodeSizeConflict,
		protocol.CodeTooLarge, protocol.CodeHashMismatch:
		return Permanent
	}
	return Transient
}

// ClientConfig configures a Client.
type ClientConfig struct {
	// URL is the ingest's base URL, e.g. "https://10.0.2.100:8443".
	URL string
	// TLS is the client TLS configuration: the ingest's CA and the device
	// certificate (see TLSConfig). Required unless Transport is set.
	TLS *tls.Config
	// Transport replaces the default transport (tests, benchmarks).
	Transport http.RoundTripper
	// Now is the clock Retry-After dates are read against; default time.Now.
	Now func() time.Time
	// StallTimeout cancels a request whose body or answer makes no
	// progress for this long; default 60 s.
	StallTimeout time.Duration
	// Limiter, if set, paces the bytes of object bodies (bandwidth cap).
	Limiter *Limiter
}

// Client speaks the ingest protocol (package ingest documents it). It is
// safe for concurrent use.
type Client struct {
	base    string
	hc      *http.Client
	tr      http.RoundTripper
	now     func() time.Time
	stall   time.Duration
	limiter *Limiter
}

// NewClient returns a client of the ingest at cfg.URL.
func NewClient(cfg ClientConfig) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%w: URL %q is not an http(s) base URL", ErrConfig, cfg.URL)
	}
	tr := cfg.Transport
	if tr == nil {
		if cfg.TLS == nil {
			return nil, fmt.Errorf("%w: no TLS config", ErrConfig)
		}
		tr = &http.Transport{
			TLSClientConfig:        cfg.TLS.Clone(),
			DialContext:            (&net.Dialer{Timeout: 20 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:    20 * time.Second,
			ResponseHeaderTimeout:  60 * time.Second,
			IdleConnTimeout:        90 * time.Second,
			MaxIdleConns:           2,
			MaxIdleConnsPerHost:    2,
			MaxResponseHeaderBytes: 64 << 10,
		}
	}
	c := &Client{base: strings.TrimSuffix(u.String(), "/"), tr: tr, hc: &http.Client{Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		now: cfg.Now, stall: cfg.StallTimeout, limiter: cfg.Limiter}
	if c.now == nil {
		c.now = time.Now
	}
	if c.stall <= 0 {
		c.stall = 60 * time.Second
	}
	return c, nil
}

// CloseIdleConnections closes the client's idle connections.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// do sends a request and returns the answer's body on 200, a *RefusedError
// for an error answer, or the transport's error. A watchdog cancels the
// request when neither the body nor the answer progresses for the stall
// timeout.
func (c *Client) do(ctx context.Context, op, method, path string, body io.Reader, n int64, ctype string,
	decode func(io.Reader) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dog := time.AfterFunc(c.stall, cancel)
	defer dog.Stop()
	if body != nil {
		body = &kickReader{r: body, dog: dog, d: c.stall}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("upload: %s: %w", op, err)
	}
	if body != nil {
		req.ContentLength = n
		if n == 0 {
			req.Body = http.NoBody
		}
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("User-Agent", "camagent-upload/1")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("upload: %s: %w", op, err)
	}
	defer resp.Body.Close()
	dog.Reset(c.stall)
	rb := &kickReader{r: resp.Body, dog: dog, d: c.stall}
	if resp.StatusCode == http.StatusOK {
		if err := decode(rb); err != nil {
			return fmt.Errorf("upload: %s: %w", op, err)
		}
		return nil
	}
	re := &RefusedError{Op: op, Status: resp.StatusCode}
	if d, ok := protocol.ParseRetryAfter(resp.Header.Get(protocol.HeaderRetryAfter), c.now()); ok {
		re.RetryAfter, re.HasRetryAfter = d, true
	}
	if a, err := protocol.DecodeErrorAnswer(rb); err == nil {
		re.Code, re.Message, re.Offset = a.Code, a.Error, a.Offset
	} else {
		re.Code, re.Message = "http-"+strconv.Itoa(resp.StatusCode), resp.Status
	}
	return re
}

// kickReader resets the stall watchdog on every read that makes progress.
type kickReader struct {
	r   io.Reader
	dog *time.Timer
	d   time.Duration
}

func (k *kickReader) Read(p []byte) (int, error) {
	n, err := k.r.Read(p)
	if n > 0 {
		k.dog.Reset(k.d)
	}
	return n, err
}

// PostManifest posts a manifest and returns what the ingest lacks.
func (c *Client) PostManifest(ctx context.Context, cose []byte) (protocol.ManifestAnswer, error) {
	var a protocol.ManifestAnswer
	err := c.do(ctx, "manifest", http.MethodPost, protocol.PathManifests, bytes.NewReader(cose), int64(len(cose)),
		protocol.ContentManifest, func(r io.Reader) (err error) { a, err = protocol.DecodeManifestAnswer(r); return })
	return a, err
}

// PutObject sends n bytes of body as the object sum from offset.
func (c *Client) PutObject(ctx context.Context, sum [32]byte, offset uint64, body io.Reader, n int64) (protocol.ObjectAnswer, error) {
	var a protocol.ObjectAnswer
	err := c.do(ctx, "object", http.MethodPut, protocol.ObjectPath(sum)+"?offset="+strconv.FormatUint(offset, 10),
		body, n, protocol.ContentObject, func(r io.Reader) (err error) { a, err = protocol.DecodeObjectAnswer(r); return })
	return a, err
}

// ObjectStatus asks how much of the object sum the ingest has.
func (c *Client) ObjectStatus(ctx context.Context, sum [32]byte) (protocol.ObjectAnswer, error) {
	var a protocol.ObjectAnswer
	err := c.do(ctx, "status", http.MethodGet, protocol.StatusPath(sum), nil, 0, "",
		func(r io.Reader) (err error) { a, err = protocol.DecodeObjectAnswer(r); return })
	return a, err
}

// Item is one manifest and the objects it covers, as sent to the ingest.
type Item struct {
	Name     string // the clip's name, for logs and status
	Manifest []byte // COSE bytes
	Seq      uint64
	Objects  []Object
}

// Object is one object of an Item: its manifest entry and where its bytes
// are (a file, or Data in memory when Path is empty).
type Object struct {
	manifest.Object
	Path string
	Data []byte
}

// IsBody reports whether a role is a clip body, which the uploader sends
// after every pending manifest and thumbnail.
func IsBody(role string) bool { return role == manifest.RoleClip }

// open returns the object's bytes as a ReaderAt and checks their size.
func (o *Object) open() (io.ReaderAt, func() error, error) {
	if o.Path == "" {
		if uint64(len(o.Data)) != o.Size {
			return nil, nil, fmt.Errorf("%w: %s in memory is %d bytes, manifest says %d", ErrLocal, o.Role, len(o.Data), o.Size)
		}
		return bytes.NewReader(o.Data), func() error { return nil }, nil
	}
	f, err := os.Open(o.Path)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrLocal, err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%w: %w", ErrLocal, err)
	}
	if uint64(info.Size()) != o.Size {
		f.Close()
		return nil, nil, fmt.Errorf("%w: %s is %d bytes, manifest says %d", ErrLocal, o.Path, info.Size(), o.Size)
	}
	return f, f.Close, nil
}

// Progress is told of every chunk of an object sent: n bytes just went
// out, and the ingest will have pos of its size bytes once they arrive.
type Progress func(role string, n int, pos, size uint64)

// maxResync bounds how often one object is resumed from a corrected offset
// within one Send.
const maxResync = 4

// Send posts the item's manifest, then sends each object the ingest lacks,
// from the offset the ingest has: objects that are not clip bodies first,
// smallest first. Before each object it asks want(role) (nil: send
// everything); an object it declines is left for a later Send. It returns
// true when the ingest has the whole item.
func (c *Client) Send(ctx context.Context, it *Item, want func(role string) bool, progress Progress) (bool, error) {
	ans, err := c.PostManifest(ctx, it.Manifest)
	if err != nil {
		return false, err
	}
	if ans.Complete {
		return true, nil
	}
	missing := slices.Clone(ans.Missing)
	slices.SortStableFunc(missing, func(a, b protocol.Missing) int {
		if ab, bb := IsBody(a.Role), IsBody(b.Role); ab != bb {
			if ab {
				return 1
			}
			return -1
		}
		return cmpUint(a.Size, b.Size)
	})
	complete := true
	for _, m := range missing {
		if want != nil && !want(m.Role) {
			complete = false
			continue
		}
		obj, err := it.object(m)
		if err != nil {
			return false, err
		}
		done, err := c.sendObject(ctx, obj, m.Offset, progress)
		if err != nil {
			return false, err
		}
		complete = complete && done
	}
	return complete, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// object finds the item's object the ingest asked for.
func (it *Item) object(m protocol.Missing) (*Object, error) {
	for i := range it.Objects {
		o := &it.Objects[i]
		if o.Role == m.Role && protocol.FormatSHA256(o.SHA256) == m.SHA256 && o.Size == m.Size {
			return o, nil
		}
	}
	return nil, fmt.Errorf("upload: %s: the ingest asked for %s %.16s (%d bytes), which the item does not have", it.Name, m.Role, m.SHA256, m.Size)
}

// sendObject sends obj from off, resuming from a corrected offset when the
// ingest says it has another one.
func (c *Client) sendObject(ctx context.Context, obj *Object, off uint64, progress Progress) (bool, error) {
	ra, closeFn, err := obj.open()
	if err != nil {
		return false, err
	}
	defer closeFn()
	for attempt := 0; ; attempt++ {
		if off > obj.Size {
			return false, fmt.Errorf("upload: %s: the ingest has %d bytes of %d", obj.Role, off, obj.Size)
		}
		n := int64(obj.Size - off)
		var body io.Reader = io.NewSectionReader(ra, int64(off), n)
		body = &countReader{r: body, role: obj.Role, base: off, size: obj.Size, progress: progress}
		if c.limiter != nil {
			body = &limitedReader{r: body, l: c.limiter, done: ctx.Done()}
		}
		a, err := c.PutObject(ctx, obj.SHA256, off, body, n)
		if err == nil {
			return a.Complete, nil
		}
		var re *RefusedError
		if attempt < maxResync && errors.As(err, &re) && re.Offset != nil && *re.Offset != off &&
			(re.Code == protocol.CodeOffsetMismatch || re.Code == protocol.CodeTruncated) {
			off = *re.Offset
			continue
		}
		return false, err
	}
}

// countReader reports progress.
type countReader struct {
	r          io.Reader
	role       string
	base, size uint64
	sent       uint64
	progress   Progress
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.sent += uint64(n)
	if c.progress != nil && n > 0 {
		c.progress(c.role, n, c.base+c.sent, c.size)
	}
	return n, err
}
