//go:build unix

package main

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/fsconf"
)

// processCPU is the CPU time (user+system) this test process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestServe_IdleWithFinishedRecordingsUsesNoCPU: `callrec serve` (and the stand-in, both in this
// process) with a finished recording and no call uses next to no CPU (issue 12 point 3: both
// audio-worker goroutines spun for ever after the first recording, ~150 % CPU).
func TestServe_IdleWithFinishedRecordingsUsesNoCPU(t *testing.T) {
	dir := t.TempDir()
	srv := startServe(t, "--data_dir", dir, "--http.listen", "127.0.0.1:0", "--esl.listen", "127.0.0.1:0", "--log.format", "json")
	api := srv.api
	brand := api.create("brands", map[string]any{"name": "Brand"})
	company := api.create("companies", map[string]any{"brand_id": brand, "name": "Acme"})
	api.create("ddis", map[string]any{"company_id": company, "number": "+34 911 234 567", "record_calls": "inbound"})
	api.create("users", map[string]any{"company_id": company, "name": "Ana", "extension": "1001", "sip_user": "1001"})
	fs := renderedFreeSWITCH(t, fsconf.Options{ESLListen: srv.esl, RecordPath: filepath.Join(dir, "ondemand"), InboundPassword: "ClueCon"},
		operatorBridge(`^\+34911234567$`, "1001"), fstest.Options{Phones: map[string]fstest.Phone{"1001": {ToneHz: 700}}})
	placeRecordedInboundCall(t, fs, api, "+34911234567", time.Second)
	time.Sleep(time.Second) // let the call's connections and the API client settle

	before := processCPU()
	time.Sleep(2 * time.Second)
	if used := processCPU() - before; used > 50*time.Millisecond {
		t.Fatalf("idle callrec serve used %v of CPU in 2 s (want < 50 ms)", used)
	}
}
