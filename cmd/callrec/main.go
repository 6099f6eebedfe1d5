// Command callrec is the call-recording controller for a FreeSWITCH-based hosted PBX.
//
//	callrec [serve] [flags]     run the controller (the default)
//	callrec version             print the version
//	callrec backup FILE         write a hot copy of the store to FILE
//	callrec doctor              check the install: FreeSWITCH's configuration, a self-test recording, callrec's listeners
//	callrec demo [--keep]       see it work: a throw-away callrec, a FreeSWITCH stand-in and a few recorded calls
//
// Configuration: defaults < callrec.yaml (or --config) < CALLREC_* environment < flags; every key
// is in README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// exitError carries the process exit code for a failure main has already described.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, pflag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "callrec:", err)
		}
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

// run dispatches to a subcommand; it is main without the process around it, so tests can call it.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, environ, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "callrec", version)
		return nil
	case "backup":
		return backup(ctx, args, environ, stdout)
	case "fsconf":
		return fsconfCommand(ctx, args, environ, stdout, stderr)
	case "doctor":
		return doctorCommand(ctx, args, environ, stdout, stderr)
	case "demo":
		return demoCommand(ctx, args, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, "usage: callrec [serve|version|backup FILE|fsconf --out DIR [--check]|doctor|demo [--keep]] [flags]")
		return nil
	default:
		return &exitError{code: 2, err: fmt.Errorf("unknown command %q (serve, version, backup, fsconf, doctor, demo)", cmd)}
	}
}
