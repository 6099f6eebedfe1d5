//go:build !race

// Built without -race only: callrec's esl.Server closes eslgo connections, and eslgo v1.5.2's
// own data race on them is reported by -race (.ci/run says why; it runs this test without it).

package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/callrec/callrec/esl"
	"github.com/callrec/callrec/store"
)

// TestRun_AgainstCallrecHandsEachCallOverOnce: `fsload -controller <callrec>` with callrec's
// defaults (no esl.route_context: callrec hands a call back into the context it came from).
// Every call completes, and each is handed to callrec once: one outbound connection per call.
// Before the dialplan's hand-over was guarded, callrec's uuid_transfer into public ran the
// hand-over again: a loop until callrec's own guard released the call (four connections a call).
func TestRun_AgainstCallrecHandsEachCallOverOnce(t *testing.T) {
	const calls = 12
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	db, err := store.Open(ctx, dir+"/callrec.db", store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	srv := &esl.Server{Addr: "127.0.0.1:0", DB: db, Logger: zerolog.Nop(), SpoolDir: dir + "/spool", OnDemandPath: dir + "/ondemand",
		TransferContext: "callrec_transfer"}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ccancel()
		srv.Close(cctx)
	}()

	rep, err := run(ctx, config{controller: srv.BoundAddr(), calls: calls, concurrency: calls, rate: 100,
		hold: 50 * time.Millisecond, mix: "basic=1,bridge=1"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep.print(&out)
	t.Log(out.String())
	if rep.completed != calls || rep.failed != 0 {
		t.Errorf("completed %d failed %d: %v", rep.completed, rep.failed, rep.errors)
	}
	if n := len(rep.stats.ConnectToFirst); n != calls {
		t.Errorf("%d outbound connections for %d calls, want one each (a call handed over more than once loops)", n, calls)
	}
	if rep.stats.Dropped != 0 || rep.stats.NoConnect != 0 || rep.stats.Refused != 0 {
		t.Errorf("controller-visible failures: %+v", rep.stats)
	}
}
