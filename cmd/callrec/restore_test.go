package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/fsconf"
)

// serveUntilStopped runs `callrec serve args…` (no FreeSWITCH node connection) and returns its
// addresses, the API client (signed in with token, or with the token it prints when token is
// empty) and a stop function that sends the signal and waits for a clean exit.
func serveUntilStopped(t *testing.T, token string, args ...string) (*servedCallrec, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve"}, args...), []string{"CALLREC_FREESWITCH__NODES="}, stdout, stderr)
	}()
	stopped := false
	stop := func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v\n%s", err, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not stop")
		}
	}
	t.Cleanup(stop)
	base := waitForLog(t, stderr, `"http":"(http://[^"]+)"`, done)
	eslAddr := waitForLog(t, stderr, `"esl":"([^"]+)"`, done)
	if token == "" {
		token = regexp.MustCompile(`crt_\S+`).FindString(stdout.String())
	}
	return &servedCallrec{base: base, esl: eslAddr, api: &apiClient{t: t, base: base + "/api/v1", token: token}}, stop
}

// sh runs one README step as a shell command line would (argv, no shell).
func sh(t *testing.T, argv ...string) {
	t.Helper()
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", argv, err, out)
	}
}

// TestRestore_READMEProcedureBringsBackAPlayableRecording is README's "Backup and restore"
// procedure, step by step: a store with a ready recording and its MP3 in the library; callrec
// stopped; `callrec backup /backup/callrec.db`; `cp -a library /backup/library`; the data
// directory lost; `mkdir -p DATA`, `cp -a /backup/callrec.db DATA/callrec.db`,
// `cp -a /backup/library DATA/library`; `callrec serve` again: the recording is listed ready
// and its MP3 plays, with the tokens of before.
func TestRestore_READMEProcedureBringsBackAPlayableRecording(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	backupDir := t.TempDir()
	args := []string{"--data_dir", data, "--http.listen", "127.0.0.1:0", "--esl.listen", "127.0.0.1:0", "--log.format", "json"}

	// A store with rows and a library with an MP3.
	srv, stop := serveUntilStopped(t, "", args...)
	api := srv.api
	brand := api.create("brands", map[string]any{"name": "Brand"})
	company := api.create("companies", map[string]any{"brand_id": brand, "name": "Acme"})
	api.create("ddis", map[string]any{"company_id": company, "number": "+34 911 234 567", "record_calls": "inbound"})
	api.create("users", map[string]any{"company_id": company, "name": "Ana", "extension": "1001", "sip_user": "1001"})
	fs := renderedFreeSWITCH(t, fsconf.Options{ESLListen: srv.esl, RecordPath: filepath.Join(data, "spool", "ondemand"), InboundPassword: "ClueCon"},
		operatorBridge(`^\+34911234567$`, "1001"), fstest.Options{Phones: map[string]fstest.Phone{"1001": {ToneHz: 700}}})
	rec := placeRecordedInboundCall(t, fs, api, "+34911234567", 2*time.Second)
	api.playableMP3(rec.ID, rec.FileName)

	// 1. Stop callrec. 2. callrec backup /backup/callrec.db. 3. cp -a DATA/library /backup/library.
	stop()
	var out syncBuffer
	if err := run(context.Background(), []string{"backup", "--data_dir", data, filepath.Join(backupDir, "callrec.db")}, nil, &out, &out); err != nil {
		t.Fatalf("backup: %v", err)
	}
	sh(t, "cp", "-a", filepath.Join(data, "library"), filepath.Join(backupDir, "library"))

	// The data directory is lost.
	must(t, os.RemoveAll(data))

	// Restore: mkdir -p DATA; cp -a /backup/callrec.db DATA/; cp -a /backup/library DATA/library.
	sh(t, "mkdir", "-p", data)
	sh(t, "cp", "-a", filepath.Join(backupDir, "callrec.db"), filepath.Join(data, "callrec.db"))
	sh(t, "cp", "-a", filepath.Join(backupDir, "library"), filepath.Join(data, "library"))

	// callrec serve: the same token signs in, the recording is ready and plays.
	srv2, _ := serveUntilStopped(t, api.token, args...)
	got := srv2.api.waitRecording(func(r recordingView) bool { return r.ID == rec.ID }, "the restored recording")
	if got.State != "ready" || got.FileName != rec.FileName {
		t.Fatalf("restored recording %+v, want ready as %+v", got, rec)
	}
	if d := srv2.api.playableMP3(rec.ID, rec.FileName); d < 1900*time.Millisecond {
		t.Fatalf("restored MP3 lasts %v", d)
	}
}
