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

const usage = `usage: camcloud [serve|init|enroll|pair|token|list|events|cmd] [flags]

The development cloud: the reference ingest with a dev CA, owner accounts and
pairing. Run 'camcloud COMMAND -h' for a command's flags. Without a command,
serve.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "camcloud:", err)
		os.Exit(1)
	}
}

// run runs one command.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
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
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
}
