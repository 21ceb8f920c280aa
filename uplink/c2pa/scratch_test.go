package c2pa

import (
	"os"
	"testing"
	"time"
)

func TestScratch(t *testing.T) {
	r := newRig(t)
	out, err := r.signer.SignJPEG(testJPEG(t, 320, 240), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile("/tmp/c2pa-scratch.jpg", out, 0o644)
	os.WriteFile("/tmp/c2pa-ca.pem", r.ca.CertPEM(), 0o644)
}
