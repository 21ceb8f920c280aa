package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/camagent/camagent/board/keystore"
	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/storage/atomicfile"
	"github.com/camagent/camagent/uplink/c2pa"
	"github.com/camagent/camagent/uplink/identity"
)

const provisionUsage = `usage: camagent provision [-key PATH] [-csr PATH] [-cert PATH] [-c2pa-cert PATH]

Create the device key if there is none, print the device ID and the public
key, and write a certificate signing request (CN = device ID) for the cloud's
CA. With -cert, check that the certificate the CA issued is for this device's
key and install it next to the key (%s). With -c2pa-cert, do the same for
the Content Credentials (C2PA) claim-signing chain the CA issued at enrollment
(device certificate, then the CA's), installed as %s: from then on the
camera signs its clips, thumbnails and snapshots with Content Credentials.
The private key is never printed.

flags:
`

// maxCertFile bounds a certificate (chain) file given to -cert.
const maxCertFile = 64 << 10

// provisionCmd runs `camagent provision` with args (without "provision").
func provisionCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("camagent provision", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyPath := fs.String("key", keystore.DefaultPath, "device key `path` (created if absent)")
	csrPath := fs.String("csr", "", "where to write the CSR (default: "+identity.CSRFile+" next to the key)")
	certPath := fs.String("cert", "", "device certificate (PEM) to check and install next to the key")
	c2paPath := fs.String("c2pa-cert", "", "C2PA claim-signing certificate chain (PEM) to check and install next to the key")
	fs.Usage = func() {
		fmt.Fprintf(stderr, provisionUsage, identity.CertFile, c2pa.ChainFile)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("camagent provision: unexpected argument %q", fs.Arg(0))
	}
	if *csrPath == "" {
		*csrPath = identity.CSRPath(*keyPath)
	}

	key, created, err := identity.OpenDeviceKey(*keyPath)
	if err != nil {
		return fmt.Errorf("camagent provision: %w", err)
	}
	state := "existing"
	if created {
		state = "created"
	}
	pubPEM, err := identity.PublicKeyPEM(key.Public())
	if err != nil {
		return fmt.Errorf("camagent provision: %w", err)
	}
	fmt.Fprintf(stdout, "key: %s (%s)\ndevice id: %s\npublic key:\n%s", key.Path(), state, key.DeviceID(), pubPEM)

	csr, err := identity.CSR(key, key.DeviceID())
	if err != nil {
		return fmt.Errorf("camagent provision: %w", err)
	}
	if err := storage.WriteFileAtomic(*csrPath, csr, 0o644); err != nil {
		return fmt.Errorf("camagent provision: write csr: %w", err)
	}
	fmt.Fprintf(stdout, "csr: %s (CN=%s)\n", *csrPath, key.DeviceID())

	if *certPath != "" {
		dst := identity.CertPath(*keyPath)
		desc, err := installCert(*certPath, dst, key)
		if err != nil {
			return fmt.Errorf("camagent provision: certificate %s not installed: %w", *certPath, err)
		}
		fmt.Fprintf(stdout, "certificate: installed %s (%s)\n", dst, desc)
	}
	if *c2paPath != "" {
		dst := c2pa.ChainPath(*keyPath)
		desc, err := installC2PAChain(*c2paPath, dst, key)
		if err != nil {
			return fmt.Errorf("camagent provision: C2PA certificate %s not installed: %w", *c2paPath, err)
		}
		fmt.Fprintf(stdout, "c2pa certificate: installed %s (%s)\n", dst, desc)
	}
	return nil
}

// installC2PAChain checks that src is a C2PA claim-signing chain for key
// (leaf first: the device key's, CN = device ID, digitalSignature and
// emailProtection, as devca.IssueC2PA makes it) and copies it atomically to
// dst, where the daemon loads it (c2pa.ChainPath).
func installC2PAChain(src, dst string, key *identity.DeviceKey) (string, error) {
	chain, err := c2pa.LoadChain(src)
	if err != nil {
		return "", err
	}
	if _, err := c2pa.New(c2pa.Config{Key: key, Chain: chain}); err != nil {
		return "", err
	}
	leaf := chain[0]
	if leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 || !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageEmailProtection) {
		return "", errors.New("it is not a C2PA claim-signing certificate (key usage digitalSignature and extended key usage emailProtection); is it the TLS certificate?")
	}
	data, err := atomicfile.ReadFileMax(src, maxCertFile)
	if err != nil {
		return "", err
	}
	if err := storage.WriteFileAtomic(dst, data, 0o644); err != nil {
		return "", err
	}
	return fmt.Sprintf("CN=%s, issuer %q, valid %s to %s, %d certificates; matches the device key",
		leaf.Subject.CommonName, leaf.Issuer.String(), leaf.NotBefore.UTC().Format("2006-01-02T15:04:05Z"),
		leaf.NotAfter.UTC().Format("2006-01-02T15:04:05Z"), len(chain)), nil
}

// installCert checks that the first certificate in src is for key (same
// public key, CN = device ID, usable for TLS client auth) and copies the file
// (with any intermediates after it) atomically to dst.
func installCert(src, dst string, key *identity.DeviceKey) (string, error) {
	f, err := os.Open(src)
	if err != nil {
		return "", err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxCertFile+1))
	f.Close()
	if err != nil {
		return "", err
	}
	if len(data) > maxCertFile {
		return "", fmt.Errorf("over %d bytes", maxCertFile)
	}
	var blk *pem.Block
	for rest := data; ; {
		blk, rest = pem.Decode(rest)
		if blk == nil {
			return "", errors.New("no CERTIFICATE PEM block")
		}
		if blk.Type == "CERTIFICATE" {
			break
		}
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return "", err
	}
	want, err := identity.PublicKeyDER(key.Public())
	if err != nil {
		return "", err
	}
	if !bytes.Equal(cert.RawSubjectPublicKeyInfo, want) {
		other := "a key that is not ECDSA P-256"
		if id, err := identity.DeviceID(cert.PublicKey); err == nil {
			other = "device " + id
		}
		return "", fmt.Errorf("it certifies %s, but this device is %s (is it the certificate for this device's CSR?)", other, key.DeviceID())
	}
	if _, err := identity.CertDeviceID(cert); err != nil {
		return "", err
	}
	if len(cert.ExtKeyUsage) > 0 && !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) &&
		!slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageAny) {
		return "", errors.New("it does not allow TLS client authentication (extended key usage)")
	}
	if err := storage.WriteFileAtomic(dst, data, 0o644); err != nil {
		return "", err
	}
	return fmt.Sprintf("CN=%s, issuer %q, valid %s to %s; matches the device key",
		cert.Subject.CommonName, cert.Issuer.String(),
		cert.NotBefore.UTC().Format("2006-01-02T15:04:05Z"), cert.NotAfter.UTC().Format("2006-01-02T15:04:05Z")), nil
}
