package esl

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/callrec/callrec/store"
)

// writeTestWAV writes a PCM16 mono 8 kHz WAV of the given length.
func writeTestWAV(t *testing.T, path string, d time.Duration) {
	t.Helper()
	samples := int(d.Seconds() * 8000)
	data := make([]byte, 44+2*samples)
	copy(data, "RIFF")
	binary.LittleEndian.PutUint32(data[4:], uint32(36+2*samples))
	copy(data[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(data[16:], 16)
	binary.LittleEndian.PutUint16(data[20:], 1)
	binary.LittleEndian.PutUint16(data[22:], 1)
	binary.LittleEndian.PutUint32(data[24:], 8000)
	binary.LittleEndian.PutUint32(data[28:], 16000)
	binary.LittleEndian.PutUint16(data[32:], 2)
	binary.LittleEndian.PutUint16(data[34:], 16)
	copy(data[36:], "data")
	binary.LittleEndian.PutUint32(data[40:], uint32(2*samples))
	must(t, os.WriteFile(path, data, 0o600))
}

func TestReconcile_SettlesRowsLeftRecording(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(ctx, filepath.Join(dir, "db"), store.Options{NoSync: true})
	must(t, err)
	defer db.Close()
	b := &store.Brand{Name: "b"}
	must(t, db.CreateBrand(ctx, b))
	c := &store.Company{BrandID: b.ID, Name: "c"}
	must(t, db.CreateCompany(ctx, c))
	now := time.Now()
	mk := func(started time.Time) *store.Recording {
		r := &store.Recording{CompanyID: c.ID, CallID: "call", Type: store.TypeDDI, Trigger: store.TriggerDDI,
			Direction: store.DirectionInbound, Recorder: "+34911234567", StartedAt: started}
		must(t, db.CreateRecording(ctx, r))
		return r
	}
	quiet := mk(now.Add(-10 * time.Minute))   // WAV written long ago: finished
	growing := mk(now.Add(-10 * time.Second)) // WAV still changing: left alone
	missing := mk(now.Add(-10 * time.Minute)) // no WAV: failed, naming the path
	young := mk(now.Add(-time.Second))        // no WAV yet, just started: left alone
	spool := filepath.Join(dir, "spool")
	must(t, os.MkdirAll(spool, 0o755))
	writeTestWAV(t, filepath.Join(spool, quiet.ID+".wav"), 3*time.Second)
	old := now.Add(-5 * time.Minute)
	must(t, os.Chtimes(filepath.Join(spool, quiet.ID+".wav"), old, old))
	writeTestWAV(t, filepath.Join(spool, growing.ID+".wav"), time.Second)

	var logs bytes.Buffer
	res, err := (&Reconciler{DB: db, SpoolDir: spool, Logger: zerolog.New(&logs), Quiet: 30 * time.Second}).Run(ctx)
	must(t, err)
	if res != (ReconcileResult{Finished: 1, Failed: 1, StillRecording: 2}) {
		t.Fatalf("result %+v", res)
	}
	want := map[string]string{quiet.ID: store.StateProcessing, growing.ID: store.StateRecording,
		missing.ID: store.StateFailed, young.ID: store.StateRecording}
	for id, state := range want {
		r, err := db.Recording(ctx, id)
		must(t, err)
		if r.State != state {
			t.Errorf("%s: state %s, want %s", id, r.State, state)
		}
	}
	// Tenants see a plain reason (issue 12 point 14); the log names the path callrec looked at.
	if r, _ := db.Recording(ctx, missing.ID); r.Error != "the recording file was not found after a restart (FreeSWITCH's RECORD_STOP was not seen)" {
		t.Errorf("no-WAV reason %q, want the plain reason without a path", r.Error)
	}
	if !strings.Contains(logs.String(), filepath.Join(spool, missing.ID+".wav")) {
		t.Errorf("the log does not name the path callrec looked at: %s", logs.String())
	}
	r, _ := db.Recording(ctx, quiet.ID)
	if r.DurationMS != 3000 {
		t.Errorf("duration from the WAV = %d, want 3000", r.DurationMS)
	}
	if d, _ := db.QueueDepth(ctx); d != 1 {
		t.Errorf("queue depth %d, want 1 (the finished recording)", d)
	}
}
