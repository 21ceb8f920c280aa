// Package mqtttest starts a real mosquitto (package mosquitto) for tests,
// with a fresh development CA, the broker's certificate for 127.0.0.1, and
// device and service identities whose certificates the broker accepts. When
// mosquitto is not installed the test fails and says to run `make deps`.
package mqtttest
