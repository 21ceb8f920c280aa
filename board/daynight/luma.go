package daynight

import "github.com/camagent/camagent/capture"

// lumaStep is the sampling pitch of MeanLuma in both directions.
const lumaStep = 8

// MeanLuma returns the mean luma (0..255) of an uncompressed frame, sampled
// every 8th pixel of every 8th line. It reports false for compressed
// formats and for data too short for the format.
func MeanLuma(f capture.Format, data []byte) (float64, bool) {
	bpp := 0
	switch f.Pixel {
	case capture.FormatYUYV:
		bpp = 2
	case capture.FormatNV12, capture.FormatGREY:
		bpp = 1
	default:
		return 0, false
	}
	line := f.Width * bpp
	stride := f.Stride
	if stride == 0 {
		stride = line
	}
	if f.Width <= 0 || f.Height <= 0 || stride < line || len(data) < stride*(f.Height-1)+line {
		return 0, false
	}
	var sum, n uint64
	for y := 0; y < f.Height; y += lumaStep {
		row := data[y*stride : y*stride+line]
		for x := 0; x < len(row); x += lumaStep * bpp {
			sum += uint64(row[x])
			n++
		}
	}
	return float64(sum) / float64(n), true
}
