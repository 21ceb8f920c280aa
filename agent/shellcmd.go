package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/camagent/camagent/agent/control"
	"github.com/camagent/camagent/agent/daemon"
	"github.com/camagent/camagent/agent/shell"
	"github.com/camagent/camagent/storage/atomicfile"
	"github.com/camagent/camagent/uplink/identity"
)

const shellUsage = `usage: camagent shell [-socket PATH]

The serial debug shell: an interactive command line to the running agent, for
the camera's serial console or any terminal. Type help in it for the commands.
Privileged commands (config set, reboot, format-sd, factory-reset) need an
unlock: a challenge signed by the vendor's or the owner's key with
'camagent sign-challenge'.

flags:
`

// shellCmd runs `camagent shell` with args (without "shell"). When stdin and
// stdout are both a terminal it puts the terminal in raw mode and edits lines
// (restoring the terminal when it returns); otherwise it reads plain lines.
func shellCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("camagent shell", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", control.DefaultSocket, "the agent's control socket `path`")
	fs.Usage = func() {
		fmt.Fprint(stderr, shellUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("camagent shell: unexpected argument %q", fs.Arg(0))
	}
	// A hung-up serial line or a kill ends the shell cleanly (and restores
	// the terminal); on a raw terminal Ctrl-C is a key, not a signal.
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT)
	defer stop()
	cfg := shell.Config{
		Agent: &control.Client{Socket: *socket}, In: stdin, Out: stdout,
		PrintStatus: control.WriteStatus,
	}
	if fd, ok := terminalFD(stdin, stdout); ok {
		state, err := term.MakeRaw(fd)
		if err != nil {
			return fmt.Errorf("camagent shell: raw mode: %w", err)
		}
		defer func() { _ = term.Restore(fd, state) }()
		cfg.Terminal = true
		// A serial console has no size (0x0); x/term then assumes 80x24.
		if w, h, err := term.GetSize(fd); err == nil && w > 0 && h > 0 {
			cfg.Width, cfg.Height = w, h
		}
	}
	err := shell.New(cfg).Run(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("camagent shell: %w", err)
	}
	return nil
}

// terminalFD returns stdin's descriptor when stdin and stdout are both
// terminals.
func terminalFD(stdin io.Reader, stdout io.Writer) (int, bool) {
	in, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return 0, false
	}
	out, ok := stdout.(*os.File)
	if !ok || !term.IsTerminal(int(out.Fd())) {
		return 0, false
	}
	return int(in.Fd()), true
}

const signChallengeUsage = `usage: camagent sign-challenge -key KEY.pem CHALLENGE
       camagent sign-challenge -key KEY.pem -public

Run on the technician's machine: sign the unlock challenge a camera's serial
shell printed (camagent-unlock-v1.<device id>.<nonce>.<expiry>) with the
vendor's service key or the owner's key, and print the response to paste into
the shell. The key is an ECDSA P-256 private key in PEM (PKCS#8 "PRIVATE KEY"
or SEC 1 "EC PRIVATE KEY"). -public prints the key's public half instead (PEM),
to install on cameras as the vendor key (%s).

flags:
`

// maxPrivateKeyFile bounds the key file sign-challenge reads.
const maxPrivateKeyFile = 16 << 10

// signChallengeCmd runs `camagent sign-challenge` with args (without
// "sign-challenge").
func signChallengeCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("camagent sign-challenge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyPath := fs.String("key", "", "the vendor's or owner's private key (PEM `file`)")
	public := fs.Bool("public", false, "print the key's public half (PEM) and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, signChallengeUsage, daemon.DefaultVendorKeyPath)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *keyPath == "" {
		fs.Usage()
		return errors.New("camagent sign-challenge: -key is required")
	}
	key, err := readSigningKey(*keyPath)
	if err != nil {
		return fmt.Errorf("camagent sign-challenge: -key %s: %w", *keyPath, err)
	}
	if *public {
		if fs.NArg() > 0 {
			return fmt.Errorf("camagent sign-challenge: -public takes no challenge")
		}
		pemText, err := identity.PublicKeyPEM(key.Public())
		if err != nil {
			return fmt.Errorf("camagent sign-challenge: %w", err)
		}
		_, err = stdout.Write(pemText)
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("camagent sign-challenge: give exactly one CHALLENGE (the line the shell's unlock printed)")
	}
	c, err := control.ParseChallenge(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("camagent sign-challenge: %w", err)
	}
	resp, err := control.SignChallenge(key, fs.Arg(0))
	if err != nil {
		return fmt.Errorf("camagent sign-challenge: %w", err)
	}
	fmt.Fprintf(stderr, "signing the unlock challenge of device %s with key %s;\nit expires %s by the camera's clock",
		c.DeviceID, identity.Fingerprint(key.Public()), c.Expires.UTC().Format(time.RFC3339))
	if left := time.Until(c.Expires); left < 0 {
		fmt.Fprintf(stderr, " (%s ago by this machine's clock: if the camera refuses it, ask for a new challenge)", (-left).Round(time.Second))
	}
	fmt.Fprintf(stderr, ".\nPaste this response into the shell:\n")
	_, err = fmt.Fprintln(stdout, resp)
	return err
}

// readSigningKey reads an ECDSA P-256 private key from a PEM file.
func readSigningKey(path string) (*ecdsa.PrivateKey, error) {
	data, err := atomicfile.ReadFileMax(path, int64(maxPrivateKeyFile))
	if err != nil {
		return nil, err
	}
	for rest := data; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			return nil, errors.New(`no "PRIVATE KEY" or "EC PRIVATE KEY" PEM block`)
		}
		var k any
		switch blk.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(blk.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		ek, ok := k.(*ecdsa.PrivateKey)
		if !ok || ek.Curve != elliptic.P256() {
			return nil, errors.New("not an ECDSA P-256 key")
		}
		return ek, nil
	}
}
