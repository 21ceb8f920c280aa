// Package mosquitto runs a real mosquitto broker (Debian's package) the way
// camagent's dev cloud and tests need it: on loopback, mutual TLS only
// (require_certificate, use_identity_as_username), and an ACL that lets each
// certificate identity use only camagent/v1/<its own ID>/#, plus service
// identities that read every device's topics and write commands.
//
// The broker is not trusted for attribution (payloads are signed); the ACL
// is defence in depth: a device cannot even put bytes under another device's
// topics.
package mosquitto
