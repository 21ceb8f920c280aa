package e2e

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camagent/camagent/uplink/c2pa"
)

// checkCredentials checks a picture or a clip (.mp4) from the camera's card
// for Content Credentials twice: with package c2pa (signed by deviceID, chaining to the
// dev cloud's CA in caFile) and with the Content Authenticity Initiative's
// official reader (uplink/c2pa/testdata/tools/read.mjs in node, installed by
// make deps), which must call it Trusted with the CA as its trust anchor and
// report no failure.
func checkCredentials(t *testing.T, pic, caFile, deviceID string) error {
	t.Helper()
	b, err := os.ReadFile(pic)
	if err != nil {
		return err
	}
	cas, err := c2pa.LoadChain(caFile) // the CA's certificate, PEM
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AddCert(cas[0])
	mime := "image/jpeg"
	var cr *c2pa.Credential
	if strings.HasSuffix(pic, ".mp4") {
		mime = "video/mp4"
		cr, err = c2pa.VerifyMP4(bytes.NewReader(b), int64(len(b)), roots)
	} else {
		cr, err = c2pa.Verify(b, roots)
	}
	if err != nil {
		return fmt.Errorf("%s: content credentials: %w", pic, err)
	}
	if cr.DeviceID != deviceID {
		return fmt.Errorf("%s: content credentials signed by %s, want %s", pic, cr.DeviceID, deviceID)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return errors.New("node is missing: run make deps (the official C2PA reader runs in node)")
	}
	tools := filepath.Join(repoRoot(t), "uplink", "c2pa", "testdata", "tools")
	if _, err := os.Stat(filepath.Join(tools, "node_modules", "@contentauth", "c2pa-wasm")); err != nil {
		return fmt.Errorf("the official C2PA reader is not installed in %s: run make deps", tools)
	}
	out, err := exec.Command(node, filepath.Join(tools, "read.mjs"), pic, mime, caFile).Output()
	if err != nil {
		return fmt.Errorf("node read.mjs %s: %v", pic, err)
	}
	var rep struct {
		Error           string `json:"error"`
		ValidationState string `json:"validation_state"`
		Results         struct {
			Active struct {
				Failure []struct{ Code string } `json:"failure"`
			} `json:"activeManifest"`
		} `json:"validation_results"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		return fmt.Errorf("official C2PA reader on %s: %v: %q", pic, err, out)
	}
	if rep.Error != "" || rep.ValidationState != "Trusted" || len(rep.Results.Active.Failure) != 0 {
		return fmt.Errorf("official C2PA reader on %s, dev CA as trust anchor: %s", pic, out)
	}
	t.Logf("%s: content credentials of %s, captured %s; the official C2PA reader says %s",
		filepath.Base(pic), cr.DeviceID, cr.Captured.Format("15:04:05.000"), rep.ValidationState)
	return nil
}
