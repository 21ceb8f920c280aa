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

// FuzzStore: the JUMBF parser and the CBOR decoding of the manifest's parts
// (which FuzzVerify reaches only when the hashes still match) never panic
// and stay within their limits.
func FuzzStore(f *testing.F) {
	r := newRig(f)
	signed, err := r.signer.SignJPEG(testJPEG(f, 64, 48), captured)
	if err != nil {
		f.Fatal(err)
	}
	store, _, _, err := extractStore(signed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(store)
	f.Add(store[:len(store)/2])
	f.Add(cborBox(uuidClaim, labelClaim, []byte{0xa1, 0x61, 'a', 0x80}))
	f.Fuzz(func(t *testing.T, b []byte) {
		root, _, err := parseSuperbox(b, 0)
		if err != nil {
			return
		}
		var walk func(j *jbox, depth int)
		walk = func(j *jbox, depth int) {
			if depth > maxDepth+1 || len(j.children)+len(j.content) > maxChildren {
				t.Fatalf("limits passed: depth %d, %d boxes", depth, len(j.children)+len(j.content))
			}
			if data, err := j.cbor(); err == nil {
				var c claimV2
				_ = decMode.Unmarshal(data, &c)
				var d dataHash
				_ = decMode.Unmarshal(data, &d)
			}
			for _, c := range j.children {
				walk(c, depth+1)
			}
		}
		walk(root, 0)
	})
}
