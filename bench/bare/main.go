// Command bare is the baseline of issue 13: the least an eslgo v1.5.2 outbound controller does
// for an inbound recorded DDI call, the same job callrec's Session does for one (esl/session.go):
// on connect `socket_resume false` first, a filter on the call's own leg, the events it needs,
// `linger`, hand the call back with `uuid_transfer <dest> XML <context>`, `uuid_record start` on
// CHANNEL_ANSWER (inbound DDI calls arrive unanswered; the operator's bridge answers them), and
// after CHANNEL_HANGUP_COMPLETE return, so that eslgo sends `exit` and closes. No store, no
// policy, no logs. eslgo's own defaults are kept (DefaultOutboundOptions, its 25 ms
// ConnectionDelay before `exit` included): this is what "bare eslgo" costs.
//
//	bare -listen 127.0.0.1:8084 -spool /tmp/spool -debug 127.0.0.1:6061
//
// -debug serves net/http/pprof and expvar (/debug/vars) on a loopback address for the driver
// (bench/driver) to read the heap and goroutines from outside.
package main

import (
	"context"
	"expvar"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof" // the driver reads /debug/pprof/heap and /debug/pprof/goroutine
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/percipia/eslgo"
	"github.com/percipia/eslgo/command"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8084", "outbound Event Socket address FreeSWITCH's socket application dials")
	spool := flag.String("spool", os.TempDir(), "directory uuid_record writes the WAVs into")
	debug := flag.String("debug", "", "loopback address for net/http/pprof and expvar; empty: none")
	flag.Parse()
	if err := run(*listen, *spool, *debug); err != nil {
		fmt.Fprintln(os.Stderr, "bare:", err)
		os.Exit(1)
	}
}

// run serves the debug endpoint (if asked) and the outbound listener until the listener fails.
func run(listen, spool, debug string) error {
	if debug != "" {
		if err := serveDebug(debug); err != nil {
			return err
		}
	}
	opts := eslgo.DefaultOutboundOptions
	opts.Logger = eslgo.NilLogger{}
	return opts.ListenAndServe(listen, func(ctx context.Context, conn *eslgo.Conn, connect *eslgo.RawResponse) {
		handleCall(ctx, conn, connect, spool)
	})
}

// serveDebug serves http.DefaultServeMux (pprof, expvar) on a loopback address only.
func serveDebug(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("debug listener: %w", err)
	}
	if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		ln.Close()
		return fmt.Errorf("debug listener %s: not a loopback address", addr)
	}
	expvar.Publish("goroutines", expvar.Func(func() any { return runtime.NumGoroutine() }))
	go func() { _ = http.Serve(ln, nil) }()
	return nil
}

// handleCall is one call's whole life on its outbound connection; returning makes eslgo send
// `exit` and close.
func handleCall(ctx context.Context, conn *eslgo.Conn, connect *eslgo.RawResponse, spool string) {
	uuid := connect.GetHeader("Unique-ID")
	dest := connect.GetHeader("Caller-Destination-Number")
	route := connect.GetHeader("Caller-Context")
	if uuid == "" || dest == "" || route == "" {
		return
	}
	// eslgo hands each event to a listener in its own goroutine: two events, a buffered channel.
	evs := make(chan string, 8)
	conn.RegisterEventListener(uuid, func(e *eslgo.Event) {
		select {
		case evs <- e.GetName():
		default:
		}
	})
	send := func(c command.Command) bool {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := conn.SendCommand(cctx, c)
		return err == nil
	}
	record := func() bool {
		return send(command.API{Command: "uuid_record", Arguments: uuid + " start " + filepath.Join(spool, uuid+".wav")})
	}
	// socket_resume false first: a close mid-bridge would otherwise hang up the user (FAILOPEN.md
	// exp 5b); the filter before `event`, or every channel's events flow in meanwhile.
	if !send(command.API{Command: "uuid_setvar", Arguments: uuid + " socket_resume false"}) ||
		!send(command.Filter{EventHeader: "Unique-ID", FilterValue: uuid}) ||
		!send(command.Event{Format: "plain", Listen: []string{"CHANNEL_ANSWER", "CHANNEL_HANGUP_COMPLETE"}}) ||
		!send(command.Linger{Enabled: true, Seconds: 30}) {
		return
	}
	recording := false
	if connect.GetHeader("Answer-State") == "answered" {
		recording = record()
	}
	if !send(command.API{Command: "uuid_transfer", Arguments: uuid + " " + dest + " XML " + route}) {
		return
	}
	for {
		select {
		case name := <-evs:
			switch name {
			case "CHANNEL_ANSWER":
				if !recording {
					recording = record()
				}
			case "CHANNEL_HANGUP_COMPLETE":
				return
			}
		case <-ctx.Done():
			return
		}
	}
}
