// Package storm is the reconnect storm of the incident, run at its size: N
// simulated cameras in one process, each with its own ECDSA P-256 device
// key, a certificate from a dev CA, an owner account and its own signed,
// chained manifests, upload over real mutual TLS with the real upload client
// (package upload) to the real ingest (package ingest), which runs in a
// separate process (the "cloud") so that its memory and CPU are measured on
// their own. The cloud's owner lookup is the deliberately faulty cache of
// package ingesttest (answers about other devices, as in the incident).
//
// The scenario (Run): every camera connects and uploads a first item; the
// cloud goes down (listener and every connection closed) for Config.Outage;
// every camera has a new item and retries with the uploader's policy
// (upload.Classify, upload.Backoff, Retry-After honoured) until it is
// through; the cloud comes back. Run measures, from outside the cloud
// process, connection and upload attempts per time bucket, each camera's
// time from "cloud back" to "item stored", the cloud's peak heap (its own
// runtime/metrics), peak RSS and CPU seconds (/proc), and then checks what
// the cloud stored (every file under the device that signed it, with that
// device's bytes) and what it serves (each account's viewer, package verify,
// gets only its own devices' items; a stranger's device is refused), while
// the faulty lookup keeps mixing up answers. The same run with jitter off
// (every camera waits exactly Base*2^(n-1), capped) shows by numbers why the
// uploader uses full jitter.
//
// Why a package and not only a test: `make storm` runs it at N = 13,000 and
// writes the report (text and a PNG drawn with image/png); `make test` runs
// it at N = 1,000. Times are the uploader's defaults divided by a scale
// factor the caller chooses, so a run ends in minutes; the report says which.
//
// MQTT (mqtt.go): the storm also starts a real mosquitto (package
// mosquitto, as the tests do; it inherits this process's raised open-file
// limit and needs one descriptor per camera, so 13,000 cameras need a limit
// above about 13,300), runs every camera's real mqtt.Client (the agent's
// code: its certificate, its outbox on disk, its signed events, its
// reconnect loop with the agent's default times scaled like the uploader's)
// in worker processes (workers.go: Config.Workers copies of the caller's
// binary, each owning a share of the fleet, driven over a pipe and stopped
// or killed by this process; 13,000 clients in one runtime took 3.6 GB and
// 170,000 goroutines), and the real event receiver (package receiver) in
// the cloud process, with every device's key pinned. Each camera raises one
// event while all is up and two while the broker is down (they wait in its
// outbox); the broker is stopped with the cloud and started again on the
// same port with its persistence. Run reports the cameras' connection
// attempts per bucket, their time from the broker's restart to connected
// and subscribed again, the broker's peak RSS and CPU, and checks that every
// event is stored exactly once under the device that signed it, shown to
// its account and to no stranger (receiver.ReadVerified). The "no jitter"
// run replaces the client's Jitter with one that returns its bound.
//
// What it does not simulate: the uploader's card queue (the real Uploader
// needs a clip store and an inotify watch per camera, which 13,000 of in one
// process the kernel does not allow) and network latency (loopback).
package storm
