package esl

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/store"
)

// TestServer_RelativeDirsAreMadeAbsolute: a Server given a relative SpoolDir and OnDemandPath
// (and a sofia record-path FreeSWITCH reports with a doubled slash) still hands FreeSWITCH
// absolute paths and books both an automatic and a Record key recording whose WAVs exist where
// the rows say. FreeSWITCH would write a relative path under its own base dir (the stand-in's is
// elsewhere), where callrec never looks.
func TestServer_RelativeDirsAreMadeAbsolute(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound, onDemand: store.OnDemandKey, relativeDirs: true, recordPathTail: "/"})
	if !filepath.IsAbs(h.srv.SpoolDir) || !filepath.IsAbs(h.srv.OnDemandPath) || strings.HasSuffix(h.srv.OnDemandPath, "/") {
		t.Fatalf("after Open: SpoolDir %q OnDemandPath %q, want absolute and clean", h.srv.SpoolDir, h.srv.OnDemandPath)
	}
	call, b := answeredInbound(t, h)
	h.waitRecordings(store.StateRecording, 1)
	if st, _ := b.SendInfoRecord(true); st != 200 {
		t.Fatalf("INFO Record: on: %d", st)
	}
	h.waitRecordings(store.StateRecording, 2)
	h.fs.Advance(2 * time.Second)
	b.SendInfoRecord(false)
	call.A.Hangup("NORMAL_CLEARING")
	recs := h.waitRecordings(store.StateProcessing, 2)
	for _, r := range recs {
		if !filepath.IsAbs(r.WAVPath) {
			t.Errorf("%s recording: WAV path %q is relative", r.Type, r.WAVPath)
		}
		if _, err := os.Stat(r.WAVPath); err != nil {
			t.Errorf("%s recording: no WAV where the row says: %v", r.Type, err)
		}
	}
	for _, f := range h.fs.Transcript() {
		if cmd := f.Command(); f.Dir == fstest.ToFS && strings.HasPrefix(cmd, "api uuid_record ") {
			if p := strings.Fields(cmd)[4]; !strings.HasPrefix(p, "/") {
				t.Errorf("callrec sent a relative record path: %s", cmd)
			}
		}
	}
}

func TestServer_OpenRefusesAnEmptySpoolDir(t *testing.T) {
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "db"), store.Options{NoSync: true})
	must(t, err)
	defer db.Close()
	srv := &Server{Addr: "127.0.0.1:0", DB: db, Logger: zerolog.Nop()}
	if err := srv.Open(); err == nil || !strings.Contains(err.Error(), "SpoolDir") {
		srv.Close(context.Background())
		t.Fatalf("Open with no SpoolDir: %v, want an error naming SpoolDir", err)
	}
}

// TestNode_RelativeDirsAndUncleanPathsStillMatch: the node connection, given relative
// directories, finishes a Record key recording that FreeSWITCH reports with a doubled slash
// (record-path "…/ondemand/" + "/" + template, sofia.c ~10192) after callrec's restart.
func TestNode_RelativeDirsAndUncleanPathsStillMatch(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordNone, onDemand: store.OnDemandKey, inbound: true, relativeDirs: true, recordPathTail: "/"})
	ctx := ctxT(t, 30*time.Second)
	call, b := answeredInbound(t, h)
	if st, _ := b.SendInfoRecord(true); st != 200 {
		t.Fatalf("on: %d", st)
	}
	h.waitRecordings(store.StateRecording, 1)
	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	must(t, h.srv.Close(closeCtx)) // callrec stops; the call goes on
	cancel()

	node := &Node{Addr: h.fs.InboundAddr(), Password: "ClueCon", DB: h.db, Logger: testLogger(t), SpoolDir: "spool", OnDemandPath: "./ondemand/"}
	nodeCtx, stopNode := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { node.Run(nodeCtx); close(done) }()
	defer func() { stopNode(); <-done }()
	waitFor(t, func() bool { return h.fs.ActiveConns() >= 1 }, "node connected")
	time.Sleep(50 * time.Millisecond)
	h.fs.Advance(time.Second)
	call.A.Hangup("NORMAL_CLEARING")
	r := h.waitRecordings(store.StateProcessing, 1)[0]
	if _, err := os.Stat(r.WAVPath); err != nil {
		t.Errorf("WAV path %q: %v", r.WAVPath, err)
	}
}

func TestNode_RunRefusesAnEmptySpoolDir(t *testing.T) {
	err := (&Node{Addr: "127.0.0.1:1", Logger: zerolog.Nop()}).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "SpoolDir") {
		t.Fatalf("Run with no SpoolDir: %v, want an error naming SpoolDir", err)
	}
}
