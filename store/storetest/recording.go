package storetest

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

func recordingCases() []suiteCase {
	return []suiteCase{
		{"Recordings/LifecycleToReady", testLifecycleToReady},
		{"Recordings/FailAndDiscard", testFailAndDiscard},
		{"Recordings/CompleteAfterDiscard", testCompleteAfterDiscard},
		{"Recordings/RetryRecording", testRetryRecording},
		{"Recordings/Masks", testMasks},
		{"Recordings/SHA256AndIntegrity", testSHA256AndIntegrity},
		{"Recordings/CompanyWalksAndUsage", testCompanyWalks},
		{"Recordings/LegsKeptNotPublished", testLegs},
	}
}

// CreateRecording → FinishRecording (job enqueued with it) → ClaimJob → CompleteRecording
// (ready, job acked) → DeleteRecording, with each step's errors.
func testLifecycleToReady(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	r := &store.Recording{CompanyID: tn.company.ID, CallID: "abc", Type: store.TypeOnDemand, Trigger: store.TriggerKey,
		Direction: store.DirectionInternal, UserID: tn.user.ID, Recorder: "101", Caller: "101", Callee: "102", State: store.StateReady}
	must(t, e.s.CreateRecording(e.ctx, r))
	if r.State != store.StateRecording || !r.StartedAt.Equal(e.clk.Now()) || r.FileName != "20260501100000_ondemand-101_101_102.mp3" || len(r.ID) != 26 {
		t.Fatalf("CreateRecording did not fill: %+v", r)
	}
	got, err := e.s.Recording(e.ctx, r.ID)
	must(t, err)
	if got.State != store.StateRecording || got.CallID != "abc" || got.UserID != tn.user.ID || !got.StartedAt.Equal(r.StartedAt) || got.FileName != r.FileName {
		t.Fatalf("Recording after create = %+v", got)
	}
	checkCode(t, "CreateRecording of a missing company", e.s.CreateRecording(e.ctx, newRecording("no-such-company", time.Time{})), store.EINVALID, "company_id")
	bad := newRecording(tn.company.ID, time.Time{})
	bad.Direction = "sideways"
	checkCode(t, "CreateRecording with a bad direction", e.s.CreateRecording(e.ctx, bad), store.EINVALID, "direction")
	checkCode(t, "FinishRecording without WAV", e.s.FinishRecording(e.ctx, r.ID, e.clk.Now(), 1, ""), store.EINVALID, "wav_path")
	checkCode(t, "FinishRecording of a missing recording", e.s.FinishRecording(e.ctx, "no-such-recording", e.clk.Now(), 1, "/x.wav"), store.ENOTFOUND, "")

	end := e.clk.Now().Add(90 * time.Second)
	must(t, e.s.FinishRecording(e.ctx, r.ID, end, 90000, "/spool/a.wav"))
	got, err = e.s.Recording(e.ctx, r.ID)
	must(t, err)
	if got.State != store.StateProcessing || got.EndedAt == nil || !got.EndedAt.Equal(end) || got.DurationMS != 90000 || got.WAVPath != "/spool/a.wav" {
		t.Fatalf("after FinishRecording: %+v", got)
	}
	if n, err := e.s.QueueDepth(e.ctx); err != nil || n != 1 {
		t.Fatalf("QueueDepth after FinishRecording = %d, %v; want 1", n, err)
	}
	// A second finish (a duplicated RECORD_STOP) changes nothing.
	must(t, e.s.FinishRecording(e.ctx, r.ID, end.Add(time.Minute), 1, "/other.wav"))
	if n, _ := e.s.QueueDepth(e.ctx); n != 1 {
		t.Fatalf("a second FinishRecording enqueued again: depth %d", n)
	}
	if got, _ := e.s.Recording(e.ctx, r.ID); got == nil || got.WAVPath != "/spool/a.wav" || got.DurationMS != 90000 {
		t.Fatalf("a second FinishRecording changed the row: %+v", got)
	}
	if in, err := e.s.RecordingsInState(e.ctx, store.StateProcessing, 0); err != nil || len(in) != 1 || in[0].ID != r.ID {
		t.Fatalf("RecordingsInState(processing) = %v, %v", in, err)
	}
	if in, err := e.s.RecordingsInState(e.ctx, store.StateRecording, 0); err != nil || len(in) != 0 {
		t.Fatalf("RecordingsInState(recording) = %v, %v; want none", in, err)
	}
	_, err = e.s.RecordingsInState(e.ctx, "bogus", 0)
	checkCode(t, "RecordingsInState of a bad state", err, store.EINVALID, "state")

	job := e.claim(t, time.Minute, r.ID)
	if job.WAVPath != "/spool/a.wav" || job.Attempts != 1 {
		t.Fatalf("claimed job %+v", job)
	}
	sum := strings.Repeat("ab", 32)
	must(t, e.s.CompleteRecording(e.ctx, job.ID, store.RecordingResult{MP3Path: "/lib/a.mp3", DurationMS: 89950, FileSize: 720000, SHA256: sum}))
	got, err = e.s.Recording(e.ctx, r.ID)
	must(t, err)
	if got.State != store.StateReady || got.MP3Path != "/lib/a.mp3" || got.DurationMS != 89950 || got.FileSize != 720000 || got.MIME != "audio/mpeg" || got.SHA256 != sum || got.Error != "" {
		t.Fatalf("after CompleteRecording: %+v", got)
	}
	if n, _ := e.s.QueueDepth(e.ctx); n != 0 {
		t.Fatalf("CompleteRecording did not ack the job: depth %d", n)
	}
	_, err = e.s.Job(e.ctx, job.ID)
	checkCode(t, "Job after CompleteRecording", err, store.ENOTFOUND, "")
	checkCode(t, "CompleteRecording twice", e.s.CompleteRecording(e.ctx, job.ID, store.RecordingResult{}), store.ENOTFOUND, "")
	checkCode(t, "FailRecording of a ready recording", e.s.FailRecording(e.ctx, r.ID, "late"), store.ECONFLICT, "state")
	if js, _ := json.Marshal(got); strings.Contains(string(js), "/lib/") || strings.Contains(string(js), "/spool/") {
		t.Errorf("internal paths in the JSON of a recording: %s", js)
	}
	if u, err := e.s.CompanyUsage(e.ctx, tn.company.ID); err != nil || u.Recordings != 1 || u.Ready != 1 || u.Bytes != 720000 {
		t.Errorf("CompanyUsage with one ready recording = %+v, %v", u, err)
	}

	del, err := e.s.DeleteRecording(e.ctx, r.ID)
	must(t, err)
	if del.ID != r.ID || del.MP3Path != "/lib/a.mp3" || del.WAVPath != "/spool/a.wav" {
		t.Fatalf("DeleteRecording returned %+v, want the row with its paths", del)
	}
	_, err = e.s.Recording(e.ctx, r.ID)
	checkCode(t, "Recording after DeleteRecording", err, store.ENOTFOUND, "")
	_, err = e.s.DeleteRecording(e.ctx, r.ID)
	checkCode(t, "DeleteRecording twice", err, store.ENOTFOUND, "")
	if u, err := e.s.CompanyUsage(e.ctx, tn.company.ID); err != nil || u != (store.LibraryUsage{}) {
		t.Errorf("CompanyUsage after the delete = %+v, %v; want zero", u, err)
	}
}

// FailRecording and DiscardRecording from each state: the state they leave, the job acked,
// the no-ops and the conflicts.
func testFailAndDiscard(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	type op struct {
		discard bool
		reason  string
	}
	tests := []struct {
		name      string
		from      string // recording, processing, ready
		ops       []op
		wantState string
		wantErr   string // the reason kept
		conflict  bool   // the last op is ECONFLICT "state"
	}{
		{"fail while recording", store.StateRecording, []op{{false, "no media"}}, store.StateFailed, "no media", false},
		{"fail while processing", store.StateProcessing, []op{{false, "encoder exploded"}}, store.StateFailed, "encoder exploded", false},
		{"fail twice is a no-op", store.StateProcessing, []op{{false, "first"}, {false, "second"}}, store.StateFailed, "first", false},
		{"discard while recording", store.StateRecording, []op{{true, "too short"}}, store.StateDiscarded, "too short", false},
		{"discard while processing", store.StateProcessing, []op{{true, "too short"}}, store.StateDiscarded, "too short", false},
		{"discard twice is a no-op", store.StateProcessing, []op{{true, "first"}, {true, "second"}}, store.StateDiscarded, "first", false},
		{"discard a ready one", store.StateReady, []op{{true, "unwanted"}}, store.StateDiscarded, "unwanted", false},
		{"discard a failed one", store.StateProcessing, []op{{false, "broke"}, {true, "tidy"}}, store.StateDiscarded, "tidy", false},
		{"fail a discarded one", store.StateProcessing, []op{{true, "gone"}, {false, "late"}}, store.StateDiscarded, "gone", true},
		{"fail a ready one", store.StateReady, []op{{false, "late"}}, store.StateReady, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r *store.Recording
			switch tt.from {
			case store.StateRecording:
				r = e.recording(t, newRecording(tn.company.ID, time.Time{}))
			case store.StateProcessing:
				r = e.processing(t, tn.company.ID)
			case store.StateReady:
				r = e.ready(t, tn.company.ID, store.RecordingResult{MP3Path: "/lib/x.mp3", FileSize: 10})
			}
			var err error
			for _, o := range tt.ops {
				if o.discard {
					err = e.s.DiscardRecording(e.ctx, r.ID, o.reason)
				} else {
					err = e.s.FailRecording(e.ctx, r.ID, o.reason)
				}
			}
			if tt.conflict {
				checkCode(t, "the last op", err, store.ECONFLICT, "state")
			} else {
				must(t, err)
			}
			got, err := e.s.Recording(e.ctx, r.ID)
			must(t, err)
			if got.State != tt.wantState || got.Error != tt.wantErr {
				t.Errorf("state %q error %q, want %q %q", got.State, got.Error, tt.wantState, tt.wantErr)
			}
			if n, _ := e.s.QueueDepth(e.ctx); n != 0 {
				t.Errorf("%d jobs left: a failed or discarded recording's job must be acked", n)
			}
		})
	}
	checkCode(t, "FailRecording of a missing recording", e.s.FailRecording(e.ctx, "no-such-recording", "x"), store.ENOTFOUND, "")
	checkCode(t, "DiscardRecording of a missing recording", e.s.DiscardRecording(e.ctx, "no-such-recording", "x"), store.ENOTFOUND, "")
	// Discarded recordings are hidden from listings unless asked for.
	page, _, err := e.s.ListRecordings(e.ctx, store.RecordingFilter{CompanyID: tn.company.ID})
	must(t, err)
	for _, r := range page {
		if r.State == store.StateDiscarded {
			t.Errorf("ListRecordings shows discarded recording %s without IncludeDiscarded", r.ID)
		}
	}
	all, _, err := e.s.ListRecordings(e.ctx, store.RecordingFilter{CompanyID: tn.company.ID, IncludeDiscarded: true})
	must(t, err)
	only, _, err := e.s.ListRecordings(e.ctx, store.RecordingFilter{CompanyID: tn.company.ID, State: store.StateDiscarded})
	must(t, err)
	discarded := 0
	for _, tt := range tests {
		if tt.wantState == store.StateDiscarded {
			discarded++
		}
	}
	if len(all) != len(tests) || len(only) != discarded || len(page) != len(tests)-discarded {
		t.Errorf("listing %d (IncludeDiscarded %d, state discarded %d), want %d, %d, %d", len(page), len(all), len(only), len(tests)-discarded, len(tests), discarded)
	}
}

// A recording discarded while the worker encodes it: the worker's completion finds its job
// gone (ENOTFOUND: remove the MP3) and the recording stays discarded.
func testCompleteAfterDiscard(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	r := e.processing(t, tn.company.ID)
	j := e.claim(t, time.Minute, r.ID)
	must(t, e.s.DiscardRecording(e.ctx, r.ID, "caller asked"))
	err := e.s.CompleteRecording(e.ctx, j.ID, store.RecordingResult{MP3Path: "/lib/x.mp3"})
	if c := store.ErrorCode(err); c != store.ENOTFOUND && !(c == store.ECONFLICT && store.ErrorField(err) == "state") {
		t.Fatalf("CompleteRecording after a discard: %v, want ENOTFOUND or ECONFLICT \"state\"", err)
	}
	got, err := e.s.Recording(e.ctx, r.ID)
	must(t, err)
	if got.State != store.StateDiscarded || got.MP3Path != "" {
		t.Fatalf("the late completion changed the discarded row: %+v", got)
	}
	if n, _ := e.s.QueueDepth(e.ctx); n != 0 {
		t.Fatalf("depth %d after the discard", n)
	}
}

// RetryRecording requeues a failed recording with its WAV, and refuses anything else.
func testRetryRecording(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	r := e.processing(t, tn.company.ID)
	j := e.claim(t, time.Minute, r.ID)
	must(t, e.s.FailRecording(e.ctx, r.ID, "library unusable"))
	got, err := e.s.RetryRecording(e.ctx, r.ID)
	must(t, err)
	if got.State != store.StateProcessing || got.Error != "" || got.WAVPath != "/spool/"+r.ID+".wav" {
		t.Fatalf("RetryRecording returned %+v", got)
	}
	if n, _ := e.s.QueueDepth(e.ctx); n != 1 {
		t.Fatalf("depth %d after RetryRecording, want 1", n)
	}
	j2 := e.claim(t, time.Minute, r.ID)
	if j2.ID == j.ID || j2.Attempts != 1 || j2.WAVPath != "/spool/"+r.ID+".wav" {
		t.Fatalf("the retried job %+v: want a new job, fresh attempts, the same WAV", j2)
	}
	_, err = e.s.RetryRecording(e.ctx, r.ID)
	checkCode(t, "RetryRecording of a processing recording", err, store.ECONFLICT, "state")
	noWAV := e.recording(t, newRecording(tn.company.ID, time.Time{}))
	must(t, e.s.FailRecording(e.ctx, noWAV.ID, "never started"))
	_, err = e.s.RetryRecording(e.ctx, noWAV.ID)
	checkCode(t, "RetryRecording without a WAV", err, store.EINVALID, "wav_path")
	_, err = e.s.RetryRecording(e.ctx, "no-such-recording")
	checkCode(t, "RetryRecording of a missing recording", err, store.ENOTFOUND, "")
}

// SetRecordingMasks stores spans while recording, refuses them after.
func testMasks(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	r := e.recording(t, newRecording(tn.company.ID, time.Time{}))
	masks := []store.MaskSpan{{OffsetMS: 1000, LengthMS: 2000, By: tn.user.ID}, {OffsetMS: 5000, Open: true, By: tn.user.ID}}
	must(t, e.s.SetRecordingMasks(e.ctx, r.ID, masks))
	masks[0].OffsetMS = 99 // the store keeps its own copy
	got, err := e.s.Recording(e.ctx, r.ID)
	must(t, err)
	if len(got.Masks) != 2 || got.Masks[0] != (store.MaskSpan{OffsetMS: 1000, LengthMS: 2000, By: tn.user.ID}) || got.Masks[1] != (store.MaskSpan{OffsetMS: 5000, Open: true, By: tn.user.ID}) {
		t.Fatalf("Masks = %+v", got.Masks)
	}
	checkCode(t, "a negative span", e.s.SetRecordingMasks(e.ctx, r.ID, []store.MaskSpan{{OffsetMS: -1}}), store.EINVALID, "masks")
	checkCode(t, "a missing recording", e.s.SetRecordingMasks(e.ctx, "no-such-recording", nil), store.ENOTFOUND, "")
	must(t, e.s.FinishRecording(e.ctx, r.ID, e.clk.Now(), 10, "/s.wav"))
	checkCode(t, "masks after the recording stopped", e.s.SetRecordingMasks(e.ctx, r.ID, nil), store.ECONFLICT, "state")
}

// SetRecordingSHA256 fills a missing hash of a ready row; SetRecordingIntegrity marks it.
func testSHA256AndIntegrity(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	r := e.ready(t, tn.company.ID, store.RecordingResult{MP3Path: "/lib/a.mp3", FileSize: 5})
	if r.SHA256 != "" {
		t.Fatalf("a completion without hash stored %q", r.SHA256)
	}
	sum, other := strings.Repeat("0f", 32), strings.Repeat("f0", 32)
	pending := e.processing(t, tn.company.ID)
	tests := []struct {
		name        string
		id, mp3, in string
		code, field string
	}{
		{"a bad hash", r.ID, "/lib/a.mp3", "ABC", store.EINVALID, "sha256"},
		{"another file", r.ID, "/lib/b.mp3", sum, store.ECONFLICT, "state"},
		{"a recording not ready", pending.ID, "", sum, store.ECONFLICT, "state"},
		{"a missing recording", "no-such-recording", "/lib/a.mp3", sum, store.ENOTFOUND, ""},
		{"the hash", r.ID, "/lib/a.mp3", sum, "", ""},
		{"the same hash again", r.ID, "/lib/a.mp3", sum, "", ""},
		{"another hash", r.ID, "/lib/a.mp3", other, store.ECONFLICT, "sha256"},
	}
	for _, tt := range tests {
		checkCode(t, "SetRecordingSHA256 of "+tt.name, e.s.SetRecordingSHA256(e.ctx, tt.id, tt.mp3, tt.in), tt.code, tt.field)
	}
	if got, _ := e.s.Recording(e.ctx, r.ID); got == nil || got.SHA256 != sum {
		t.Fatalf("SHA256 = %+v, want %s", got, sum)
	}
	checkCode(t, "SetRecordingIntegrity of a bad value", e.s.SetRecordingIntegrity(e.ctx, r.ID, "/lib/a.mp3", "bad"), store.EINVALID, "integrity")
	checkCode(t, "SetRecordingIntegrity of another file", e.s.SetRecordingIntegrity(e.ctx, r.ID, "/lib/b.mp3", store.IntegrityMismatch), store.ECONFLICT, "state")
	must(t, e.s.SetRecordingIntegrity(e.ctx, r.ID, "/lib/a.mp3", store.IntegrityMismatch))
	if got, _ := e.s.Recording(e.ctx, r.ID); got == nil || got.Integrity != store.IntegrityMismatch {
		t.Fatalf("Integrity = %+v", got)
	}
	must(t, e.s.SetRecordingIntegrity(e.ctx, r.ID, "/lib/a.mp3", ""))
	if got, _ := e.s.Recording(e.ctx, r.ID); got == nil || got.Integrity != "" {
		t.Fatalf("Integrity not cleared: %+v", got)
	}
}

// The sweeper's walks: a company's recordings oldest first in pages, bounded by age, and the
// usage totals.
func testCompanyWalks(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	tn2 := e.tenant(t, 2)
	var want []string
	for i := range 7 {
		r := e.recording(t, newRecording(tn.company.ID, epoch().Add(time.Duration(i)*time.Hour)))
		want = append(want, r.ID)
		e.recording(t, newRecording(tn2.company.ID, epoch().Add(time.Duration(i)*time.Hour+time.Minute)))
	}
	var got []string
	after := ""
	for range 10 {
		page, err := e.s.CompanyRecordingsOldestFirst(e.ctx, tn.company.ID, after, 3)
		must(t, err)
		if len(page) > 3 {
			t.Fatalf("a page of %d rows, limit 3", len(page))
		}
		if len(page) == 0 {
			break
		}
		got = append(got, ids(page)...)
		after = page[len(page)-1].ID
	}
	if !slices.Equal(got, want) {
		t.Fatalf("CompanyRecordingsOldestFirst pages = %v, want %v", got, want)
	}
	if all, err := e.s.CompanyRecordingsOldestFirst(e.ctx, tn.company.ID, "", 0); err != nil || !slices.Equal(ids(all), want) {
		t.Fatalf("CompanyRecordingsOldestFirst with no limit = %v, %v", ids(all), err)
	}
	before, err := e.s.CompanyRecordingsStartedBefore(e.ctx, tn.company.ID, "", epoch().Add(3*time.Hour), 0)
	must(t, err)
	if !slices.Equal(ids(before), want[:3]) {
		t.Fatalf("CompanyRecordingsStartedBefore(+3h) = %v, want %v", ids(before), want[:3])
	}
	before, err = e.s.CompanyRecordingsStartedBefore(e.ctx, tn.company.ID, want[0], epoch().Add(3*time.Hour), 1)
	must(t, err)
	if !slices.Equal(ids(before), want[1:2]) {
		t.Fatalf("CompanyRecordingsStartedBefore(after the first, limit 1) = %v, want %v", ids(before), want[1:2])
	}
	if u, err := e.s.CompanyUsage(e.ctx, tn.company.ID); err != nil || u.Recordings != 7 || u.Ready != 0 || u.Bytes != 0 {
		t.Fatalf("CompanyUsage = %+v, %v; want 7 recordings, none ready", u, err)
	}
	if u, err := e.s.CompanyUsage(e.ctx, "no-such-company"); err != nil || u != (store.LibraryUsage{}) {
		t.Fatalf("CompanyUsage of an unknown company = %+v, %v; want zero", u, err)
	}
}

// RecordedLeg and RequesterLeg are stored but never in a recording's JSON.
func testLegs(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	r := newRecording(tn.company.ID, time.Time{})
	r.RecordedLeg, r.RequesterLeg = "leg-a-uuid", "leg-b-uuid"
	e.recording(t, r)
	got, err := e.s.Recording(e.ctx, r.ID)
	must(t, err)
	if got.RecordedLeg != "leg-a-uuid" || got.RequesterLeg != "leg-b-uuid" {
		t.Fatalf("legs %q %q not stored", got.RecordedLeg, got.RequesterLeg)
	}
	if js, _ := json.Marshal(got); strings.Contains(string(js), "leg-a-uuid") || strings.Contains(string(js), "leg-b-uuid") {
		t.Fatalf("legs in the JSON: %s", js)
	}
}
