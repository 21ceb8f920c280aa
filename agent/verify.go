package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/manifest"
)

const verifyUsage = `usage: camagent verify [-key PUBKEY.pem | -pin DEVICEID] [-owner ACCOUNT] CLIP...
       camagent verify [-key PUBKEY.pem | -pin DEVICEID] [-owner ACCOUNT] MANIFEST FILE...

Check clips and their signed manifests offline. In the first form each CLIP
(e.g. 120304-e7.mp4) is checked against its sidecar manifest (120304-e7%s),
together with its thumbnail (120304-e7%s) when it is there. In the second,
every FILE is checked against MANIFEST (a file whose name ends in %s or .cose,
or that starts with a COSE_Sign1 tag). One line per check: OK, FAIL (with the
reason), or SKIP.

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
	v := &verifier{out: stdout, owner: *owner, pin: *pin}
	if *pin != "" {
		if err := identity.ValidDeviceID(*pin); err != nil {
			return fmt.Errorf("camagent verify: -pin: %w", err)
		}
	}
	if *keyFile != "" {
		b, err := readLimited(*keyFile, 64<<10)
		if err != nil {
			return fmt.Errorf("camagent verify: -key: %w", err)
		}
		if v.key, err = identity.ParsePublicKeyPEM(b); err != nil {
			return fmt.Errorf("camagent verify: -key %s: %w", *keyFile, err)
		}
		if v.pin, err = identity.DeviceID(v.key); err != nil {
			return fmt.Errorf("camagent verify: -key %s: %w", *keyFile, err)
		}
	}

	paths := fs.Args()
	if isManifestFile(paths[0]) {
		v.group(paths[0], paths[1:])
	} else {
		for i, g := range sidecarGroups(paths) {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			v.group(g.manifest, g.files)
		}
	}
	if v.failed > 0 {
		return fmt.Errorf("verify: %d of %d checks failed", v.failed, v.checks)
	}
	return nil
}

type fileGroup struct {
	manifest string
	files    []string
}

// sidecarGroups groups the files by sidecar manifest, in the order given,
// adding each clip's thumbnail and each thumbnail's clip when they exist.
func sidecarGroups(paths []string) []fileGroup {
	var groups []fileGroup
	index := make(map[string]int)
	add := func(m, f string) {
		i, ok := index[m]
		if !ok {
			i = len(groups)
			index[m] = i
			groups = append(groups, fileGroup{manifest: m})
		}
		if !slices.Contains(groups[i].files, f) {
			groups[i].files = append(groups[i].files, f)
		}
	}
	for _, p := range paths {
		m := manifest.SidecarPath(p)
		add(m, p)
		base := strings.TrimSuffix(p, filepath.Ext(p))
		for _, ext := range []string{storage.ExtClip, storage.ExtThumbnail} {
			if sib := base + ext; sib != p {
				if st, err := os.Stat(sib); err == nil && st.Mode().IsRegular() {
					add(m, sib)
				}
			}
		}
	}
	return groups
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

type verifier struct {
	out    io.Writer
	owner  string
	pin    string           // device ID required ("" = any)
	key    *ecdsa.PublicKey // pinned key (nil = the embedded one)
	checks int
	failed int
}

func (v *verifier) ok(format string, a ...any) {
	v.checks++
	fmt.Fprintf(v.out, "OK   "+format+"\n", a...)
}

func (v *verifier) fail(format string, a ...any) {
	v.checks++
	v.failed++
	fmt.Fprintf(v.out, "FAIL "+format+"\n", a...)
}

func (v *verifier) line(tag, format string, a ...any) {
	fmt.Fprintf(v.out, "%-4s "+format+"\n", append([]any{tag}, a...)...)
}

// group checks one manifest and the files it should cover.
func (v *verifier) group(manifestPath string, files []string) {
	fmt.Fprintf(v.out, "manifest %s\n", manifestPath)
	cose, err := readLimited(manifestPath, manifest.MaxSize)
	if err != nil {
		v.fail("manifest: %v", err)
		for _, f := range files {
			v.fail("%s: not checked: no manifest", f)
		}
		return
	}
	m, kid, err := manifest.Parse(cose)
	if err != nil {
		v.fail("format: %v", err)
		for _, f := range files {
			v.fail("%s: not checked: the manifest is unreadable", f)
		}
		return
	}
	v.ok("format: camagent manifest v%d, %d bytes, canonical COSE_Sign1 ES256, kid %s", m.Version, len(cose), kid)

	trusted := v.signature(cose, kid)
	v.line("INFO", "seq %d, boot %s, capture %s .. %s (%s), motion peak %.1f%% (%d boxes), prev %s",
		m.Seq, m.BootID, msTime(m.StartMS), msTime(m.EndMS), clockWord(m.ClockTrusted),
		float64(m.Motion.PeakPPM)/1e4, m.Motion.Boxes, prevText(m.Prev))

	switch {
	case v.owner != "" && m.Owner != v.owner:
		v.fail("owner: manifest names %q, expected %q", m.Owner, v.owner)
	case v.owner != "":
		v.ok("owner: %q", m.Owner)
	case m.Owner == "":
		v.line("INFO", "owner: none (the device was not paired when it signed)")
	default:
		v.line("INFO", "owner: %q (not checked: no -owner)", m.Owner)
	}

	suffix := ""
	if !trusted {
		suffix = " (against an UNVERIFIED manifest)"
	}
	seen := make(map[string]bool)
	for _, f := range files {
		if role := v.file(f, &m, suffix); role != "" {
			seen[role] = true
		}
	}
	for _, o := range m.Objects {
		if !seen[o.Role] {
			v.line("SKIP", "%s: no file given (%s, %d bytes, sha256 %x)", o.Role, o.MediaType, o.Size, o.SHA256)
		}
	}
}

// signature checks the signature and which device made it; it reports
// whether the manifest can be trusted.
func (v *verifier) signature(cose []byte, kid string) bool {
	if v.key != nil {
		if _, err := manifest.Verify(cose, v.key); err != nil {
			v.fail("signature: %v", err)
			return false
		}
		v.ok("signature: valid, made by device %s with the key given by -key", kid)
		return true
	}
	if _, _, err := manifest.VerifySelf(cose); err != nil {
		v.fail("signature: %v", err)
		return false
	}
	v.ok("signature: valid, made by the key the manifest carries, whose hash is its device ID %s", kid)
	switch {
	case v.pin == "":
		v.line("INFO", "device: %s (not checked: no -pin or -key; this proves which device signed, not that it is yours)", kid)
		return true
	case kid != v.pin:
		v.fail("device: manifest is from %s, expected %s", kid, v.pin)
		return false
	default:
		v.ok("device: %s is the pinned device", kid)
		return true
	}
}

// file checks one file against the manifest and returns the role it was
// checked as ("" if none).
func (v *verifier) file(path string, m *manifest.Manifest, suffix string) string {
	f, err := os.Open(path)
	if err != nil {
		v.fail("%s: %v", path, err)
		return ""
	}
	defer f.Close()
	h := sha256.New()
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		v.fail("%s: read: %v", path, err)
		return ""
	}
	head = head[:n]
	h.Write(head)
	rest, err := io.Copy(h, f)
	if err != nil {
		v.fail("%s: read: %v", path, err)
		return ""
	}
	size := uint64(n) + uint64(rest)
	var sum [32]byte
	h.Sum(sum[:0])

	for _, o := range m.Objects {
		if o.SHA256 == sum && o.Size == size {
			v.ok("%s: %s, %s, %d bytes, sha256 %x%s", path, o.Role, o.MediaType, size, sum, suffix)
			return o.Role
		}
	}
	// No object has this content: say against which entry it fails.
	o, ok := guessObject(m, head)
	if !ok {
		v.fail("%s: covered by no object of the manifest (%d bytes, sha256 %x)%s", path, size, sum, suffix)
		return ""
	}
	if o.Size != size {
		v.fail("%s: %s: size is %d bytes, manifest says %d%s", path, o.Role, size, o.Size, suffix)
	} else {
		v.fail("%s: %s: sha256 is %x, manifest says %x (content changed)%s", path, o.Role, sum, o.SHA256, suffix)
	}
	return o.Role
}

// guessObject picks the manifest entry a non-matching file was meant to be:
// the only object, or the only one of the file's sniffed media type.
func guessObject(m *manifest.Manifest, head []byte) (manifest.Object, bool) {
	if len(m.Objects) == 1 {
		return m.Objects[0], true
	}
	sniffed := http.DetectContentType(head)
	var found []manifest.Object
	for _, o := range m.Objects {
		if o.MediaType == sniffed {
			found = append(found, o)
		}
	}
	if len(found) == 1 {
		return found[0], true
	}
	return manifest.Object{}, false
}

func readLimited(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, fmt.Errorf("%s: over %d bytes", path, limit)
	}
	return b, nil
}

func msTime(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z") }

func clockWord(trusted bool) string {
	if trusted {
		return "clock trusted"
	}
	return "clock NOT trusted: times are the device's guess"
}

func prevText(p [32]byte) string {
	if p == ([32]byte{}) {
		return "none (first manifest of this device)"
	}
	return fmt.Sprintf("%x", p[:])
}
