package command

import (
	"crypto"
	"errors"
	"fmt"
	"time"
)

// Keys are the public keys a camera obeys, looked up for every command so
// that a new pairing counts at once.
type Keys struct {
	// Owners are the paired owner's keys: every key the verified owner
	// binding names (the CLI's file key, a browser's WebCrypto key), any of
	// which may sign an owner command; OwnerAccount is their account. Empty
	// while unpaired. A key a newer binding no longer names is not here.
	Owners       []crypto.PublicKey
	OwnerAccount string
	// Vendor is the vendor's service key; nil when the board has none.
	Vendor crypto.PublicKey
}

// Signer says whose key signed a command.
type Signer string

// Signers.
const (
	SignerOwner  Signer = "owner"
	SignerVendor Signer = "vendor"
)

// Checker decides whether the camera obeys a command.
type Checker struct {
	DeviceID string
	Replay   *ReplayCache
}

// Check runs the checks of the package doc on b at device time now and
// returns the command and who signed it. On success the nonce has been
// recorded durably: the caller runs the command at most once. The error,
// when there is one, says why the command is refused; the Command returned
// with an error is UNVERIFIED and only for the log (it is zero when b did
// not even parse).
func (c *Checker) Check(b []byte, keys Keys, now time.Time) (Command, Signer, error) {
	msg, cmd, err := parse(b)
	if err != nil {
		return Command{}, "", fmt.Errorf("command: refused: %w", err)
	}
	var who Signer
	for _, k := range keys.Owners {
		if k != nil && msg.Verify(k) == nil {
			who = SignerOwner
			break
		}
	}
	switch {
	case who != "":
	case keys.Vendor != nil && msg.Verify(keys.Vendor) == nil:
		who = SignerVendor
	case len(keys.Owners) == 0 && keys.Vendor == nil:
		return cmd, "", fmt.Errorf("command: refused: %w: %w", ErrUnsigned, ErrNotPaired)
	default:
		return cmd, "", fmt.Errorf("command: refused: %w", ErrUnsigned)
	}
	if who == SignerVendor && !cmd.Op.Service() {
		return cmd, who, fmt.Errorf("command: refused: %w: %s", ErrNotPermitted, cmd.Op)
	}
	if cmd.DeviceID != c.DeviceID {
		return cmd, who, fmt.Errorf("command: refused: %w: it names %s", ErrMisaddressed, cmd.DeviceID)
	}
	if !now.Before(cmd.Expires) {
		return cmd, who, fmt.Errorf("command: refused: %w at %s (device clock %s)", ErrExpired,
			cmd.Expires.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if cmd.Issued.After(now.Add(MaxSkew)) {
		return cmd, who, fmt.Errorf("command: refused: %w: issued %s, device clock %s", ErrNotYetValid,
			cmd.Issued.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if c.Replay == nil {
		return cmd, who, errors.New("command: refused: no replay cache")
	}
	if err := c.Replay.Use(cmd.Nonce, cmd.Expires, now); err != nil {
		return cmd, who, fmt.Errorf("command: refused: %w", err)
	}
	return cmd, who, nil
}
