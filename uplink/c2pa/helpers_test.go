package c2pa

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"image"
	"image/color"
	"image/jpeg"
	"testing"

	"github.com/camagent/camagent/uplink/ingest/devca"
)

// rig is a dev CA and a device with its C2PA certificate.
type rig struct {
	ca     *devca.CA
	key    *ecdsa.PrivateKey
	cert   *x509.Certificate
	signer *Signer
}

func newRig(t testing.TB) *rig {
	t.Helper()
	ca, err := devca.New("c2pa test CA", nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueC2PA(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Key: key, Chain: []*x509.Certificate{cert, ca.Certificate()}, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{ca: ca, key: key, cert: cert, signer: s}
}

// testJPEG encodes a w x h gradient picture.
func testJPEG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 7), uint8(y * 5), uint8(x ^ y), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
