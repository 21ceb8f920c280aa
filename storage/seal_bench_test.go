package storage_test

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/storage/fmp4"
	"github.com/camagent/camagent/storage/storagetest"
)

// procIO reads a counter of /proc/self/io (Linux): wchar, the bytes passed
// to write calls, and write_bytes, the bytes the process had written to the
// disk (counted at writeback: fdatasync). 0 where there is no such file.
func procIO(b *testing.B, key string) uint64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ": "); ok && k == key {
			n, _ := strconv.ParseUint(v, 10, 64)
			return n
		}
	}
	return 0
}

// BenchmarkSealClip seals a 10 s 640x480 MJPEG clip at 10 fps in fragments
// of 2 s (5 fragments, about what the recorder writes), with Content
// Credentials: "in-place" writes the signed manifest into the box reserved
// at creation, "copy" (a reservation too small, so the seal falls back to
// it: what every seal did before) writes a signed copy of the clip. The time
// is the seal's (the last fragment is already written); card-bytes/op is
// what the store wrote for the seal (its own count), wchar/op and
// disk-bytes/op the process's write calls and disk writes in the seal
// (/proc/self/io, Linux), clip-bytes the clip's size.
func BenchmarkSealClip(b *testing.B) {
	signer, _ := credentials(b)
	pic := fakeJPEG(60<<10, 7) // about a 640x480 MJPEG frame
	track := fmp4.Track{Codec: fmp4.MJPEG, Width: 640, Height: 480, FrameDuration: 100 * time.Millisecond}
	for _, bc := range []struct {
		name         string
		maxFragments int
	}{{"in-place", 0}, {"copy", 1}} {
		b.Run(bc.name, func(b *testing.B) {
			s, _ := newStore(b, storagetest.NewCard(b, 0), storage.StoreConfig{Credentials: signer})
			var card, wchar, disk uint64
			var size int64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				start := t0.Add(time.Duration(i) * time.Minute)
				cw, err := s.Create(storage.ClipSpec{Start: start, Event: 1, Track: track, MaxFragments: bc.maxFragments})
				if err != nil {
					b.Fatal(err)
				}
				for f := range 100 {
					if err := cw.AddSample(pic, start.Add(time.Duration(f)*100*time.Millisecond), true); err != nil {
						b.Fatal(err)
					}
				}
				if err := cw.Flush(); err != nil { // the fifth fragment, before the seal
					b.Fatal(err)
				}
				c0, w0, d0 := s.Status().BytesWritten, procIO(b, "wchar"), procIO(b, "write_bytes")
				b.StartTimer()
				info, err := cw.Seal(storage.ClipFinish{Events: []uint64{1}, EventTime: start, Part: 1})
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				card += s.Status().BytesWritten - c0
				wchar += procIO(b, "wchar") - w0
				disk += procIO(b, "write_bytes") - d0
				size = info.Size
				os.RemoveAll(filepath.Dir(info.Path))
				b.StartTimer()
			}
			b.ReportMetric(float64(card)/float64(b.N), "card-bytes/op")
			b.ReportMetric(float64(wchar)/float64(b.N), "wchar/op")
			b.ReportMetric(float64(disk)/float64(b.N), "disk-bytes/op")
			b.ReportMetric(float64(size), "clip-bytes")
		})
	}
}
