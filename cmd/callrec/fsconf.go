package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/callrec/callrec/fsconf"
)

// fsconfCommand renders the FreeSWITCH configuration (SPEC.md §4.3) into --out DIR, with an
// INSTALL.md saying where each file goes; with --check it writes nothing and compares the
// configuration files FreeSWITCH loads under DIR (not INSTALL.md) with what it would render,
// exiting 1 on drift. It reads only the configuration, never the store, so it works while
// callrec runs. Exit codes: 2 bad usage or configuration, 1 drift or write failure.
func fsconfCommand(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fset := pflag.NewFlagSet("fsconf", pflag.ContinueOnError)
	fset.SetOutput(stderr)
	out := fset.String("out", "", "directory to write the FreeSWITCH files into (required)")
	check := fset.Bool("check", false, "compare --out with what would be rendered; exit 1 on drift, write nothing")
	cfg, err := loadConfig(fset, args, environ)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stderr, "callrec fsconf: %s\n", w)
	}
	if *out == "" || fset.NArg() != 0 {
		return &exitError{code: 2, err: errors.New("usage: callrec fsconf --out DIR [--check] [flags]")}
	}
	opts, err := fsconfOptions(cfg)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	r, err := fsconf.New(opts)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	rendered, err := r.Render()
	if err != nil {
		return err
	}
	if *check {
		drift, err := rendered.Check(*out)
		if err != nil {
			return err
		}
		for _, d := range drift {
			fmt.Fprintf(stdout, "%s\n", d)
		}
		if len(drift) > 0 {
			return &exitError{code: 1, err: fmt.Errorf("fsconf: %s differs from the rendered configuration in %d file(s); run callrec fsconf --out %s", *out, len(drift), *out)}
		}
		fmt.Fprintf(stdout, "%s is up to date\n", *out)
		return nil
	}
	if err := rendered.WriteDir(*out); err != nil {
		return err
	}
	for _, f := range rendered.Files {
		fmt.Fprintln(stdout, filepath.Join(*out, filepath.FromSlash(f.Path)))
	}
	fmt.Fprintf(stdout, "read %s for where each file goes\n", filepath.Join(*out, fsconf.InstallFile))
	return nil
}

// fsconfOptions maps the configuration keys onto fsconf.Options. record_path is already
// absolute and clean (fillDerived), as FreeSWITCH needs it.
func fsconfOptions(cfg Config) (fsconf.Options, error) {
	return fsconf.Options{
		ESLListen:       cfg.ESL.Listen,
		Instances:       cfg.ESL.Instances,
		TransferContext: cfg.ESL.TransferContext,
		PublicContext:   cfg.FreeSWITCH.PublicContext,
		UserContexts:    cfg.FreeSWITCH.UserContexts,
		RecordPath:      filepath.ToSlash(cfg.FreeSWITCH.RecordPath),
		InboundPassword: cfg.FreeSWITCH.InboundPassword,
	}, nil
}
