// Package protocol is the wire format between a camera's upload client
// (package upload) and the ingest (package ingest): the paths, the JSON
// answers, the error codes and the headers, with strict, size-limited
// decoders for the device side.
//
// It is its own small package so that the camera links only these types and
// decoders, not the ingest's server code; the protocol itself is described in
// package ingest's documentation.
package protocol
