package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/camagent/camagent/agent/config"
	"github.com/camagent/camagent/agent/daemon"
)

// DefaultConfigPath is where `camagent run` looks for its config file.
const DefaultConfigPath = "/etc/camagent/camagent.toml"

// runCmd is `camagent run`: the daemon.
func runCmd(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", DefaultConfigPath, "the agent's TOML config `file`")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	cfg, src, err := config.LoadWith(*path, os.Getenv)
	if err != nil {
		return errors.New(config.OneLine(err))
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return daemon.New(cfg, src, daemon.Deps{Console: stderr, Version: version, RuntimeLimits: true}).Run(ctx)
}
