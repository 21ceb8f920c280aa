package fmp4

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

var spsTests = []struct {
	name    string
	hex     string
	want    SPS
	wantErr bool
}{
	{"320x240 high", sps320High, SPS{Profile: 100, Constraints: 0, Level: 12, ChromaFormat: 1, BitDepthLuma: 8, BitDepthChroma: 8, Width: 320, Height: 240}, false},
	{"1080p baseline cropped", sps1080Base, SPS{Profile: 66, Constraints: 0xc0, Level: 40, ChromaFormat: 1, BitDepthLuma: 8, BitDepthChroma: 8, Width: 1920, Height: 1080}, false},
	{"640x360 high 4:2:2", sps360High422, SPS{Profile: 122, Level: 22, ChromaFormat: 2, BitDepthLuma: 8, BitDepthChroma: 8, Width: 640, Height: 360}, false},
	{"176x144 high 4:4:4", sps144High444, SPS{Profile: 244, Level: 10, ChromaFormat: 3, BitDepthLuma: 8, BitDepthChroma: 8, Width: 176, Height: 144}, false},
	{"too short", "6764", SPS{}, true},
	{"not an SPS", "6864000cacd94141fb011000000300100000030140f1429960", SPS{}, true},
	{"forbidden bit", "e764000cacd94141fb011000000300100000030140f1429960", SPS{}, true},
	{"cut short", "6764000cacd9", SPS{}, true},
	{"endless exp-golomb", "6764000c0000000000000000000000", SPS{}, true},
}

func TestParseSPS(t *testing.T) {
	for _, tt := range spsTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSPS(unhex(t, tt.hex))
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidSPS) {
					t.Fatalf("ParseSPS = %+v, %v; want ErrInvalidSPS", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("ParseSPS = %+v, want %+v", got, tt.want)
			}
		})
	}
	big := make([]byte, MaxParamSetSize+1)
	copy(big, unhex(t, sps320High))
	if _, err := ParseSPS(big); !errors.Is(err, ErrInvalidSPS) {
		t.Errorf("oversized SPS: %v, want ErrInvalidSPS", err)
	}
}

func FuzzParseSPS(f *testing.F) {
	for _, tt := range spsTests {
		b, err := hexDecode(tt.hex)
		if err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSPS(b)
		if err == nil && (s.Width <= 0 || s.Height <= 0 || s.Width > 16384 || s.Height > 32768) {
			t.Fatalf("ParseSPS accepted size %dx%d", s.Width, s.Height)
		}
	})
}

// avcc builds a length-prefixed access unit of the given NAL units.
func avcc(nals ...[]byte) []byte {
	var b []byte
	for _, n := range nals {
		b = binary.BigEndian.AppendUint32(b, uint32(len(n)))
		b = append(b, n...)
	}
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

var (
	nalIDRx = []byte{0x65, 0x88, 0x84, 0x00, 0x03, 0x21}
	nalPx   = []byte{0x41, 0x9a, 0x22}
	nalSPSx = []byte{0x67, 0x64, 0x00, 0x0c}
	nalAUDx = []byte{0x09, 0x10}
	start4  = []byte{0, 0, 0, 1}
	start3  = []byte{0, 0, 1}
	bigP    = append([]byte{0x41}, bytes.Repeat([]byte{0x5a}, 300)...) // AVCC length 00 00 01 2d
)

var nalTests = []struct {
	name   string
	in     []byte
	annexB bool
	want   [][]byte // NAL units, AUDs included
	avcc   []byte   // the converted sample; nil for an error
	key    bool
}{
	{"annex b, 4-byte start codes", cat(start4, nalSPSx, start4, nalIDRx), true,
		[][]byte{nalSPSx, nalIDRx}, avcc(nalSPSx, nalIDRx), true},
	{"annex b, 3-byte start codes", cat(start3, nalAUDx, start3, nalPx), true,
		[][]byte{nalAUDx, nalPx}, avcc(nalPx), false},
	{"annex b, leading and trailing zeros", cat([]byte{0, 0}, start4, nalPx, []byte{0, 0}, start3, nalIDRx, []byte{0}), true,
		[][]byte{nalPx, nalIDRx}, avcc(nalPx, nalIDRx), true},
	{"annex b, empty units skipped", cat(start3, start4, nalIDRx), true,
		[][]byte{nalIDRx}, avcc(nalIDRx), true},
	{"avcc", avcc(nalSPSx, nalIDRx), false, [][]byte{nalSPSx, nalIDRx}, avcc(nalSPSx, nalIDRx), true},
	{"avcc of 301 bytes, starting 00 00 01", avcc(bigP), false, [][]byte{bigP}, avcc(bigP), false},
	{"annex b of a 3-byte start code that is no valid avcc", cat(start3, bigP), true, [][]byte{bigP}, avcc(bigP), false},
	{"avcc length past the end", []byte{0, 0, 0, 9, 0x65, 1}, false, nil, nil, false},
	{"avcc zero length", []byte{0, 0, 0, 0, 0x65}, false, nil, nil, false},
	{"avcc stray bytes", cat(avcc(nalPx), []byte{0, 0}), false, [][]byte{nalPx}, nil, false},
	{"forbidden bit", cat(start4, []byte{0xe5, 1}), true, nil, nil, false},
	{"no slice", cat(start4, nalSPSx), true, [][]byte{nalSPSx}, nil, false},
	{"empty", nil, false, nil, nil, false},
	{"only a start code", start4, true, nil, nil, false},
}

func TestNALs(t *testing.T) {
	for _, tt := range nalTests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isAnnexB(tt.in); got != tt.annexB {
				t.Errorf("isAnnexB = %v, want %v", got, tt.annexB)
			}
			r := newNALReader(tt.in)
			var got [][]byte
			for nal, ok := r.next(); ok; nal, ok = r.next() {
				got = append(got, nal)
			}
			if !equalNALs(got, tt.want) {
				t.Errorf("NAL units %x, want %x", got, tt.want)
			}
			if got := IsKeyframe(tt.in); got != tt.key {
				t.Errorf("IsKeyframe = %v, want %v", got, tt.key)
			}
			n, err := avccSize(tt.in)
			if tt.avcc == nil {
				if !errors.Is(err, ErrInvalidSample) {
					t.Fatalf("avccSize = %d, %v; want ErrInvalidSample", n, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			dst := make([]byte, n)
			putAVCC(dst, tt.in)
			if !bytes.Equal(dst, tt.avcc) {
				t.Errorf("converted %x, want %x", dst, tt.avcc)
			}
		})
	}
}

func equalNALs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestParameterSets(t *testing.T) {
	au := cat(start4, nalAUDx, start4, nalSPSx, start3, []byte{0x68, 0xee}, start4, nalIDRx)
	sps, pps := ParameterSets(au)
	if !equalNALs(sps, [][]byte{nalSPSx}) || !equalNALs(pps, [][]byte{{0x68, 0xee}}) {
		t.Errorf("ParameterSets = %x, %x", sps, pps)
	}
}

// FuzzAVCC checks that the size avccSize promises is what putAVCC writes.
func FuzzAVCC(f *testing.F) {
	for _, tt := range nalTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, au []byte) {
		n, err := avccSize(au)
		if err != nil {
			return
		}
		dst := make([]byte, n+1)
		dst[n] = 0xee
		putAVCC(dst[:n], au)
		if dst[n] != 0xee || !validAVCC(dst[:n]) {
			t.Fatalf("putAVCC wrote %x for a size of %d", dst, n)
		}
	})
}
