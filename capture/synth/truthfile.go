package synth

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/camagent/camagent/capture/y4m"
)

// TruthFormat is the format tag of the truth files this package writes.
const TruthFormat = "camagent-truth/1"

// Limits ReadTruth enforces.
const (
	maxTruthHeader = 64 << 10 // bytes in the JSON line
	maxTruthSide   = 8192     // width and height
	maxTruthFrames = 1 << 24
	maxZones       = 64
	maxZonePoints  = 1024
)

// TruthHeader is the first line of a truth file.
type TruthHeader struct {
	Format string         `json:"format"` // TruthFormat
	Video  string         `json:"video"`  // base name of the Y4M file it describes
	Scene  Scene          `json:"scene"`
	Width  int            `json:"width"`
	Height int            `json:"height"`
	FPS    float64        `json:"fps"`
	Frames int            `json:"frames"`
	Seed   int64          `json:"seed"`
	Spans  []Span         `json:"spans"`
	Zones  [][][2]float64 `json:"zones"`
}

// WriteScene renders the scene cfg describes into dir as two files, and
// returns their paths:
//
//   - <scene>-<W>x<H>-<format>-seed<N>.y4m, the video (see package y4m: YUYV is
//     C422, NV12 C420jpeg, GREY Cmono);
//   - the same name with .truth, the ground truth.
//
// A truth file is one line of JSON (a TruthHeader: format, video, scene, size,
// fps, frame count, seed, motion spans and exclude zones) ending in '\n',
// followed by one record per frame, in order. A record is its body's length as
// an unsigned LEB128 varint (encoding/binary's Uvarint), then the body: one byte
// of flags (1 when the frame has motion, else 0) and the mask, row by row,
// run-length encoded as pairs of (value byte, run length as a Uvarint) whose
// lengths add up to width*height. Mask values are MaskStatic, MaskUnknown and
// MaskMotion. Each file is written under a temporary name and renamed when
// complete.
func WriteScene(dir string, cfg Config) (y4mPath, truthPath string, err error) {
	src, err := New(cfg)
	if err != nil {
		return "", "", err
	}
	defer src.Close()
	c := src.Config()
	base := fmt.Sprintf("%s-%dx%d-%s-seed%d", c.Scene, c.Width, c.Height, c.Format, c.Seed)
	y4mPath = filepath.Join(dir, base+".y4m")
	truthPath = filepath.Join(dir, base+".truth")

	vf, err := os.Create(y4mPath + ".tmp")
	if err != nil {
		return "", "", fmt.Errorf("synth: write scene: %w", err)
	}
	defer func() {
		if vf != nil {
			vf.Close()
			os.Remove(vf.Name())
		}
	}()
	tf, err := os.Create(truthPath + ".tmp")
	if err != nil {
		return "", "", fmt.Errorf("synth: write scene: %w", err)
	}
	defer func() {
		if tf != nil {
			tf.Close()
			os.Remove(tf.Name())
		}
	}()

	vb, tb := bufio.NewWriterSize(vf, 1<<20), bufio.NewWriterSize(tf, 64<<10)
	vw, err := y4m.NewWriter(vb, src.Format())
	if err != nil {
		return "", "", fmt.Errorf("synth: write scene: %w", err)
	}
	hdr := TruthHeader{
		Format: TruthFormat, Video: filepath.Base(y4mPath), Scene: c.Scene, Width: c.Width, Height: c.Height,
		FPS: c.FPS, Frames: src.Frames(), Seed: c.Seed, Spans: src.Spans(), Zones: src.ExcludeZones(),
	}
	if hdr.Spans == nil {
		hdr.Spans = []Span{}
	}
	line, err := json.Marshal(hdr)
	if err != nil {
		return "", "", fmt.Errorf("synth: write scene: %w", err)
	}
	if _, err := tb.Write(append(line, '\n')); err != nil {
		return "", "", fmt.Errorf("synth: write scene: %w", err)
	}
	var rec []byte
	for {
		// Rendering never blocks: there is nothing for a context to cancel.
		f, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", "", fmt.Errorf("synth: write scene: %w", err)
		}
		err = vw.WriteFrame(f)
		f.Release()
		if err != nil {
			return "", "", fmt.Errorf("synth: write scene: %w", err)
		}
		t := src.Truth()
		rec = appendRecord(rec[:0], t.Motion, t.Mask)
		if _, err := tb.Write(rec); err != nil {
			return "", "", fmt.Errorf("synth: write scene: %w", err)
		}
	}
	for _, p := range []struct {
		b    *bufio.Writer
		f    **os.File
		path string
	}{{vb, &vf, y4mPath}, {tb, &tf, truthPath}} {
		if err := p.b.Flush(); err != nil {
			return "", "", fmt.Errorf("synth: write scene: %w", err)
		}
		if err := (*p.f).Close(); err != nil {
			return "", "", fmt.Errorf("synth: write scene: %w", err)
		}
		if err := os.Rename((*p.f).Name(), p.path); err != nil {
			return "", "", fmt.Errorf("synth: write scene: %w", err)
		}
		*p.f = nil
	}
	return y4mPath, truthPath, nil
}

// appendRecord appends one frame's truth record to dst.
func appendRecord(dst []byte, motion bool, mask []byte) []byte {
	var body [binary.MaxVarintLen64]byte
	// Encode the body after room for its length, then move it into place.
	start := len(dst)
	dst = append(dst, body[:]...)
	flag := byte(0)
	if motion {
		flag = 1
	}
	dst = append(dst, flag)
	for i := 0; i < len(mask); {
		v, j := mask[i], i+1
		for j < len(mask) && mask[j] == v {
			j++
		}
		dst = append(dst, v)
		dst = binary.AppendUvarint(dst, uint64(j-i))
		i = j
	}
	n := len(dst) - start - len(body)
	k := binary.PutUvarint(body[:], uint64(n))
	copy(dst[start:], body[:k])
	copy(dst[start+k:], dst[start+len(body):])
	return dst[:start+k+n]
}

// TruthFile is a truth file in memory (run-length encoded, so a few hundred
// bytes per frame).
type TruthFile struct {
	TruthHeader
	data   []byte
	offs   []int // record i's body is data[offs[i]:offs[i+1]]
	motion []bool
	mask   []byte
}

// ReadTruth reads a truth file written by WriteScene.
func ReadTruth(path string) (*TruthFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("synth: read truth: %w", err)
	}
	defer f.Close()
	t, err := ParseTruth(f)
	if err != nil {
		return nil, fmt.Errorf("synth: read truth %s: %w", path, err)
	}
	return t, nil
}

// ParseTruth reads a truth file from r, checking every record, the limits
// (at most 8192x8192 pixels, 2^24 frames, a 64 KiB header, 64 zones of 1024
// points) and that the spans are the runs of frames flagged with motion. Errors
// wrap ErrTruth.
func ParseTruth(r io.Reader) (*TruthFile, error) {
	br := bufio.NewReaderSize(r, maxTruthHeader)
	line, err := br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: header longer than %d bytes", ErrTruth, maxTruthHeader)
		}
		return nil, fmt.Errorf("%w: header: %w", ErrTruth, err)
	}
	t := &TruthFile{}
	if err := json.Unmarshal(line, &t.TruthHeader); err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrTruth, err)
	}
	if err := t.checkHeader(); err != nil {
		return nil, err
	}
	pixels := t.Width * t.Height
	maxBody := uint64(1 + pixels*2)
	var data bytes.Buffer
	t.offs = append(t.offs, 0)
	for i := range t.Frames {
		n, err := binary.ReadUvarint(br)
		if err != nil {
			return nil, fmt.Errorf("%w: frame %d: %w", ErrTruth, i, unexpected(err))
		}
		if n < 3 || n > maxBody {
			return nil, fmt.Errorf("%w: frame %d: record of %d bytes", ErrTruth, i, n)
		}
		if _, err := io.CopyN(&data, br, int64(n)); err != nil {
			return nil, fmt.Errorf("%w: frame %d: %w", ErrTruth, i, unexpected(err))
		}
		body := data.Bytes()[t.offs[i]:]
		if err := checkBody(body, pixels); err != nil {
			return nil, fmt.Errorf("%w: frame %d: %w", ErrTruth, i, err)
		}
		t.offs = append(t.offs, data.Len())
		t.motion = append(t.motion, body[0] == 1)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, fmt.Errorf("%w: bytes after the last frame", ErrTruth)
	}
	t.data = data.Bytes()
	if err := t.checkSpans(); err != nil {
		return nil, err
	}
	return t, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (t *TruthFile) checkHeader() error {
	switch {
	case t.Format != TruthFormat:
		return fmt.Errorf("%w: format %q, want %q", ErrTruth, t.Format, TruthFormat)
	case t.Width < 1 || t.Height < 1 || t.Width > maxTruthSide || t.Height > maxTruthSide:
		return fmt.Errorf("%w: size %dx%d outside 1..%d", ErrTruth, t.Width, t.Height, maxTruthSide)
	case t.Frames < 0 || t.Frames > maxTruthFrames:
		return fmt.Errorf("%w: %d frames outside 0..%d", ErrTruth, t.Frames, maxTruthFrames)
	case !(t.FPS > 0 && t.FPS <= 1000):
		return fmt.Errorf("%w: fps %v", ErrTruth, t.FPS)
	case len(t.Zones) > maxZones:
		return fmt.Errorf("%w: %d zones, at most %d", ErrTruth, len(t.Zones), maxZones)
	}
	for i, z := range t.Zones {
		if len(z) < 3 || len(z) > maxZonePoints {
			return fmt.Errorf("%w: zone %d has %d points, want 3..%d", ErrTruth, i, len(z), maxZonePoints)
		}
		for _, p := range z {
			if !(p[0] >= 0 && p[0] <= 1 && p[1] >= 0 && p[1] <= 1) || math.IsNaN(p[0]+p[1]) {
				return fmt.Errorf("%w: zone %d: point %v outside 0..1", ErrTruth, i, p)
			}
		}
	}
	return nil
}

// checkBody checks one record body: a flag byte and runs covering pixels.
func checkBody(b []byte, pixels int) error {
	if b[0] > 1 {
		return fmt.Errorf("flags %#x", b[0])
	}
	sum := uint64(0)
	for p := 1; p < len(b); {
		v := b[p]
		if v != MaskStatic && v != MaskUnknown && v != MaskMotion {
			return fmt.Errorf("mask value %d", v)
		}
		n, k := binary.Uvarint(b[p+1:])
		if k <= 0 || n == 0 {
			return errors.New("bad run length")
		}
		sum += n
		if sum > uint64(pixels) {
			return fmt.Errorf("runs exceed %d pixels", pixels)
		}
		p += 1 + k
	}
	if sum != uint64(pixels) {
		return fmt.Errorf("runs cover %d of %d pixels", sum, pixels)
	}
	return nil
}

func (t *TruthFile) checkSpans() error {
	var runs []Span
	for f, m := range t.motion {
		if !m {
			continue
		}
		if n := len(runs); n > 0 && runs[n-1].Last == f-1 {
			runs[n-1].Last = f
		} else {
			runs = append(runs, Span{f, f})
		}
	}
	if !slices.Equal(runs, t.Spans) {
		i := 0
		for i < len(runs) && i < len(t.Spans) && runs[i] == t.Spans[i] {
			i++
		}
		return fmt.Errorf("%w: span %d: the header's spans differ from the runs of frames with motion", ErrTruth, i)
	}
	return nil
}

// Truth decodes frame i. Its Mask is the TruthFile's own buffer, valid until
// the next call.
func (t *TruthFile) Truth(i int) (Truth, error) {
	if i < 0 || i >= t.Frames {
		return Truth{}, fmt.Errorf("synth: truth: frame %d outside 0..%d", i, t.Frames-1)
	}
	if t.mask == nil {
		t.mask = make([]byte, t.Width*t.Height)
	}
	b := t.data[t.offs[i]:t.offs[i+1]]
	at := 0
	for p := 1; p < len(b); {
		n, k := binary.Uvarint(b[p+1:])
		v := b[p]
		run := t.mask[at : at+int(n)]
		for j := range run {
			run[j] = v
		}
		at += int(n)
		p += 1 + k
	}
	return Truth{Frame: i, Motion: b[0] == 1, Mask: t.mask}, nil
}
