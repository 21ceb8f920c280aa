// Package ingesttest runs a real ingest for tests and benchmarks: a dev CA,
// an ingest on a loopback mutual-TLS server, simulated cameras (each with
// its own key, CA-signed certificate, sequence and chain), an in-memory
// owner registry, and a deliberately faulty owner lookup that reproduces
// the incident ARCHITECTURE.md describes.
package ingesttest
