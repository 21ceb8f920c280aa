package motion

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/camagent/camagent/capture"
)

// Grid values are luma in Q4 fixed point (luma*16, 0..4080) so that averaging
// keeps sub-level precision without floats.

// grid is the analysis grid's geometry over the input picture.
type grid struct {
	w, h   int // input picture
	gw, gh int // grid cells
	cell   int // input pixels per cell side
	// scale is input samples per cell side in the luma source: cell for raw
	// formats, cell/8 for the MJPEG DC image.
	scale int
}

// maxScale bounds the cell side in samples (keeps 16-bit lane sums exact).
const maxScale = 128

func newGrid(f capture.Format, gridWidth int) (grid, error) {
	g := grid{w: f.Width, h: f.Height}
	srcW, block := f.Width, 1
	if f.Pixel == capture.FormatMJPEG {
		srcW, block = f.Width/8, 8
	}
	s := max(1, (srcW+gridWidth/2)/gridWidth)
	if s > maxScale {
		return g, fmt.Errorf("motion: %dx%d is too large for grid width %d: %w", f.Width, f.Height, gridWidth, ErrUnsupported)
	}
	g.scale, g.cell = s, s*block
	g.gw, g.gh = f.Width/g.cell, f.Height/g.cell
	if g.gw < 4 || g.gh < 4 {
		return g, fmt.Errorf("motion: %dx%d gives a %dx%d grid, want at least 4x4: %w", f.Width, f.Height, g.gw, g.gh, ErrUnsupported)
	}
	return g, nil
}

// luma reads one frame's luma into the grid.
type luma struct {
	g      grid
	pixel  capture.PixelFormat
	bpp    int // bytes per pixel of the luma plane's lines (2 YUYV, 1 NV12/GREY)
	stride int
	minLen int
	acc    []uint64 // SWAR lane sums for one row of cells
	jpeg   *jpegDC
	mul    uint32 // (16<<16)/(scale*scale/rowStep)
	// rowStep is 2 when only every other line of a cell is read: the 4x4
	// cells of raw 640x480 frames, whose lines are read from memory that
	// the frame was just written to (half the traffic, and half the sums;
	// a cell then averages 8 pixels instead of 16). Else 1.
	rowStep int
	touched byte // keeps the touching loads of swar
}

// cellRowStep is the rowStep for raw frames with cells of side s.
func cellRowStep(s int) int {
	if s == 4 {
		return 2
	}
	return 1
}

var errShort = errors.New("frame too short")

func newLuma(f capture.Format, g grid) (*luma, error) {
	l := &luma{g: g, pixel: f.Pixel, rowStep: 1}
	if !f.Pixel.Compressed() {
		l.rowStep = cellRowStep(g.scale)
	}
	n := g.scale * g.scale / l.rowStep
	l.mul = uint32((16<<16 + n/2) / n)
	switch f.Pixel {
	case capture.FormatYUYV:
		l.bpp = 2
	case capture.FormatNV12, capture.FormatGREY:
		l.bpp = 1
	case capture.FormatMJPEG:
		j, err := newJPEGDC(f.Width, f.Height)
		if err != nil {
			return nil, err
		}
		l.jpeg = j
		l.minLen = 4
		return l, nil
	default:
		return nil, fmt.Errorf("motion: no luma path for %s (detection needs a YUYV, NV12, GREY or MJPEG stream): %w", f.Pixel, ErrUnsupported)
	}
	l.stride = f.Stride
	if l.stride == 0 {
		l.stride = f.Width * l.bpp
	}
	if l.stride < f.Width*l.bpp {
		return nil, fmt.Errorf("motion: stride %d below width %d: %w", f.Stride, f.Width, ErrUnsupported)
	}
	ff := f
	ff.Stride = l.stride
	l.minLen = ff.FrameSize()
	l.acc = make([]uint64, (g.gw*g.cell*l.bpp+7)/8)
	return l, nil
}

// read fills out (gw*gh, Q4) from the frame data.
func (l *luma) read(data []byte, out []uint16) error {
	if len(data) < l.minLen {
		return fmt.Errorf("%w: %d bytes, want %d", errShort, len(data), l.minLen)
	}
	if l.jpeg != nil {
		if len(data) > 2*l.g.w*l.g.h {
			return fmt.Errorf("MJPEG frame of %d bytes exceeds the limit of %d", len(data), 2*l.g.w*l.g.h)
		}
		if err := l.jpeg.decode(data); err != nil {
			return err
		}
		l.fromDC(out)
		return nil
	}
	if !l.swar(data, out) {
		l.scalar(data, out)
	}
	return nil
}

// fromDC averages the JPEG DC image (Q4) into the grid.
func (l *luma) fromDC(out []uint16) {
	g, j := l.g, l.jpeg
	s := g.scale
	if s == 1 {
		for y := range g.gh {
			copy(out[y*g.gw:(y+1)*g.gw], j.out[y*j.bw:y*j.bw+g.gw])
		}
		return
	}
	for gy := range g.gh {
		row := out[gy*g.gw : (gy+1)*g.gw]
		for gx := range row {
			var sum uint32
			for y := gy * s; y < gy*s+s; y++ {
				for _, v := range j.out[y*j.bw+gx*s : y*j.bw+gx*s+s] {
					sum += uint32(v)
				}
			}
			row[gx] = uint16((sum*(l.mul>>4) + 1<<15) >> 16)
		}
	}
}

// scalar is the plain area average for any geometry.
func (l *luma) scalar(data []byte, out []uint16) {
	g := l.g
	s, bpp := g.scale, l.bpp
	for gy := range g.gh {
		row := out[gy*g.gw : (gy+1)*g.gw]
		for gx := range row {
			var sum uint32
			for y := gy * s; y < gy*s+s; y += l.rowStep {
				line := data[y*l.stride+gx*s*bpp : y*l.stride+(gx*s+s)*bpp]
				for i := 0; i < len(line); i += bpp {
					sum += uint32(line[i])
				}
			}
			row[gx] = uint16((uint64(sum)*uint64(l.mul) + 1<<15) >> 16)
		}
	}
}

const lanes = 0x00FF00FF00FF00FF

// swar sums luma with 64-bit words holding four 16-bit lanes: a YUYV word's
// four Y bytes, or a grey word's four pairs of adjacent pixels. It reports
// false when the geometry does not suit it.
func (l *luma) swar(data []byte, out []uint16) bool {
	g := l.g
	s := g.scale
	perLane := 2 / l.bpp // pixels summed in one lane of one row
	if s%perLane != 0 || s*perLane*255 > 0xFFFF {
		return false
	}
	lanesPerCell := s / perLane
	if lanesPerCell != 1 && lanesPerCell != 2 && lanesPerCell%4 != 0 {
		return false
	}
	if (g.gw*s*l.bpp)%8 != 0 {
		return false
	}
	acc := l.acc
	n := len(acc) * 8
	if s == 2 || s == 4 {
		// The common 2x2 and 4x4 cells, straight from the lines.
		var touched byte
		for gy := range g.gh {
			row := out[gy*g.gw : (gy+1)*g.gw]
			y := gy * s
			// The lines two cell rows ahead are touched, a byte per 64,
			// while this row is summed, so that their pages and cache
			// lines are on the way (Go has no prefetch instruction).
			var a0, a1 []byte
			if ahead := y + 2*s; ahead+s-1 < g.h {
				a0 = data[ahead*l.stride : ahead*l.stride+n]
				a1 = data[(ahead+s/2)*l.stride : (ahead+s/2)*l.stride+n]
			}
			r0 := data[y*l.stride : y*l.stride+n]
			switch {
			case s == 4 && l.bpp == 2: // lines 0 and 2 of the cell (rowStep)
				touched |= cellsYUYV4(row, r0, data[(y+2)*l.stride:(y+2)*l.stride+n], a0, a1)
			case s == 4:
				touched |= touch(a0, a1)
				cellsGrey4(row, r0, data[(y+2)*l.stride:(y+2)*l.stride+n])
			case l.bpp == 2:
				touched |= touch(a0, a1)
				cellsYUYV2(row, r0, data[(y+1)*l.stride:(y+1)*l.stride+n])
			default:
				touched |= touch(a0, a1)
				cellsGrey2(row, r0, data[(y+1)*l.stride:(y+1)*l.stride+n])
			}
		}
		l.touched = touched
		return true
	}
	line := func(y int) []byte { return data[y*l.stride : y*l.stride+n] }
	for gy := range g.gh {
		clear(acc)
		y, end := gy*s, gy*s+s
		for ; y+4 <= end; y += 4 {
			if l.bpp == 2 {
				addYUYV4(acc, line(y), line(y+1), line(y+2), line(y+3))
			} else {
				addGrey4(acc, line(y), line(y+1), line(y+2), line(y+3))
			}
		}
		for ; y+2 <= end; y += 2 {
			if l.bpp == 2 {
				addYUYV2(acc, line(y), line(y+1))
			} else {
				addGrey2(acc, line(y), line(y+1))
			}
		}
		if y < end {
			if l.bpp == 2 {
				addYUYV2(acc, line(y), nil)
			} else {
				addGrey2(acc, line(y), nil)
			}
		}
		row := out[gy*g.gw : (gy+1)*g.gw]
		mul := uint64(l.mul)
		switch {
		case lanesPerCell == 1:
			for i, a := range acc {
				r := row[i*4 : i*4+4]
				r[0] = uint16((a&0xFFFF*mul + 1<<15) >> 16)
				r[1] = uint16((a>>16&0xFFFF*mul + 1<<15) >> 16)
				r[2] = uint16((a>>32&0xFFFF*mul + 1<<15) >> 16)
				r[3] = uint16((a>>48*mul + 1<<15) >> 16)
			}
		case lanesPerCell == 2:
			for i, a := range acc {
				a = a&0x0000FFFF0000FFFF + a>>16&0x0000FFFF0000FFFF
				r := row[i*2 : i*2+2]
				r[0] = uint16((a&0xFFFFFFFF*mul + 1<<15) >> 16)
				r[1] = uint16((a>>32*mul + 1<<15) >> 16)
			}
		case lanesPerCell == 4:
			row = row[:len(acc)]
			for i, a := range acc {
				a = a&0x0000FFFF0000FFFF + a>>16&0x0000FFFF0000FFFF
				row[i] = uint16(((a&0xFFFFFFFF+a>>32)*mul + 1<<15) >> 16)
			}
		default:
			words := lanesPerCell / 4
			for gx := range row {
				var sum uint64
				for _, a := range acc[gx*words : gx*words+words] {
					a = a&0x0000FFFF0000FFFF + a>>16&0x0000FFFF0000FFFF
					sum += a&0xFFFFFFFF + a>>32
				}
				row[gx] = uint16((sum*mul + 1<<15) >> 16)
			}
		}
	}
	return true
}

func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// addYUYV4 adds the luma lanes of four YUYV lines to acc.
func addYUYV4(acc []uint64, r0, r1, r2, r3 []byte) {
	r1, r2, r3 = r1[:len(r0)], r2[:len(r0)], r3[:len(r0)]
	for k := 0; k+8 <= len(r0); k += 8 {
		acc[k>>3] += le64(r0[k:k+8])&lanes + le64(r1[k:k+8])&lanes + le64(r2[k:k+8])&lanes + le64(r3[k:k+8])&lanes
	}
}

// addYUYV2 adds the luma lanes of two YUYV lines (or one, r1 nil) to acc.
func addYUYV2(acc []uint64, r0, r1 []byte) {
	if r1 == nil {
		for k := 0; k+8 <= len(r0); k += 8 {
			acc[k>>3] += le64(r0[k:k+8]) & lanes
		}
		return
	}
	r1 = r1[:len(r0)]
	for k := 0; k+8 <= len(r0); k += 8 {
		acc[k>>3] += le64(r0[k:k+8])&lanes + le64(r1[k:k+8])&lanes
	}
}

// pairs adds a grey word's adjacent pixels into four 16-bit lanes.
func pairs(w uint64) uint64 { return w&lanes + (w>>8)&lanes }

// addGrey4 adds the pixel pairs of four grey lines to acc.
func addGrey4(acc []uint64, r0, r1, r2, r3 []byte) {
	r1, r2, r3 = r1[:len(r0)], r2[:len(r0)], r3[:len(r0)]
	for k := 0; k+8 <= len(r0); k += 8 {
		acc[k>>3] += pairs(le64(r0[k:k+8])) + pairs(le64(r1[k:k+8])) + pairs(le64(r2[k:k+8])) + pairs(le64(r3[k:k+8]))
	}
}

// addGrey2 adds the pixel pairs of two grey lines (or one, r1 nil) to acc.
func addGrey2(acc []uint64, r0, r1 []byte) {
	if r1 == nil {
		for k := 0; k+8 <= len(r0); k += 8 {
			acc[k>>3] += pairs(le64(r0[k : k+8]))
		}
		return
	}
	r1 = r1[:len(r0)]
	for k := 0; k+8 <= len(r0); k += 8 {
		acc[k>>3] += pairs(le64(r0[k:k+8])) + pairs(le64(r1[k:k+8]))
	}
}

const pairLanes = 0x0000FFFF0000FFFF

// touch reads a byte of every 64 of a0 and a1 (the same length or nil).
func touch(a0, a1 []byte) (t byte) {
	a1 = a1[:len(a0)]
	for k := 0; k < len(a0); k += 64 {
		t |= a0[k] ^ a1[k]
	}
	return t
}

// cellsYUYV4 writes the Q4 means of 4x4 cells from two of their YUYV lines
// (rowStep 2): one 8-byte word of each line holds a cell's four lumas, and
// twice the sum of the 8 is the mean in Q4. It touches a byte of every 64
// of the lines a0 and a1 (nil or as long as r0) on the way, and returns them.
func cellsYUYV4(row []uint16, r0, r1, a0, a1 []byte) (t byte) {
	r1 = r1[:len(r0)]
	row = row[:len(r0)/8]
	touching := len(a0) == len(r0) && len(a1) == len(r0)
	for k := 0; k+8 <= len(r0); k += 8 {
		if touching && k&63 == 0 {
			t |= a0[k] ^ a1[k]
		}
		a := le64(r0[k:k+8])&lanes + le64(r1[k:k+8])&lanes
		a = a&pairLanes + a>>16&pairLanes
		row[k>>3] = uint16((a&0xFFFFFFFF + a>>32) << 1)
	}
	return t
}

// cellsGrey4 is cellsYUYV4 for grey lines: a word holds two cells' rows.
func cellsGrey4(row []uint16, r0, r1 []byte) {
	r1 = r1[:len(r0)]
	row = row[:len(r0)/4]
	for k := 0; k+8 <= len(r0); k += 8 {
		a := pairs(le64(r0[k:k+8])) + pairs(le64(r1[k:k+8]))
		a = a&pairLanes + a>>16&pairLanes
		c := row[k>>2 : k>>2+2]
		c[0], c[1] = uint16(a<<1), uint16(a>>32<<1)
	}
}

// cellsYUYV2 writes 2x2 cells of two YUYV lines: a word holds two cells'
// rows; the sum of four lumas times 4 is the mean in Q4.
func cellsYUYV2(row []uint16, r0, r1 []byte) {
	r1 = r1[:len(r0)]
	row = row[:len(r0)/4]
	for k := 0; k+8 <= len(r0); k += 8 {
		a := le64(r0[k:k+8])&lanes + le64(r1[k:k+8])&lanes
		a = a&pairLanes + a>>16&pairLanes
		c := row[k>>2 : k>>2+2]
		c[0], c[1] = uint16(a<<2), uint16(a>>32<<2)
	}
}

// cellsGrey2 is cellsYUYV2 for grey lines: a word holds four cells' rows.
func cellsGrey2(row []uint16, r0, r1 []byte) {
	r1 = r1[:len(r0)]
	row = row[:len(r0)/2]
	for k := 0; k+8 <= len(r0); k += 8 {
		a := pairs(le64(r0[k:k+8])) + pairs(le64(r1[k:k+8]))
		c := row[k>>1 : k>>1+4]
		c[0], c[1], c[2], c[3] = uint16(a<<2), uint16(a>>16<<2), uint16(a>>32<<2), uint16(a>>48<<2)
	}
}
