package web

import (
	"archive/zip"
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/callrec/callrec/store"
)

// SPEC §1: crossing a tenant boundary answers 404 and never reveals that the object exists.
// The whole reply (not only the status) must be the same for another tenant's object and for
// an id that does not exist.
func TestCrossTenant404BodyEqualsNonexistent404Body(t *testing.T) {
	w := newWorld(t)
	a1, b1 := w.co("A1"), w.co("B1")
	ghost := ulid.Make().String()
	admin := newClient(t, w.srv, a1.adminTok)
	brandA := newClient(t, w.srv, w.brandTok["A"])
	toks, err := w.db.Tokens(context.Background(), store.TokenFilter{CompanyID: b1.co.ID})
	must(t, err)
	for _, tc := range []struct {
		name           string
		c              *client
		other, missing string
	}{
		{"recording", admin, "/api/v1/recordings/" + b1.recDDI.ID, "/api/v1/recordings/" + ghost},
		{"recording audio", admin, "/api/v1/recordings/" + b1.recDDI.ID + "/audio", "/api/v1/recordings/" + ghost + "/audio"},
		{"company", admin, "/api/v1/companies/" + b1.co.ID, "/api/v1/companies/" + ghost},
		{"company (brand admin)", brandA, "/api/v1/companies/" + b1.co.ID, "/api/v1/companies/" + ghost},
		{"ddi", admin, "/api/v1/ddis/" + b1.ddi.ID, "/api/v1/ddis/" + ghost},
		{"user", admin, "/api/v1/users/" + b1.user.ID, "/api/v1/users/" + ghost},
		{"token", admin, "/api/v1/tokens/" + toks[0].ID, "/api/v1/tokens/" + ghost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r1, b1 := tc.c.do("GET", tc.other, nil)
			r2, b2 := tc.c.do("GET", tc.missing, nil)
			if r1.StatusCode != 404 || r2.StatusCode != 404 {
				t.Fatalf("statuses %d / %d, want 404 / 404", r1.StatusCode, r2.StatusCode)
			}
			m1, m2 := apiErr(t, b1).Message, apiErr(t, b2).Message
			if m1 != m2 {
				t.Errorf("other tenant's object answers %q, a missing one %q: the difference reveals existence", m1, m2)
			}
		})
	}
}

// A company admin may delete a recording that is still being recorded. The row goes, but the
// WAV FreeSWITCH keeps writing is never removed (the row had no wav_path yet) and the call
// path's FinishRecording then fails: the audio stays on disk for ever, unlisted, unswept.
func TestDeleteWhileRecordingRefusedOrCleansUp(t *testing.T) {
	w := newWorld(t)
	a1 := w.co("A1")
	ctx := context.Background()
	r := &store.Recording{CompanyID: a1.co.ID, CallID: "live", Type: store.TypeDDI, Trigger: store.TriggerDDI,
		Direction: store.DirectionInbound, DDIID: a1.ddi.ID, Recorder: a1.ddi.Number, Caller: "+34600111222", Callee: a1.ddi.Number}
	must(t, w.db.CreateRecording(ctx, r))
	spool := t.TempDir()
	wav := filepath.Join(spool, r.ID+".wav")
	must(t, os.WriteFile(wav, []byte("RIFF....WAVE"), 0o644)) // FreeSWITCH is writing it

	resp, body := newClient(t, w.srv, a1.adminTok).do("DELETE", "/api/v1/recordings/"+r.ID, nil)
	if resp.StatusCode == http.StatusConflict {
		return // refused while recording: fine
	}
	// Accepted: the call then stops the recording as usual.
	err := w.db.FinishRecording(ctx, r.ID, time.Now(), 5000, wav)
	if _, statErr := os.Stat(wav); statErr == nil {
		t.Fatalf("DELETE of a recording in state recording answered %d %s; FinishRecording then says %v and the WAV %s stays in the spool with no row pointing at it",
			resp.StatusCode, body, err, wav)
	}
}

// GET /recordings/archive promises every id is checked before the first byte, but a ready row
// whose MP3 is gone gives 200 and a truncated, unreadable ZIP instead of an error.
func TestArchiveWithMissingMP3IsAnErrorNotABrokenZip(t *testing.T) {
	w := newWorld(t)
	a1 := w.co("A1")
	must(t, os.Remove(a1.recOther.MP3Path))
	resp, body := newClient(t, w.srv, a1.adminTok).do("GET", "/api/v1/recordings/archive?ids="+a1.recDDI.ID+","+a1.recOther.ID, nil)
	if resp.StatusCode == 200 {
		if _, err := zip.NewReader(bytes.NewReader(body), int64(len(body))); err != nil {
			t.Fatalf("archive answered 200 with a broken ZIP (%d bytes): %v", len(body), err)
		}
	}
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	must(t, err)
	return len(ents)
}

// Every audio reply must close the MP3 it opened, whatever the method or outcome.
func TestAudioClosesItsFile(t *testing.T) {
	w := newWorld(t)
	a1 := w.co("A1")
	c := newClient(t, w.srv, a1.adminTok)
	path := "/api/v1/recordings/" + a1.recDDI.ID + "/audio"
	for _, m := range []struct{ method, rng string }{{"HEAD", ""}, {"HEAD", "bytes=0-9"}, {"GET", "bytes=0-9"}, {"GET", ""}} {
		c.do(m.method, path, nil, "Range", m.rng) // warm up
		before := openFDs(t)
		for range 50 {
			c.do(m.method, path, nil, "Range", m.rng)
		}
		time.Sleep(100 * time.Millisecond)
		if after := openFDs(t); after > before+10 {
			t.Errorf("%s Range=%q: %d open files before 50 requests, %d after", m.method, m.rng, before, after)
		}
	}
}

// SPEC §4.1: never a 500 for bad input.
func TestBadInputNever500(t *testing.T) {
	w := newWorld(t)
	a1 := w.co("A1")
	p := newClient(t, w.srv, w.platform)
	for _, tc := range []struct {
		method, path string
		body         any
		hdr          []string
	}{
		{"PATCH", "/api/v1/companies/" + a1.co.ID, "null", nil},
		{"PATCH", "/api/v1/companies/" + a1.co.ID, `"x"`, nil},
		{"PATCH", "/api/v1/companies/" + a1.co.ID, `{"retention_days": 1e30}`, nil},
		{"PATCH", "/api/v1/companies/" + a1.co.ID, `{"allow_recording_removal": "yes"}`, nil},
		{"PATCH", "/api/v1/ddis/" + a1.ddi.ID, `{"number": "\u0000"}`, nil},
		{"POST", "/api/v1/tokens", `{"role":"user","user_id":"../x"}`, nil},
		{"POST", "/api/v1/tokens", `{"role":"company_admin","company_id":"` + a1.co.ID + `","name":"` + string(bytes.Repeat([]byte("n"), 5000)) + `"}`, nil},
		{"GET", "/api/v1/recordings?cursor=" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE", nil, nil},
		{"GET", "/api/v1/recordings?from=1900-01-01T00:00:00Z&to=1950-01-01T00:00:00Z", nil, nil},
		{"GET", "/api/v1/recordings?to=9999-12-31T23:59:59Z&company_id=" + a1.co.ID, nil, nil},
		{"GET", "/api/v1/recordings?limit=200&min_duration_ms=9223372036854775807", nil, nil},
		{"GET", "/api/v1/recordings/" + a1.recDDI.ID + "/audio", nil, []string{"Range", "bytes=99999999999999999999-"}},
		{"GET", "/api/v1/recordings/" + a1.recDDI.ID + "/audio", nil, []string{"Range", "bytes=-99999999999999999999"}},
		{"GET", "/api/v1/recordings/" + a1.recDDI.ID + "/audio?sig=x&tid=y&exp=z", nil, []string{"Authorization", ""}},
		{"GET", "/api/v1/companies?limit=1&cursor=%FF", nil, nil},
		{"GET", "/api/v1/recordings/archive?ids=" + string(bytes.Repeat([]byte(","), 10000)), nil, nil},
	} {
		resp, body := p.do(tc.method, tc.path, tc.body, tc.hdr...)
		if resp.StatusCode >= 500 {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, resp.StatusCode, body)
		}
	}
}
