package c2pa

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/ingest/devca"
)

// readerReport is the part of the official reader's report the tests check.
type readerReport struct {
	Error           string `json:"error"`
	ActiveLabel     string `json:"activeLabel"`
	ValidationState string `json:"validation_state"`
	Results         struct {
		Active struct {
			Success, Informational, Failure []struct {
				Code, Explanation string
			}
		} `json:"activeManifest"`
	} `json:"validation_results"`
	Manifests map[string]struct {
		SignatureInfo struct {
			CommonName string `json:"common_name"`
			Alg        string `json:"alg"`
		} `json:"signature_info"`
		Assertions []struct {
			Label string          `json:"label"`
			Data  json.RawMessage `json:"data"`
		} `json:"assertions"`
	} `json:"manifests"`
}

func (r readerReport) failures() []string {
	var out []string
	for _, f := range r.Results.Active.Failure {
		out = append(out, f.Code)
	}
	return out
}

// readJob is one file for the official reader: anchors "" (no trust check),
// "none" (trust checked, no anchors) or a PEM file of trust anchors.
type readJob struct {
	File    string `json:"file"`
	Mime    string `json:"mime"`
	Anchors string `json:"anchors,omitempty"`
}

// officialReader runs the Content Authenticity Initiative's reader
// (@contentauth/c2pa-wasm in node, installed by make deps) once over jobs and
// returns its report on each.
func officialReader(t *testing.T, jobs []readJob) []readerReport {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is missing: run make deps (scripts/deps.sh installs nodejs and the C2PA reader)")
	}
	tools, err := filepath.Abs(filepath.Join("testdata", "tools"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(tools, "node_modules", "@contentauth", "c2pa-wasm", "pkg", "c2pa_bg.wasm")); err != nil {
		t.Fatalf("the official C2PA reader is not installed in %s: run make deps (npm ci there)", tools)
	}
	in, _ := json.Marshal(jobs)
	cmd := exec.Command(node, filepath.Join(tools, "read.mjs"), "-")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node read.mjs: %v\n%s", err, stderr.Bytes())
	}
	var reps []readerReport
	dec := json.NewDecoder(bytes.NewReader(out))
	for range jobs {
		var rep readerReport
		if err := dec.Decode(&rep); err != nil {
			t.Fatalf("reader output %q: %v", out, err)
		}
		reps = append(reps, rep)
	}
	return reps
}

// TestOfficialReader: the CAI reader validates our signed JPEG, trusts it
// with the dev CA as anchor, says only "untrusted" without it, and reports
// every tampering.
func TestOfficialReader(t *testing.T) {
	r := newRig(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caPEM := write("ca.pem", r.ca.CertPEM())
	other, err := devca.New("other CA", nil)
	if err != nil {
		t.Fatal(err)
	}
	otherPEM := write("other.pem", other.CertPEM())
	signed, err := r.signer.SignJPEG(testJPEG(t, 320, 240), captured)
	if err != nil {
		t.Fatal(err)
	}
	file := write("signed.jpg", signed)
	// A store over one APP11 segment (padded to 150 KB: three segments).
	big := *r.signer
	big.pad = 150 << 10
	split, err := big.SignJPEG(testJPEG(t, 320, 240), captured)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(split, r.ca.Pool()); err != nil {
		t.Fatal(err)
	}
	// Signed while its certificate was valid, read after it expired: with
	// no time stamp, the reader judges the certificate at reading time.
	expired := expiredSigner(t, r).signJPEG(t, testJPEG(t, 64, 48), time.Now().Add(-36*time.Hour))
	jobs := []readJob{{file, "image/jpeg", ""}, {file, "image/jpeg", caPEM}, {file, "image/jpeg", "none"}, {file, "image/jpeg", otherPEM},
		{write("split.jpg", split), "image/jpeg", caPEM}, {write("expired.jpg", expired), "image/jpeg", caPEM}}
	for i, tc := range tamperCases {
		jobs = append(jobs, readJob{write(fmt.Sprintf("tampered%d.jpg", i), tc.make(t, r, signed)), "image/jpeg", caPEM})
	}
	reps := officialReader(t, jobs)

	rep := reps[0]
	if rep.Error != "" || rep.ValidationState != "Valid" || len(rep.failures()) != 0 {
		t.Fatalf("no trust check: %+v", rep)
	}
	m := rep.Manifests[rep.ActiveLabel]
	if m.SignatureInfo.CommonName != r.signer.DeviceID() {
		t.Errorf("reader's signer %q, want %s", m.SignatureInfo.CommonName, r.signer.DeviceID())
	}
	var labels []string
	for _, a := range m.Assertions {
		labels = append(labels, a.Label)
	}
	if !slices.Contains(labels, LabelActions) || !slices.Contains(labels, LabelCapture) {
		t.Errorf("reader's assertions %v", labels)
	}
	t.Logf("no trust check: %s, success %v, informational %v", rep.ValidationState, codes(rep.Results.Active.Success), codes(rep.Results.Active.Informational))

	rep = reps[1]
	if rep.Error != "" || rep.ValidationState != "Trusted" || len(rep.failures()) != 0 {
		t.Fatalf("dev CA as anchor: %+v", rep)
	}
	t.Logf("dev CA as anchor: %s, success %v, informational %v", rep.ValidationState, codes(rep.Results.Active.Success), codes(rep.Results.Active.Informational))

	if rep := reps[4]; rep.Error != "" || rep.ValidationState != "Trusted" || len(rep.failures()) != 0 {
		t.Fatalf("store split over three APP11 segments: %+v", rep)
	}

	if rep := reps[5]; rep.Error != "" || rep.ValidationState != "Invalid" || !slices.Contains(rep.failures(), "signingCredential.expired") {
		t.Fatalf("expired signer, no time stamp: %+v", rep)
	} else {
		t.Logf("signed in the certificate's validity, read after it expired (no time stamp): %s, failures %v", rep.ValidationState, rep.failures())
	}

	for i, rep := range reps[2:4] {
		if f := rep.failures(); rep.Error != "" || !slices.Equal(f, []string{"signingCredential.untrusted"}) {
			t.Fatalf("anchors %s: want only signingCredential.untrusted, got %+v", jobs[2+i].Anchors, rep)
		}
		t.Logf("anchors %s: %s, failures %v", filepath.Base(jobs[2+i].Anchors), rep.ValidationState, rep.failures())
	}

	want := map[string]string{
		"pixel byte flipped":                         "assertion.dataHash.mismatch",
		"manifest moved to another camera's picture": "assertion.dataHash.mismatch",
		"assertion changed":                          "assertion.hashedURI.mismatch",
		"signature changed":                          "claimSignature.mismatch",
	}
	for i, tc := range tamperCases {
		rep := reps[6+i]
		code, ok := want[tc.name]
		switch {
		case !ok: // the re-encoded picture has no manifest at all
			if rep.Error == "" {
				t.Errorf("%s: reader found a manifest: %+v", tc.name, rep)
			}
			t.Logf("%s: reader: %s", tc.name, rep.Error)
		case rep.Error != "" || !slices.Contains(rep.failures(), code) || rep.ValidationState != "Invalid":
			t.Errorf("%s: want %s and state Invalid, got %+v", tc.name, code, rep)
		default:
			t.Logf("%s: reader: %s, failures %v", tc.name, rep.ValidationState, rep.failures())
		}
	}
}

// expiredSigner is the rig's device with a C2PA certificate that expired a
// day ago (valid from two days ago).
func expiredSigner(t *testing.T, r *rig) *Signer {
	t.Helper()
	now := time.Now()
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: r.signer.DeviceID()}, NotBefore: now.Add(-48 * time.Hour),
		NotAfter: now.Add(-24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage:        []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		UnknownExtKeyUsage: []asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 36}}, BasicConstraintsValid: true}
	cert, err := r.ca.Issue(tmpl, r.key.Public())
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Key: r.key, Chain: []*x509.Certificate{cert, r.ca.Certificate()}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *Signer) signJPEG(t *testing.T, img []byte, captured time.Time) []byte {
	t.Helper()
	out, err := s.SignJPEG(img, captured)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func codes(items []struct{ Code, Explanation string }) []string {
	var out []string
	for _, i := range items {
		out = append(out, i.Code)
	}
	return out
}
