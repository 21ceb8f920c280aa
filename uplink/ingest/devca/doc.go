// Package devca is the development certificate authority of the reference
// cloud: one ECDSA P-256 CA key and self-signed certificate, kept in a
// directory, that issues device client certificates from their CSRs and the
// ingest's own TLS server certificate.
//
// It exists so that `camcloud`, the ingest tests and the upload tests run
// real mutual TLS without any outside PKI. A device certificate is only
// issued when the CSR's signature verifies and its CN is the device ID of its
// own public key (identity.CertDeviceID), so the TLS identity the ingest
// derives from it can be compared with a manifest's signer without trusting
// any name. It is a development tool: there is no revocation, no HSM, and the
// CA key is a file (mode 0600) in the data directory.
//
// Files in the directory: ca.key (PKCS#8 PEM, 0600) and ca.crt (PEM).
package devca
