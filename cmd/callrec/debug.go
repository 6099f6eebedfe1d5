package main

import (
	"context"
	"errors"
	"expvar"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"

	"github.com/rs/zerolog"
)

// DebugConfig configures the profiling listener (issue 13: operators profile callrec too).
type DebugConfig struct {
	// PprofListen, when set, serves net/http/pprof at /debug/pprof/ and expvar (memstats,
	// goroutines) at /debug/vars on this loopback address. Off by default: a profile reveals
	// call data in memory, so only a loopback host is accepted.
	PprofListen string `koanf:"pprof_listen"`
}

// checkDebug validates debug.pprof_listen: empty, or host:port with a loopback host.
func (c DebugConfig) check() error {
	if c.PprofListen == "" {
		return nil
	}
	if err := checkHostPort("debug.pprof_listen", c.PprofListen, true); err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(c.PprofListen)
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("debug.pprof_listen: %q: the profiling listener serves only a loopback address (127.0.0.1, ::1, localhost)", c.PprofListen)
	}
	return nil
}

// startDebug serves the profiling endpoints on addr until ctx ends. It returns the bound
// address; errors are the listen's.
func startDebug(ctx context.Context, addr string, log zerolog.Logger) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("debug.pprof_listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	vars := expvar.Handler()
	mux.Handle("/debug/vars", vars)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn().Err(err).Msg("debug listener stopped")
		}
	}()
	go func() { <-ctx.Done(); _ = srv.Close() }()
	log.Warn().Str("debug", ln.Addr().String()).Int("goroutines", runtime.NumGoroutine()).Msg("profiling listener on (debug.pprof_listen): /debug/pprof/, /debug/vars")
	return ln.Addr().String(), nil
}
