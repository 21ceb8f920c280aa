package fmp4

import (
	"encoding/hex"
	"testing"
	"time"
)

// Parameter sets from libx264 streams made with Debian's ffmpeg (testsrc).
const (
	sps320High    = "6764000cacd94141fb011000000300100000030140f1429960"   // 320x240 High 4:2:0
	pps320High    = "68ebe3cb22c0"                                         //
	sps1080Base   = "6742c028d900780227e5c044000003000400000300503c60c920" // 1920x1080 Constrained Baseline, cropped from 1088
	sps360High422 = "677a0016bcd940a02ff89c0440000003004000000503c58b6580" // 640x360 High 4:2:2
	sps144High444 = "67f4000a919b28589d8088000003000800000300a078912cb0"   // 176x144 High 4:4:4
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeJPEG returns n bytes that start and end like a JPEG picture.
func fakeJPEG(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	b[0], b[1], b[n-2], b[n-1] = 0xff, 0xd8, 0xff, 0xd9
	return b
}

// tinyMJPEG is a small clip of 15 fake pictures at 10 fps in 3 fragments.
func tinyMJPEG(t testing.TB) []byte {
	t.Helper()
	samples := make([]testSample, 15)
	for i := range samples {
		samples[i] = testSample{data: fakeJPEG(40+i*3, byte(i)), pts: time.Duration(i) * 100 * time.Millisecond, key: true}
	}
	return muxClip(t, Track{Codec: MJPEG, Width: 64, Height: 48}, samples, 500*time.Millisecond)
}

// tinyH264AUs are 15 access units in Annex B form with a keyframe (AUD, SPS,
// PPS, IDR) every 5; the slices are filler, not decodable.
func tinyH264AUs(t testing.TB) [][]byte {
	t.Helper()
	sps, pps := unhex(t, sps320High), unhex(t, pps320High)
	aus := make([][]byte, 15)
	for i := range aus {
		var au []byte
		if i%5 == 0 {
			au = append(au, 0, 0, 0, 1, 0x09, 0x10)
			au = append(au, 0, 0, 0, 1)
			au = append(au, sps...)
			au = append(au, 0, 0, 1)
			au = append(au, pps...)
			au = append(au, 0, 0, 0, 1, 0x65, 0x88)
		} else {
			au = append(au, 0, 0, 1, 0x41, 0x9a)
		}
		for j := range 20 + i {
			au = append(au, byte(j+1))
		}
		aus[i] = au
	}
	return aus
}

// tinyH264 is a small H.264 clip of tinyH264AUs at 10 fps in 3 fragments.
func tinyH264(t testing.TB) []byte {
	t.Helper()
	aus := tinyH264AUs(t)
	return muxClip(t, h264Track(t, aus), h264Samples(aus, 100*time.Millisecond), 500*time.Millisecond)
}

func hexDecode(s string) ([]byte, error) { return hex.DecodeString(s) }
