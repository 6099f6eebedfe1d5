package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/callrec/callrec/fsconf"
	"github.com/callrec/callrec/store"
)

// fsconfCommand renders the FreeSWITCH configuration (SPEC.md §4.3) into --out DIR, with an
// INSTALL.md saying where each file goes; with --check it writes nothing and compares DIR with
// what it would render, exiting 1 on drift. Exit codes: 2 bad usage or configuration, 3 store
// unreadable (a running callrec holds its lock), 1 drift or write failure.
func fsconfCommand(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fset := pflag.NewFlagSet("fsconf", pflag.ContinueOnError)
	fset.SetOutput(stderr)
	out := fset.String("out", "", "directory to write the FreeSWITCH files into (required)")
	check := fset.Bool("check", false, "compare --out with what would be rendered; exit 1 on drift, write nothing")
	cfg, err := loadConfig(fset, args, environ)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if *out == "" || fset.NArg() != 0 {
		return &exitError{code: 2, err: errors.New("usage: callrec fsconf --out DIR [--check] [flags]")}
	}
	opts, err := fsconfOptions(cfg)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	rules, err := fsconfRules(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	r, err := fsconf.New(opts, rules)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	rendered, err := r.Render()
	if err != nil {
		return err
	}
	for _, c := range rendered.Skipped {
		fmt.Fprintf(stderr, "callrec fsconf: on-demand code %q in the store is not 1-3 digits; no extension rendered for it\n", c)
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
		ESLListen:        cfg.ESL.Listen,
		TransferContext:  cfg.ESL.TransferContext,
		PublicContext:    cfg.FreeSWITCH.PublicContext,
		UserContext:      cfg.FreeSWITCH.UserContext,
		InternalExtRegex: cfg.FreeSWITCH.InternalExtRegex,
		RecordPath:       filepath.ToSlash(cfg.FreeSWITCH.RecordPath),
		InboundPassword:  cfg.FreeSWITCH.InboundPassword,
	}, nil
}

// fsconfRules reads the rules snapshot (for the on-demand codes). A store that does not exist
// yet is not created: the rendering then has no codes.
func fsconfRules(ctx context.Context, cfg Config, stderr io.Writer) (*store.Rules, error) {
	path := cfg.dbPath()
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(stderr, "callrec fsconf: no store at %s yet; rendering without on-demand codes\n", path)
		return nil, nil
	}
	db, err := store.Open(ctx, path, store.Options{DefaultCountry: cfg.DefaultCountry, Timeout: 2 * time.Second})
	if err != nil {
		return nil, &exitError{code: 3, err: fmt.Errorf("open store %s: %w (a running callrec holds the store: stop it, or render while it is stopped)", path, err)}
	}
	defer db.Close()
	return db.Rules(), nil
}
