package c2pa

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

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

// officialReader returns a function that runs the Content Authenticity
// Initiative's reader (@contentauth/c2pa-wasm in node) on a file, with
// anchors "" (no trust check), "none" (trust checked, no anchors) or a PEM
// file of trust anchors.
func officialReader(t *testing.T) func(file, anchors string) readerReport {
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
	return func(file, anchors string) readerReport {
		t.Helper()
		args := []string{filepath.Join(tools, "read.mjs"), file, "image/jpeg"}
		if anchors != "" {
			args = append(args, anchors)
		}
		out, err := exec.Command(node, args...).Output()
		if err != nil {
			t.Fatalf("node read.mjs %s: %v (%s)", file, err, out)
		}
		var rep readerReport
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("reader output %q: %v", out, err)
		}
		return rep
	}
}

// TestOfficialReader: the CAI reader validates our signed JPEG, trusts it
// with the dev CA as anchor, says only "untrusted" without it, and reports
// every tampering.
func TestOfficialReader(t *testing.T) {
	read := officialReader(t)
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

	rep := read(file, "")
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

	rep = read(file, caPEM)
	if rep.Error != "" || rep.ValidationState != "Trusted" || len(rep.failures()) != 0 {
		t.Fatalf("dev CA as anchor: %+v", rep)
	}
	t.Logf("dev CA as anchor: %s, success %v, informational %v", rep.ValidationState, codes(rep.Results.Active.Success), codes(rep.Results.Active.Informational))

	for _, anchors := range []string{"none", otherPEM} {
		rep = read(file, anchors)
		if f := rep.failures(); rep.Error != "" || !slices.Equal(f, []string{"signingCredential.untrusted"}) {
			t.Fatalf("anchors %s: want only signingCredential.untrusted, got %+v", anchors, rep)
		}
		t.Logf("anchors %s: %s, failures %v", filepath.Base(anchors), rep.ValidationState, rep.failures())
	}

	want := map[string]string{
		"pixel byte flipped":                         "assertion.dataHash.mismatch",
		"manifest moved to another camera's picture": "assertion.dataHash.mismatch",
		"assertion changed":                          "assertion.hashedURI.mismatch",
		"signature changed":                          "claimSignature.mismatch",
	}
	for _, tc := range tamperCases {
		t.Run(tc.name, func(t *testing.T) {
			rep := read(write("tampered.jpg", tc.make(t, r, signed)), caPEM)
			code, ok := want[tc.name]
			if !ok { // the re-encoded picture has no manifest at all
				if rep.Error == "" {
					t.Fatalf("reader found a manifest: %+v", rep)
				}
				t.Logf("reader: %s", rep.Error)
				return
			}
			if rep.Error != "" || !slices.Contains(rep.failures(), code) || rep.ValidationState != "Invalid" {
				t.Fatalf("want %s and state Invalid, got %+v", code, rep)
			}
			t.Logf("reader: %s, failures %v", rep.ValidationState, rep.failures())
		})
	}
}

func codes(items []struct{ Code, Explanation string }) []string {
	var out []string
	for _, i := range items {
		out = append(out, i.Code)
	}
	return out
}
