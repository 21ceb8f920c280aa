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
	"github.com/camagent/camagent/uplink/identity"
)

const provisionUsage = `usage: camagent provision [-key PATH] [-csr PATH] [-cert PATH]

Create the device key if there is none, print the device ID and the public
key, and write a certificate signing request (CN = device ID) for the cloud's
CA. With -cert, check that the certificate the CA issued is for this device's
key and install it next to the key (%s). The private key is never printed.

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
	fs.Usage = func() {
		fmt.Fprintf(stderr, provisionUsage, identity.CertFile)
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

	if *certPath == "" {
		return nil
	}
	dst := identity.CertPath(*keyPath)
	desc, err := installCert(*certPath, dst, key)
	if err != nil {
		return fmt.Errorf("camagent provision: certificate %s not installed: %w", *certPath, err)
	}
	fmt.Fprintf(stdout, "certificate: installed %s (%s)\n", dst, desc)
	return nil
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
