// Command callrec is the call-recording controller for a FreeSWITCH-based hosted PBX.
//
//	callrec [serve] [flags]       run the controller (the default)
//	callrec doctor                check the install: FreeSWITCH's configuration, a self-test recording, callrec's listeners
//	callrec backup [--force] FILE write a consistent copy of the store to FILE
//	callrec fsconf --out DIR      render the FreeSWITCH configuration
//	callrec demo [--keep]         see it work: a throw-away callrec, a FreeSWITCH stand-in and a few recorded calls
//	callrec verify --key K ZIP    check an archive's signed manifest and every file's SHA-256
//	callrec version               print the version
//	callrec help                  list the commands (also -h, --help)
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
	"strings"
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
		fmt.Fprintln(os.Stderr, "callrec:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

// command is one subcommand as `callrec help` lists it.
type command struct {
	name, args, summary string
}

// commands is every subcommand run dispatches, in the order help lists them.
func commands() []command {
	return []command{
		{"serve", "[flags]", "run the controller (the default when no command is given)"},
		{"doctor", "[--profile NAME] [--self-test-for D]", "check the install: FreeSWITCH's configuration, a self-test recording, callrec's listeners"},
		{"backup", "[--force] FILE", "write a consistent copy of the store (callrec stopped) to FILE; --force replaces an existing FILE"},
		{"fsconf", "--out DIR [--check]", "render (or check) the FreeSWITCH configuration for this callrec"},
		{"demo", "[--keep]", "see it work: a throw-away callrec, a FreeSWITCH stand-in and a few recorded calls of each kind"},
		{"verify", "(--key K | --key-url URL) ARCHIVE.zip", "check an archive's signed manifest and every file's SHA-256"},
		{"version", "", "print the version"},
		{"help", "", "list the commands (also -h, --help)"},
	}
}

// commandNames is the comma-separated list of the subcommands.
func commandNames() string {
	cmds := commands()
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}

// writeHelp prints the usage: one line per subcommand.
func writeHelp(w io.Writer) {
	fmt.Fprintln(w, "usage: callrec [command] [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %-38s %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "`callrec COMMAND --help` lists a command's flags; every configuration key is in README.md.")
}

// run dispatches to a subcommand; it is main without the process around it, so tests can call it.
// `COMMAND --help` (the flag set has printed its flags) is a success, as `callrec --help` is.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, environ, stdout, stderr)
	if errors.Is(err, pflag.ErrHelp) {
		return nil
	}
	return err
}

// dispatch runs the subcommand args name (serve when they name none).
func dispatch(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		cmd, args = "help", args[1:]
	} else if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
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
	case "verify":
		return verifyCommand(ctx, args, stdout)
	case "help":
		writeHelp(stdout)
		return nil
	default:
		return &exitError{code: 2, err: fmt.Errorf("unknown command %q (commands: %s; see callrec --help)", cmd, commandNames())}
	}
}
