package verify

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/camagent/camagent/storage/atomicfile"
	"github.com/camagent/camagent/uplink/manifest"
)

// FileGroup is a manifest and the files to check against it.
type FileGroup struct {
	Manifest string
	Files    []string
}

// SidecarGroups groups the files by sidecar manifest (manifest.SidecarPath),
// in the order given, adding each file's siblings with the extensions
// siblingExts (a clip's thumbnail, a thumbnail's clip) when they exist.
func SidecarGroups(paths []string, siblingExts ...string) []FileGroup {
	var groups []FileGroup
	index := make(map[string]int)
	add := func(m, f string) {
		i, ok := index[m]
		if !ok {
			i = len(groups)
			index[m] = i
			groups = append(groups, FileGroup{Manifest: m})
		}
		if !slices.Contains(groups[i].Files, f) {
			groups[i].Files = append(groups[i].Files, f)
		}
	}
	for _, p := range paths {
		m := manifest.SidecarPath(p)
		add(m, p)
		base := strings.TrimSuffix(p, filepath.Ext(p))
		for _, ext := range siblingExts {
			if sib := base + ext; sib != p {
				if st, err := os.Stat(sib); err == nil && st.Mode().IsRegular() {
					add(m, sib)
				}
			}
		}
	}
	return groups
}

// Checker checks files against their signed manifests offline, the way
// `camagent verify` and the shell's `clips verify` show it: one line per
// check, OK, FAIL (with the reason), SKIP or INFO, written to Out.
type Checker struct {
	Out   io.Writer
	Owner string           // owner account the manifests must name ("" = not checked)
	Pin   string           // device ID required ("" = any)
	Key   *ecdsa.PublicKey // pinned key (nil = the embedded one)
	// C2PARoots, when set, are the CAs a file's Content Credentials must
	// chain to (the dev CA); nil: their signature is checked, not the trust.
	C2PARoots *x509.CertPool
	checks    int
	failed    int
	head      []byte // of the last file read by file
	size      int64
}

// Checks is how many checks ran; Failed how many of them failed.
func (v *Checker) Checks() int { return v.checks }

// Failed is how many checks failed.
func (v *Checker) Failed() int { return v.failed }

func (v *Checker) ok(format string, a ...any) {
	v.checks++
	fmt.Fprintf(v.Out, "OK   "+format+"\n", a...)
}

func (v *Checker) fail(format string, a ...any) {
	v.checks++
	v.failed++
	fmt.Fprintf(v.Out, "FAIL "+format+"\n", a...)
}

func (v *Checker) line(tag, format string, a ...any) {
	fmt.Fprintf(v.Out, "%-4s "+format+"\n", append([]any{tag}, a...)...)
}

// Group checks one manifest and the files it should cover.
func (v *Checker) Group(manifestPath string, files []string) {
	fmt.Fprintf(v.Out, "manifest %s\n", manifestPath)
	cose, err := atomicfile.ReadFileMax(manifestPath, int64(manifest.MaxSize))
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
	case v.Owner != "" && m.Owner != v.Owner:
		v.fail("owner: manifest names %q, expected %q", m.Owner, v.Owner)
	case v.Owner != "":
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
		v.credentials(f, v.head, v.size, kid)
	}
	for _, o := range m.Objects {
		if !seen[o.Role] {
			v.line("SKIP", "%s: no file given (%s, %d bytes, sha256 %x)", o.Role, o.MediaType, o.Size, o.SHA256)
		}
	}
}

// signature checks the signature and which device made it; it reports
// whether the manifest can be trusted.
func (v *Checker) signature(cose []byte, kid string) bool {
	if v.Key != nil {
		if _, err := manifest.Verify(cose, v.Key); err != nil {
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
	case v.Pin == "":
		v.line("INFO", "device: %s (not checked: no -pin or -key; this proves which device signed, not that it is yours)", kid)
		return true
	case kid != v.Pin:
		v.fail("device: manifest is from %s, expected %s", kid, v.Pin)
		return false
	default:
		v.ok("device: %s is the pinned device", kid)
		return true
	}
}

// file checks one file against the manifest and returns the role it was
// checked as ("" if none).
func (v *Checker) file(path string, m *manifest.Manifest, suffix string) string {
	v.head, v.size = nil, 0
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
	v.head, v.size = head, int64(size)
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
