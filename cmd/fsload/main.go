// Command fsload drives the FreeSWITCH stand-in (esl/fstest) against an outbound-socket
// controller: N concurrent calls started at R calls/s, each held for a while, in a mix of
// scenarios, then prints calls/s achieved, latency percentiles of the controller
// (connect → first command, event → reaction), errors and controller-visible failures,
// and checks that the stand-in left no goroutine or connection behind.
//
//	fsload -calls 1000 -concurrency 1000 -rate 200 -hold 2s           # built-in eslgo handler
//	fsload -controller 127.0.0.1:8084 -calls 500 -mix basic=3,bridge=1  # a running callrec
//
// The stand-in's dialplan is the one `callrec fsconf` renders, whose hand-over entry is guarded
// (callrec_seen): a callrec on its defaults (no esl.route_context) hands each call back into
// public once, where the operator's extensions route it, without looping.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"time"
)

func main() {
	var cfg config
	flag.StringVar(&cfg.controller, "controller", "", "controller address (host:port), e.g. a running callrec's esl.listen (its defaults do; no esl.route_context needed); empty starts a trivial built-in eslgo handler")
	flag.IntVar(&cfg.calls, "calls", 1000, "total calls to place")
	flag.IntVar(&cfg.concurrency, "concurrency", 1000, "maximum concurrent calls")
	flag.Float64Var(&cfg.rate, "rate", 200, "calls started per second")
	flag.DurationVar(&cfg.hold, "hold", 2*time.Second, "how long each call is held after it is answered (wall time)")
	flag.StringVar(&cfg.mix, "mix", "basic=2,bridge=2,dtmf=1", "scenario weights: basic, bridge, dtmf")
	flag.DurationVar(&cfg.timeout, "timeout", 2*time.Minute, "give up after this long")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	rep, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fsload:", err)
		os.Exit(1)
	}
	rep.print(os.Stdout)
	if rep.leakedGoroutines > 0 || rep.openConns > 0 {
		pprof.StopCPUProfile()
		os.Exit(2)
	}
}
