package c2pa

import (
	"testing"
)

// FuzzVerify: Verify never panics on outside bytes, and whatever it accepts
// verifies again the same way.
func FuzzVerify(f *testing.F) {
	r := newRig(f)
	signed, err := r.signer.SignJPEG(testJPEG(f, 64, 48), captured)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	for _, tc := range tamperCases {
		f.Add(tc.make(f, r, signed))
	}
	f.Add(signed[:len(signed)/2])
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xEB, 0x00, 0x12, 'J', 'P', 0x02, 0x11, 0, 0, 0, 1, 0, 0, 0, 8, 'j', 'u', 'm', 'b'})
	pool := r.ca.Pool()
	f.Fuzz(func(t *testing.T, img []byte) {
		cr, err := Verify(img, pool)
		if err != nil {
			return
		}
		again, err := Verify(img, pool)
		if err != nil || again.DeviceID != cr.DeviceID || !again.Trusted {
			t.Fatalf("accepted once, then %v", err)
		}
	})
}
