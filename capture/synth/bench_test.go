package synth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/camagent/camagent/capture"
)

// BenchmarkNext renders 640x480 frames; the figure to watch is ns/op (a few ms
// at most is the budget) and 0 allocs/op.
func BenchmarkNext(b *testing.B) {
	for _, sc := range []Scene{Objects, Foliage, DayNight} {
		for _, pix := range []capture.PixelFormat{capture.FormatYUYV, capture.FormatNV12, capture.FormatGREY} {
			b.Run(fmt.Sprintf("%s/%v", sc, pix), func(b *testing.B) {
				s, err := New(Config{Scene: sc, Width: 640, Height: 480, Format: pix, Seed: 1})
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					f, err := s.Next(ctx)
					if errors.Is(err, io.EOF) {
						s.next = 0 // start the scene over
						continue
					}
					if err != nil {
						b.Fatal(err)
					}
					f.Release()
				}
			})
		}
	}
}

// BenchmarkNew measures building a 640x480 scene (background, textures, spans).
func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(Config{Scene: Foliage, Width: 640, Height: 480, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
