package c2pa

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/camagent/camagent/storage/atomicfile"
)

// ChainFile is the name of the device's C2PA certificate chain file (PEM:
// the device's claim-signing certificate, then the CA's), kept beside the
// device key as the TLS certificate is.
const ChainFile = "c2pa.crt"

// maxChainFile bounds the chain file LoadChain reads.
const maxChainFile = 64 << 10

// ChainPath is where the C2PA chain of the device key at keyPath is kept.
func ChainPath(keyPath string) string { return filepath.Join(filepath.Dir(keyPath), ChainFile) }

// LoadChain reads a PEM certificate chain (leaf first), as enrollment issues
// it (camcloud enroll -c2pa-out, or the JSON answer of /v1/enroll).
func LoadChain(path string) ([]*x509.Certificate, error) {
	b, err := atomicfile.ReadFileMax(path, maxChainFile)
	if err != nil {
		return nil, fmt.Errorf("c2pa: load chain: %w", err)
	}
	var chain []*x509.Certificate
	for len(chain) < maxChain {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("c2pa: load chain %s: %w", path, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, errors.New("c2pa: load chain " + path + ": no CERTIFICATE PEM block")
	}
	return chain, nil
}
