package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/callrec/callrec/doctor"
	"github.com/callrec/callrec/fsconf"
)

// doctorCommand proves an install (`callrec doctor`): it reads the same configuration as serve,
// never opens the store, checks callrec's listeners and every FreeSWITCH node (package doctor)
// and prints one line per check. Exit codes: 0 all OK, 1 something is wrong, 2 bad usage or
// configuration.
func doctorCommand(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fset := pflag.NewFlagSet("doctor", pflag.ContinueOnError)
	fset.SetOutput(stderr)
	profile := fset.String("profile", "internal", "sofia profile the users' phones register to")
	selfTest := fset.Duration("self-test-for", 2*time.Second, "how long the self-test call is recorded")
	timeout := fset.Duration("timeout", 5*time.Second, "timeout of each connection and command")
	cfg, err := loadConfig(fset, args, environ)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if fset.NArg() != 0 {
		return &exitError{code: 2, err: errors.New("usage: callrec doctor [--profile NAME] [--self-test-for 2s] [flags]")}
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	in, err := doctorInstall(cfg)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	in.Profile, in.SelfTestFor, in.Timeout, in.Logger = *profile, *selfTest, *timeout, log
	results := doctor.Run(ctx, in)
	for _, r := range results {
		fmt.Fprintln(stdout, r)
	}
	if doctor.Failed(results) {
		return &exitError{code: 1, err: errors.New("doctor: the install has problems (see the FAIL lines)")}
	}
	fmt.Fprintln(stdout, "callrec doctor: all checks passed")
	return nil
}

// doctorInstall maps the configuration onto what doctor checks; every path is made absolute
// against callrec's working directory, as FreeSWITCH needs it.
func doctorInstall(cfg Config) (doctor.Install, error) {
	opts, err := fsconfOptions(cfg)
	if err != nil {
		return doctor.Install{}, err
	}
	r, err := fsconf.New(opts)
	if err != nil {
		return doctor.Install{}, err
	}
	rendered, err := r.Render()
	if err != nil {
		return doctor.Install{}, err
	}
	abs := map[string]*string{"spool_dir": &cfg.SpoolDir, "library_dir": &cfg.LibraryDir}
	for key, p := range abs {
		a, err := filepath.Abs(*p)
		if err != nil {
			return doctor.Install{}, fmt.Errorf("%s: %w", key, err)
		}
		*p = a
	}
	var nodes []doctor.Node
	for _, n := range cfg.FreeSWITCH.Nodes {
		nodes = append(nodes, doctor.Node{Addr: n.Addr, Password: n.Password})
	}
	o := r.Options()
	return doctor.Install{
		Nodes: nodes, Rendered: rendered,
		PublicContext: o.PublicContext, UserContexts: o.UserContexts, TransferContext: o.TransferContext,
		RecordPath: filepath.FromSlash(opts.RecordPath),
		ESLListen:  cfg.ESL.Listen, HTTPListen: cfg.HTTP.Listen,
		SpoolDir: cfg.SpoolDir, LibraryDir: cfg.LibraryDir,
	}, nil
}
