package livetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/storage/fmp4"
)

// AnnexB plays an H.264 Annex B stream as a capture.Source: one frame per
// access unit, frame n stamped Start + n/FPS. Wrap it in capture.NewRealtime
// to play it at its own pace.
type AnnexB struct {
	format capture.Format
	units  [][]byte
	pool   *capture.Pool
	start  time.Time
	next   int
}

// NewAnnexB splits data into access units. fps must be positive; the picture
// size is read from the first SPS.
func NewAnnexB(data []byte, fps float64, start time.Time) (*AnnexB, error) {
	if fps <= 0 {
		return nil, fmt.Errorf("livetest: annexb: fps %g", fps)
	}
	units := SplitAccessUnits(data)
	if len(units) == 0 {
		return nil, errors.New("livetest: annexb: no access units")
	}
	var w, h, biggest int
	for _, au := range units {
		biggest = max(biggest, len(au))
		if w == 0 {
			if sps, _ := fmp4.ParameterSets(au); len(sps) > 0 {
				p, err := fmp4.ParseSPS(sps[0])
				if err != nil {
					return nil, fmt.Errorf("livetest: annexb: %w", err)
				}
				w, h = p.Width, p.Height
			}
		}
	}
	if w == 0 {
		return nil, errors.New("livetest: annexb: no SPS")
	}
	return &AnnexB{format: capture.Format{Pixel: capture.FormatH264, Width: w, Height: h, FPS: fps},
		units: units, pool: capture.NewPool(4, biggest), start: start}, nil
}

// Format returns the stream's format.
func (a *AnnexB) Format() capture.Format { return a.format }

// Next returns the next access unit, or io.EOF after the last.
func (a *AnnexB) Next(ctx context.Context) (*capture.Frame, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if a.next >= len(a.units) {
		return nil, io.EOF
	}
	f, err := a.pool.Get()
	if err != nil {
		return nil, err
	}
	if err := f.Fill(a.units[a.next]); err != nil {
		f.Release()
		return nil, err
	}
	f.Format = a.format
	f.Seq = uint64(a.next)
	f.Time = a.start.Add(time.Duration(float64(a.next) / a.format.FPS * float64(time.Second)))
	a.next++
	return f, nil
}

// Close does nothing; the data is in memory.
func (a *AnnexB) Close() error { return nil }

// SplitAccessUnits cuts an Annex B stream into access units (each keeps its
// start codes). A unit starts at an access unit delimiter, or at an SPS, PPS
// or SEI that follows a slice, or at a slice whose first_mb_in_slice is 0
// that follows a slice.
func SplitAccessUnits(data []byte) [][]byte {
	var units [][]byte
	start, haveSlice := -1, false
	i := 0
	for {
		j := bytes.Index(data[i:], []byte{0, 0, 1})
		if j < 0 {
			break
		}
		sc := i + j // start code position (3-byte form)
		begin := sc
		if begin > 0 && data[begin-1] == 0 {
			begin-- // 4-byte start code
		}
		hdr := sc + 3
		if hdr >= len(data) {
			break
		}
		typ := data[hdr] & 0x1f
		isSlice := typ == 1 || typ == 5
		newAU := typ == 9 || (haveSlice && (typ == 6 || typ == 7 || typ == 8)) ||
			(haveSlice && isSlice && hdr+1 < len(data) && data[hdr+1]&0x80 != 0)
		if start < 0 {
			start = begin
		} else if newAU {
			units = append(units, data[start:begin])
			start, haveSlice = begin, false
		}
		if isSlice {
			haveSlice = true
		}
		i = hdr
	}
	if start >= 0 && haveSlice {
		units = append(units, data[start:])
	}
	return units
}
