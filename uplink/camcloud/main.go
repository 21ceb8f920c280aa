package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// errUsage is returned for a bad command line (exit status 2).
var errUsage = errors.New("usage")

const usage = `usage: camcloud COMMAND [flags]

The development cloud: the reference ingest with a dev CA, owner accounts and
pairing. Every command keeps its state in -data DIR (the CA key, the pairing
key, the registry, the uploaded objects); without -data it uses out/cloud of
the camagent clone it is run in, and refuses anywhere else.

commands:
  serve    the ingest, the read API and the owner's page over HTTPS (and,
           with -mqtt, the MQTT broker); the default without a command
  init     create the CA, pairing key and server certificate, print paths
  enroll   sign a device's CSR offline (-csr FILE -out FILE)
  pair     pair a device to an owner account, write its owner binding
  token    a new viewer token for an account
  list     every stored object of an account's devices, verified
  get      fetch one clip or thumbnail, verify it, then write it to a file
  events   the verified MQTT events of an account's devices
  cmd      send an owner-signed command to a device over MQTT
  help     this text

Run 'camcloud COMMAND -h' for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp) || err == errUsage: // the flag package said why
		os.Exit(2)
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "camcloud:", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "camcloud:", err)
		os.Exit(1)
	}
}

// run runs one command.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Fprint(stdout, usage)
		return nil
	}
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serveCmd(ctx, args, stdout, stderr)
	case "init":
		return initCmd(ctx, args, stdout, stderr)
	case "enroll":
		return enrollCmd(ctx, args, stdout, stderr)
	case "pair":
		return pairCmd(ctx, args, stdout, stderr)
	case "token":
		return tokenCmd(ctx, args, stdout, stderr)
	case "list":
		return listCmd(ctx, args, stdout, stderr)
	case "events":
		return eventsCmd(ctx, args, stdout, stderr)
	case "cmd":
		return cmdCmd(ctx, args, stdout, stderr)
	case "get":
		return getCmd(ctx, args, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
}
