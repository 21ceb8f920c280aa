package verify

import (
	"bytes"
	"errors"
	"io"
	"os"

	"github.com/camagent/camagent/uplink/c2pa"
)

// maxCredentialJPEG bounds a picture read whole for its Content Credentials.
const maxCredentialJPEG = 16 << 20

// credentials reports the Content Credentials (C2PA) a JPEG or MP4 carries:
// signed by which device (from the verified certificate), when, and whether
// it is valid; INFO when the file carries none. kid is the device of our own
// manifest: C2PA signed by another device fails.
func (v *Checker) credentials(path string, head []byte, size int64, kid string) {
	const what = "Content Credentials (C2PA)"
	jpeg := len(head) >= 2 && head[0] == 0xFF && head[1] == 0xD8
	mp4 := len(head) >= 8 && bytes.Equal(head[4:8], []byte("ftyp"))
	if !jpeg && !mp4 {
		return
	}
	f, err := os.Open(path)
	if err != nil {
		v.fail("%s: %s: %v", path, what, err)
		return
	}
	defer f.Close()
	var cr *c2pa.Credential
	switch {
	case jpeg:
		if size > maxCredentialJPEG {
			v.line("SKIP", "%s: %s: a picture of %d bytes is not read whole", path, what, size)
			return
		}
		img, rerr := io.ReadAll(f)
		if rerr != nil {
			v.fail("%s: %s: read: %v", path, what, rerr)
			return
		}
		cr, err = c2pa.Verify(img, v.C2PARoots)
	default:
		cr, err = c2pa.VerifyMP4(f, size, v.C2PARoots)
	}
	switch {
	case errors.Is(err, c2pa.ErrNoManifest) || errors.Is(err, c2pa.ErrNotJPEG):
		v.line("INFO", "%s: %s: none found", path, what)
		return
	case err != nil:
		v.fail("%s: %s: invalid: %v", path, what, err)
		return
	case kid != "" && cr.DeviceID != kid:
		v.fail("%s: %s: signed by device %s, the manifest by %s", path, what, cr.DeviceID, kid)
		return
	}
	trust := "trust not checked (no -c2pa-ca)"
	if cr.Trusted {
		trust = "certificate chains to the C2PA CA given"
	}
	v.ok("%s: %s: valid, signed by device %s (certificate from %q), captured %s, %s", path, what, cr.DeviceID,
		cr.Signer.Issuer.CommonName, cr.Captured.UTC().Format("2006-01-02T15:04:05.000Z"), trust)
}
