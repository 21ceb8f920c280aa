package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"image"
	"image/jpeg"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/storage/fmp4"
	"github.com/camagent/camagent/uplink/c2pa"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/ingest/devca"
	"github.com/camagent/camagent/uplink/manifest"
)

// TestVerifyCmdContentCredentials: camagent verify shows the Content
// Credentials of a clip and its thumbnail (device from the certificate,
// valid or why not), next to our own manifest's checks.
func TestVerifyCmdContentCredentials(t *testing.T) {
	ca, err := devca.New("verify test CA", nil)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer := func(k *ecdsa.PrivateKey) *c2pa.Signer {
		cert, err := ca.IssueC2PA(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		s, err := c2pa.New(c2pa.Config{Key: k, Chain: []*x509.Certificate{cert, ca.Certificate()}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	at := time.Date(2026, 5, 14, 12, 3, 4, 0, time.UTC)
	var raw bytes.Buffer
	w, err := fmp4.NewWriter(&raw, fmp4.Track{Codec: fmp4.MJPEG, Width: 64, Height: 48})
	if err != nil {
		t.Fatal(err)
	}
	w.WriteInit()
	for i := range 10 {
		w.AddSample(bytes.Repeat([]byte{0xff, 0xd8, byte(i), 0xff, 0xd9}, 20), time.Duration(i)*100*time.Millisecond, true)
		if i%5 == 4 {
			w.Flush()
		}
	}
	var pic bytes.Buffer
	jpeg.Encode(&pic, image.NewGray(image.Rect(0, 0, 32, 24)), nil)

	for _, tc := range []struct {
		name    string
		c2paKey *ecdsa.PrivateKey
		flip    bool
		want    []string
		fails   int
	}{
		{"signed", key, false, []string{"OK   $clip: Content Credentials (C2PA): valid, signed by device $id (certificate from \"verify test CA\"), captured 2026-05-14T12:03:04.000Z, certificate chains to the C2PA CA given",
			"OK   $thumb: Content Credentials (C2PA): valid, signed by device $id"}, 0},
		{"flipped byte in a fragment", key, true, []string{"FAIL $clip: Content Credentials (C2PA): invalid: c2pa: hash mismatch: c2pa.hash.bmff.v3: fragment 1"}, 2},
		{"signed by another device", nil, false, []string{"FAIL $clip: Content Credentials (C2PA): signed by device "}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := tc.c2paKey
			if k == nil {
				k, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			}
			s := signer(k)
			var clip bytes.Buffer
			if _, err := s.SignMP4(&clip, bytes.NewReader(raw.Bytes()), int64(raw.Len()), at); err != nil {
				t.Fatal(err)
			}
			thumb, err := s.SignJPEG(pic.Bytes(), at)
			if err != nil {
				t.Fatal(err)
			}
			co, _ := manifest.HashObject(manifest.RoleClip, "video/mp4", bytes.NewReader(clip.Bytes()))
			to, _ := manifest.HashObject(manifest.RoleThumbnail, "image/jpeg", bytes.NewReader(thumb))
			cose, err := manifest.Sign(manifest.Manifest{Seq: 1, BootID: "b", StartMS: 1, EndMS: 2, Objects: []manifest.Object{co, to}}, key)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			cp, tp := filepath.Join(dir, "120304-e7.mp4"), filepath.Join(dir, "120304-e7.jpg")
			b := clip.Bytes()
			if tc.flip {
				b[len(b)-100] ^= 1
			}
			writeTestFile(t, cp, b)
			writeTestFile(t, tp, thumb)
			writeTestFile(t, manifest.SidecarPath(cp), cose)
			writeTestFile(t, filepath.Join(dir, "ca.pem"), ca.CertPEM())
			var out bytes.Buffer
			err = verifyCmd(context.Background(), []string{"-c2pa-ca", filepath.Join(dir, "ca.pem"), cp}, &out, &out)
			id, _ := identity.DeviceID(&key.PublicKey)
			got := out.String()
			for _, w := range tc.want {
				w = strings.NewReplacer("$clip", cp, "$thumb", tp, "$id", id).Replace(w)
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q:\n%s", w, got)
				}
			}
			if n := strings.Count(got, "\nFAIL "); n != tc.fails || (n > 0) != (err != nil) {
				t.Errorf("%d FAIL lines (err %v), want %d:\n%s", n, err, tc.fails, got)
			}
			t.Logf("%s", got)
		})
	}
}
