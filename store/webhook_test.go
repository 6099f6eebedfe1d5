package store

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"
)

// mustWebhook creates an active webhook of company for events (none: all).
func mustWebhook(tb testing.TB, db *DB, companyID string, events ...string) *Webhook {
	tb.Helper()
	w := &Webhook{CompanyID: companyID, URL: "https://hooks.example.com/callrec", Events: events, Active: true}
	secret, err := db.CreateWebhook(context.Background(), w)
	must(tb, err)
	if len(secret) < 40 || secret[:len(WebhookSecretPrefix)] != WebhookSecretPrefix || w.SecretHint != secret[len(secret)-4:] {
		tb.Fatalf("secret %q hint %q", secret, w.SecretHint)
	}
	return w
}

func deliveriesOf(tb testing.TB, db *DB, webhookID string) []*Delivery {
	tb.Helper()
	ds, _, err := db.WebhookDeliveries(context.Background(), webhookID, "", 100)
	must(tb, err)
	return ds
}

// finishedRecording stores a recording of company and moves it to processing, returning it and
// its job id.
func finishedRecording(tb testing.TB, db *DB, companyID, callID string) (*Recording, string) {
	tb.Helper()
	ctx := context.Background()
	r := newRecording(companyID, time.Time{})
	r.CallID = callID
	must(tb, db.CreateRecording(ctx, r))
	must(tb, db.FinishRecording(ctx, r.ID, time.Now(), 1000, "/spool/"+r.ID+".wav"))
	j, err := db.ClaimJob(ctx, time.Minute)
	must(tb, err)
	return r, j.ID
}

// Every way into ready, failed and discarded enqueues its event in the same transaction, for
// the webhooks that want it; a change that changes nothing enqueues nothing.
func TestWebhook_RecordingStateChangesEnqueueTheirEvents(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	tn := mustTenant(t, db, "1")
	other := mustTenant(t, db, "2")
	all := mustWebhook(t, db, tn.company.ID)
	onlyFailed := mustWebhook(t, db, tn.company.ID, EventRecordingFailed)
	inactive := mustWebhook(t, db, tn.company.ID)
	inactive.Active = false
	must(t, db.UpdateWebhook(ctx, inactive))
	foreign := mustWebhook(t, db, other.company.ID)

	steps := []struct {
		name  string
		do    func() string // returns the recording id
		event string
	}{
		{"complete", func() string {
			r, job := finishedRecording(t, db, tn.company.ID, "call-ready")
			must(t, db.CompleteRecording(ctx, job, RecordingResult{MP3Path: "/lib/x.mp3", DurationMS: 1000, FileSize: 10}))
			return r.ID
		}, EventRecordingReady},
		{"fail", func() string {
			r, _ := finishedRecording(t, db, tn.company.ID, "call-failed")
			must(t, db.FailRecording(ctx, r.ID, "encoder broke"))
			must(t, db.FailRecording(ctx, r.ID, "again")) // a no-op: no second event
			return r.ID
		}, EventRecordingFailed},
		{"discard", func() string {
			r, _ := finishedRecording(t, db, tn.company.ID, "call-discarded")
			must(t, db.DiscardRecording(ctx, r.ID, "too short"))
			must(t, db.DiscardRecording(ctx, r.ID, "again"))
			return r.ID
		}, EventRecordingDiscarded},
		{"retry then fail again", func() string {
			r, _ := finishedRecording(t, db, tn.company.ID, "call-retried")
			must(t, db.FailRecording(ctx, r.ID, "disk"))
			_, err := db.RetryRecording(ctx, r.ID)
			must(t, err)
			must(t, db.FailRecording(ctx, r.ID, "disk again"))
			return r.ID
		}, EventRecordingFailed},
	}
	for _, s := range steps {
		id := s.do()
		var got []*Delivery
		for _, d := range deliveriesOf(t, db, all.ID) {
			if d.RecordingID == id {
				got = append(got, d)
			}
		}
		want := 1
		if s.name == "retry then fail again" {
			want = 2 // each failure is an event
		}
		if len(got) != want {
			t.Fatalf("%s: %d deliveries of recording %s, want %d: %+v", s.name, len(got), id, want, got)
		}
		d := got[0]
		var body struct {
			ID, Type string
			Data     Recording
		}
		must(t, json.Unmarshal(d.Payload, &body))
		if d.Event != s.event || body.Type != s.event || body.ID != d.ID || body.Data.ID != id || d.State != DeliveryPending || d.CompanyID != tn.company.ID {
			t.Errorf("%s: delivery %+v body %s", s.name, d, d.Payload)
		}
		if json.Valid(d.Payload) && (contains(string(d.Payload), "/spool/") || contains(string(d.Payload), "/lib/")) {
			t.Errorf("%s: the payload shows internal paths: %s", s.name, d.Payload)
		}
	}
	if n := len(deliveriesOf(t, db, onlyFailed.ID)); n != 3 {
		t.Errorf("the failed-only webhook got %d deliveries, want 3", n)
	}
	if n := len(deliveriesOf(t, db, inactive.ID)) + len(deliveriesOf(t, db, foreign.ID)); n != 0 {
		t.Errorf("an inactive or other company's webhook got %d deliveries", n)
	}
}

func contains(s, sub string) bool { return len(sub) > 0 && len(s) >= len(sub) && indexOf(s, sub) >= 0 }

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestWebhook_ReportMissing(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	tn := mustTenant(t, db, "1")
	w := mustWebhook(t, db, tn.company.ID, EventRecordingMissing)
	since := time.Now().Add(-time.Second)
	missing := func(callID string) MissingCall {
		return MissingCall{CompanyID: tn.company.ID, CallID: callID, DDIID: tn.ddi.ID, Caller: "+34600111222",
			Callee: tn.ddi.Number, Direction: DirectionInbound, Reason: "no_recording", Since: since}
	}
	rowOf := func(callID, state string) {
		r := newRecording(tn.company.ID, time.Time{})
		r.CallID, r.DDIID = callID, tn.ddi.ID
		must(t, db.CreateRecording(ctx, r))
		if state == StateFailed {
			must(t, db.FailRecording(ctx, r.ID, "FreeSWITCH did not start the recording"))
		}
	}
	rowOf("call-recorded", StateRecording)
	rowOf("call-start-refused", StateFailed)
	rowOf("call-other", StateRecording)
	for _, c := range []struct {
		call string
		want bool
	}{
		{"call-none", true},          // no row at all
		{"call-start-refused", true}, // only a row that failed at start
		{"call-recorded", false},     // a row that records: not missing
		{"call-none", true},          // reported twice: still missing, enqueued once only
		{"call-other-missing", true}, // another call of the DDI: its own
		{"call-start-refused", true}, // once
	} {
		got, err := db.ReportMissing(ctx, missing(c.call))
		must(t, err)
		if got != c.want {
			t.Errorf("ReportMissing(%s) = %v, want %v", c.call, got, c.want)
		}
	}
	ds := deliveriesOf(t, db, w.ID)
	calls := map[string]int{}
	for _, d := range ds {
		calls[d.CallID]++
		if d.Event != EventRecordingMissing {
			t.Errorf("delivery %+v", d)
		}
	}
	want := map[string]int{"call-none": 1, "call-start-refused": 1, "call-other-missing": 1}
	if len(calls) != len(want) || calls["call-none"] != 1 || calls["call-start-refused"] != 1 || calls["call-other-missing"] != 1 {
		t.Errorf("missing deliveries by call %v, want %v", calls, want)
	}
	var body struct {
		Type string
		Data MissingCall
	}
	must(t, json.Unmarshal(ds[0].Payload, &body))
	if body.Type != EventRecordingMissing || body.Data.CompanyID != tn.company.ID || body.Data.Reason != "no_recording" {
		t.Errorf("payload %s", ds[0].Payload)
	}
}

// The queue: claim leases the due delivery, done records the outcome; a lease that ran out
// makes it claimable again; delivered and failed ones leave the due index.
func TestWebhook_DeliveryQueue(t *testing.T) {
	ctx := context.Background()
	db, clk := openWithClock(t)
	tn := mustTenant(t, db, "1")
	w := mustWebhook(t, db, tn.company.ID)
	d, err := db.EnqueuePing(ctx, w.ID)
	must(t, err)
	got, hook, err := db.ClaimDelivery(ctx, time.Minute)
	must(t, err)
	if got.ID != d.ID || got.Attempts != 1 || hook.Secret == "" || hook.ID != w.ID {
		t.Fatalf("claimed %+v of %+v", got, hook)
	}
	_, _, err = db.ClaimDelivery(ctx, time.Minute)
	wantCode(t, err, ENOTFOUND, "")
	clk.t = clk.t.Add(2 * time.Minute) // the holder died: the lease ran out
	got, _, err = db.ClaimDelivery(ctx, time.Minute)
	must(t, err)
	if got.Attempts != 2 {
		t.Fatalf("attempts %d", got.Attempts)
	}
	n, err := db.ReleaseDeliveryLeases(ctx) // a restart: the attempt under way is made again at once
	must(t, err)
	if n != 1 {
		t.Fatalf("released %d leases, want 1", n)
	}
	got, _, err = db.ClaimDelivery(ctx, time.Minute)
	must(t, err)
	if got.Attempts != 3 {
		t.Fatalf("attempts %d", got.Attempts)
	}
	must(t, db.DeliveryDone(ctx, got.ID, DeliveryOutcome{Status: 500, Error: "HTTP 500", RetryAt: clk.now().Add(time.Hour)}))
	if n, err := db.ReleaseDeliveryLeases(ctx); err != nil || n != 0 {
		t.Fatalf("released %d leases of a delivery waiting for its retry (%v)", n, err)
	}
	_, _, err = db.ClaimDelivery(ctx, time.Minute)
	wantCode(t, err, ENOTFOUND, "")
	clk.t = clk.t.Add(time.Hour)
	got, _, err = db.ClaimDelivery(ctx, time.Minute)
	must(t, err)
	must(t, db.DeliveryDone(ctx, got.ID, DeliveryOutcome{Status: 500, Error: "HTTP 500"}))
	final, err := db.Delivery(ctx, got.ID)
	must(t, err)
	if final.State != DeliveryFailed || final.Attempts != 4 || final.LastStatus != 500 || final.NextAttemptAt != nil {
		t.Errorf("final %+v", final)
	}
	clk.t = clk.t.Add(24 * time.Hour)
	_, _, err = db.ClaimDelivery(ctx, time.Minute)
	wantCode(t, err, ENOTFOUND, "")
}

func TestWebhook_PruneAndDeleteRemoveDeliveries(t *testing.T) {
	ctx := context.Background()
	db, clk := openWithClock(t)
	tn := mustTenant(t, db, "1")
	w := mustWebhook(t, db, tn.company.ID)
	old, err := db.EnqueuePing(ctx, w.ID)
	must(t, err)
	clk.t = clk.t.Add(31 * 24 * time.Hour)
	young, err := db.EnqueuePing(ctx, w.ID)
	must(t, err)
	n, err := db.PruneDeliveries(ctx, clk.now().Add(-DeliveryRetention), 100)
	must(t, err)
	ds := deliveriesOf(t, db, w.ID)
	if n != 1 || len(ds) != 1 || ds[0].ID != young.ID {
		t.Fatalf("pruned %d, left %v (old %s)", n, ds, old.ID)
	}
	wantCode(t, db.DeleteCompany(ctx, tn.company.ID), ECONFLICT, "")
	must(t, db.DeleteWebhook(ctx, w.ID))
	if _, err := db.Delivery(ctx, young.ID); ErrorCode(err) != ENOTFOUND {
		t.Errorf("a deleted webhook's delivery stays: %v", err)
	}
	_, _, err = db.ClaimDelivery(ctx, time.Minute)
	wantCode(t, err, ENOTFOUND, "")
}

func TestWebhook_Validate(t *testing.T) {
	for _, c := range []struct {
		url    string
		events []string
		field  string
	}{
		{"https://hooks.example.com/x", nil, ""},
		{"http://10.0.0.1:8080/x", []string{EventRecordingReady}, ""}, // scheme and address: web and the dispatcher decide
		{"", nil, "url"},
		{"ftp://example.com/", nil, "url"},
		{"https://user:pw@example.com/", nil, "url"},
		{"https:///nohost", nil, "url"},
		{"https://example.com/", []string{"recording.played"}, "events"},
	} {
		w := &Webhook{CompanyID: "c", URL: c.url, Events: c.events}
		if err := w.Validate(); ErrorField(err) != c.field {
			t.Errorf("%q %v: %v, want field %q", c.url, c.events, err, c.field)
		}
	}
}

// A store written before webhooks existed (schema v3) opens, gains the buckets, and its
// recordings' changes enqueue events.
func TestWebhook_MigratesAStoreOfSchemaV3(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "callrec.db")
	old, err := openWith(ctx, path, Options{NoSync: true}, migrations[:3])
	must(t, err)
	tn := mustTenant(t, old, "1")
	r, _ := finishedRecording(t, old, tn.company.ID, "call-1")
	must(t, old.Close())
	db, err := Open(ctx, path, Options{NoSync: true})
	must(t, err)
	defer db.Close()
	if db.SchemaVersion() != len(migrations) {
		t.Fatalf("schema %d", db.SchemaVersion())
	}
	w := mustWebhook(t, db, tn.company.ID)
	must(t, db.FailRecording(ctx, r.ID, "x"))
	if ds := deliveriesOf(t, db, w.ID); len(ds) != 1 || ds[0].Event != EventRecordingFailed {
		t.Errorf("deliveries %+v", ds)
	}
	checkDB(t, db)
}
