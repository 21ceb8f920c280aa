package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
)

// version is stamped by the Makefile (-X main.version=...).
var version = "dev"

func main() {
	err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		msg := err.Error()
		if !strings.HasPrefix(msg, "camagent") {
			msg = "camagent: " + msg
		}
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(1)
	}
}

// errUsage is returned after the usage text has already been printed.
var errUsage = errors.New("usage")

const usage = `usage: camagent <command> [flags]

commands:
  run       run the agent daemon (-config FILE)
  ctl       talk to the running agent: status, logs, clips, uploads, and
            control NAME VALUE to set a camera control live (on the QEMU
            camera: ctl control "Horizontal Movement" 6 makes motion, 3 stops it)
  shell     the serial debug shell (talks to the running agent)
  sign-challenge
            sign a shell unlock challenge with the vendor's or owner's key
  detect    run motion detection offline over a Y4M file
  provision create the device key if needed, print the device ID, write a CSR, install a certificate
  verify    check a clip and its signed manifest offline
  version   print the version

Run 'camagent <command> -h' for a command's flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "run":
		return runCmd(ctx, rest, stderr)
	case "ctl":
		return ctlCmd(ctx, rest, stdout, stderr)
	case "provision":
		return provisionCmd(ctx, rest, stdout, stderr)
	case "verify":
		return verifyCmd(ctx, rest, stdout, stderr)
	case "shell":
		return shellCmd(ctx, rest, os.Stdin, stdout, stderr)
	case "sign-challenge":
		return signChallengeCmd(ctx, rest, stdout, stderr)
	case "detect":
		return detectCmd(ctx, rest, stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "camagent %s %s/%s %s\n", version, runtime.GOOS, runtime.GOARCH, runtime.Version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "camagent: unknown command %q\n\n%s", cmd, usage)
		return errUsage
	}
}
