package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/storage/atomicfile"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/manifest"
	"github.com/camagent/camagent/uplink/verify"
)

const verifyUsage = `usage: camagent verify [-key PUBKEY.pem | -pin DEVICEID] [-owner ACCOUNT] [-c2pa-ca CA.pem] CLIP...
       camagent verify [-key PUBKEY.pem | -pin DEVICEID] [-owner ACCOUNT] [-c2pa-ca CA.pem] MANIFEST FILE...

Check clips and their signed manifests offline. In the first form each CLIP
(e.g. 120304-e7.mp4) is checked against its sidecar manifest (120304-e7%s),
together with its thumbnail (120304-e7%s) when it is there. In the second,
every FILE is checked against MANIFEST (a file whose name ends in %s or .cose,
or that starts with a COSE_Sign1 tag). One line per check: OK, FAIL (with the
reason), or SKIP. A JPEG or MP4 that carries Content Credentials (C2PA) is
checked too: which device signed them (from the certificate), when, and
whether they are valid; -c2pa-ca also checks that the certificate chains to
the given CA (the dev CA that issued the camera's c2pa.crt).

Without -key or -pin the manifest is verified with the public key it carries,
whose hash must be its device ID: that proves which device signed it, not that
the device is yours. -key (the device's public key, PEM) or -pin (its device
ID, as shown at pairing or by 'camagent provision') checks that too.

flags:
`

// verifyCmd runs `camagent verify` with args (without "verify"). It returns
// an error when any check fails.
func verifyCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("camagent verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyFile := fs.String("key", "", "the device's public key (PEM `file`) to verify with")
	pin := fs.String("pin", "", "the `device ID` the manifests must come from")
	owner := fs.String("owner", "", "the owner `account` the manifests must name")
	c2paCA := fs.String("c2pa-ca", "", "CA certificates (PEM `file`) the Content Credentials (C2PA) must chain to")
	fs.Usage = func() {
		fmt.Fprintf(stderr, verifyUsage, manifest.SidecarSuffix, storage.ExtThumbnail, manifest.SidecarSuffix)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("camagent verify: no file to check")
	}
	if *keyFile != "" && *pin != "" {
		return errors.New("camagent verify: give -key or -pin, not both")
	}
	v := &verify.Checker{Out: stdout, Owner: *owner, Pin: *pin}
	if *c2paCA != "" {
		b, err := atomicfile.ReadFileMax(*c2paCA, int64(1<<20))
		if err != nil {
			return fmt.Errorf("camagent verify: -c2pa-ca: %w", err)
		}
		v.C2PARoots = x509.NewCertPool()
		if !v.C2PARoots.AppendCertsFromPEM(b) {
			return fmt.Errorf("camagent verify: -c2pa-ca %s: no PEM certificate", *c2paCA)
		}
	}
	if *pin != "" {
		if err := identity.ValidDeviceID(*pin); err != nil {
			return fmt.Errorf("camagent verify: -pin: %w", err)
		}
	}
	if *keyFile != "" {
		b, err := atomicfile.ReadFileMax(*keyFile, int64(64<<10))
		if err != nil {
			return fmt.Errorf("camagent verify: -key: %w", err)
		}
		if v.Key, err = identity.ParsePublicKeyPEM(b); err != nil {
			return fmt.Errorf("camagent verify: -key %s: %w", *keyFile, err)
		}
		if v.Pin, err = identity.DeviceID(v.Key); err != nil {
			return fmt.Errorf("camagent verify: -key %s: %w", *keyFile, err)
		}
	}

	paths := fs.Args()
	if isManifestFile(paths[0]) {
		v.Group(paths[0], paths[1:])
	} else {
		for i, g := range verify.SidecarGroups(paths, storage.ExtClip, storage.ExtThumbnail) {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			v.Group(g.Manifest, g.Files)
		}
	}
	if v.Failed() > 0 {
		return fmt.Errorf("verify: %d of %d checks failed", v.Failed(), v.Checks())
	}
	return nil
}

// isManifestFile tells the MANIFEST FILE... form from the CLIP... form.
func isManifestFile(path string) bool {
	if strings.HasSuffix(path, manifest.SidecarSuffix) || strings.HasSuffix(path, ".cose") {
		return true
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var head [2]byte
	_, err = io.ReadFull(f, head[:])
	return err == nil && head == [2]byte{0xd2, 0x84} // tag 18, array of 4
}
