package storetest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

func webhookCases() []suiteCase {
	return []suiteCase{
		{"Webhooks/CreateUpdateDelete", testWebhookCRUD},
		{"Webhooks/RecordingChangesEnqueueDeliveries", testWebhookEvents},
		{"Webhooks/ClaimAndDeliveryDone", testDeliveryQueue},
		{"Webhooks/ReportMissing", testReportMissing},
		{"Webhooks/PruneDeliveries", testPruneDeliveries},
	}
}

// webhook creates an active webhook of companyID for events (none: every event).
func (e *env) webhook(t *testing.T, companyID string, events ...string) *store.Webhook {
	t.Helper()
	w := &store.Webhook{CompanyID: companyID, URL: "https://hooks.example.com/callrec", Events: events, Active: true}
	secret, err := e.s.CreateWebhook(e.ctx, w)
	must(t, err)
	if !strings.HasPrefix(secret, store.WebhookSecretPrefix) || len(secret) < 40 || w.SecretHint != secret[len(secret)-store.WebhookSecretHint:] || w.Secret != secret {
		t.Fatalf("CreateWebhook: secret %q, hint %q", secret, w.SecretHint)
	}
	return w
}

func (e *env) deliveries(t *testing.T, webhookID string) []*store.Delivery {
	t.Helper()
	ds, _, err := e.s.WebhookDeliveries(e.ctx, webhookID, "", 100)
	must(t, err)
	return ds
}

// CreateWebhook fills ID, CreatedAt and a secret (returned once); UpdateWebhook changes URL,
// events and active only; DeleteWebhook removes it with its deliveries.
func testWebhookCRUD(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	tn2 := e.tenant(t, 2)
	w := e.webhook(t, tn.company.ID, store.EventRecordingReady, store.EventRecordingFailed, store.EventRecordingReady)
	if w.ID == "" || !w.CreatedAt.Equal(e.clk.Now()) || len(w.Events) != 2 || w.Events[0] != store.EventRecordingFailed {
		t.Fatalf("CreateWebhook did not fill and normalise: %+v", w)
	}
	got, err := e.s.Webhook(e.ctx, w.ID)
	must(t, err)
	if got.Secret != w.Secret || got.URL != w.URL || !got.Active || got.CompanyID != tn.company.ID || got.SecretHint != w.SecretHint {
		t.Fatalf("Webhook = %+v, want %+v (Secret included)", got, w)
	}
	if js, _ := json.Marshal(got); strings.Contains(string(js), w.Secret) {
		t.Fatalf("the secret is in the webhook's JSON: %s", js)
	}
	w2 := e.webhook(t, tn2.company.ID)
	tests := []struct {
		name  string
		w     store.Webhook
		field string
	}{
		{"a missing company", store.Webhook{CompanyID: "no-such-company", URL: "https://x.example.com/"}, "company_id"},
		{"a relative URL", store.Webhook{CompanyID: tn.company.ID, URL: "/hook"}, "url"},
		{"user info in the URL", store.Webhook{CompanyID: tn.company.ID, URL: "https://u:p@x.example.com/"}, "url"},
		{"an unknown event", store.Webhook{CompanyID: tn.company.ID, URL: "https://x.example.com/", Events: []string{"call.started"}}, "events"},
	}
	for _, tt := range tests {
		wh := tt.w
		_, err := e.s.CreateWebhook(e.ctx, &wh)
		checkCode(t, "CreateWebhook with "+tt.name, err, store.EINVALID, tt.field)
	}
	for _, c := range []struct {
		company string
		want    []string
	}{{tn.company.ID, []string{w.ID}}, {tn2.company.ID, []string{w2.ID}}, {"", []string{w.ID, w2.ID}}} {
		ws, err := e.s.Webhooks(e.ctx, c.company)
		must(t, err)
		var got []string
		for _, x := range ws {
			got = append(got, x.ID)
		}
		if !equalIDSet(got, c.want, true) {
			t.Errorf("Webhooks(%q) = %v, want %v", c.company, got, c.want)
		}
	}

	upd := &store.Webhook{ID: w.ID, CompanyID: tn2.company.ID, URL: " https://new.example.com/h ", Events: nil, Active: false, Secret: "stolen"}
	must(t, e.s.UpdateWebhook(e.ctx, upd))
	got, err = e.s.Webhook(e.ctx, w.ID)
	must(t, err)
	if got.URL != "https://new.example.com/h" || got.Active || len(got.Events) != 0 || got.CompanyID != tn.company.ID || got.Secret != w.Secret || !got.CreatedAt.Equal(w.CreatedAt) {
		t.Fatalf("after UpdateWebhook: %+v (company, secret and created_at must be kept)", got)
	}
	checkCode(t, "UpdateWebhook with a bad URL", e.s.UpdateWebhook(e.ctx, &store.Webhook{ID: w.ID, URL: "ftp://x"}), store.EINVALID, "url")
	checkCode(t, "UpdateWebhook of a missing webhook", e.s.UpdateWebhook(e.ctx, &store.Webhook{ID: "no-such-webhook", URL: "https://x.example.com/"}), store.ENOTFOUND, "")

	d, err := e.s.EnqueuePing(e.ctx, w.ID) // an inactive webhook can be tested
	must(t, err)
	if d.Event != store.EventPing || d.WebhookID != w.ID || d.State != store.DeliveryPending {
		t.Fatalf("EnqueuePing = %+v", d)
	}
	_, err = e.s.EnqueuePing(e.ctx, "no-such-webhook")
	checkCode(t, "EnqueuePing of a missing webhook", err, store.ENOTFOUND, "")
	must(t, e.s.DeleteWebhook(e.ctx, w.ID))
	_, err = e.s.Webhook(e.ctx, w.ID)
	checkCode(t, "Webhook after DeleteWebhook", err, store.ENOTFOUND, "")
	_, err = e.s.Delivery(e.ctx, d.ID)
	checkCode(t, "a delivery of a deleted webhook", err, store.ENOTFOUND, "")
	checkCode(t, "DeleteWebhook twice", e.s.DeleteWebhook(e.ctx, w.ID), store.ENOTFOUND, "")
}

// Completing, failing and discarding a recording each enqueue their event, in the same
// write, for the company's active webhooks that want it; a no-op change enqueues nothing.
func testWebhookEvents(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	tn2 := e.tenant(t, 2)
	all := e.webhook(t, tn.company.ID)
	onlyFailed := e.webhook(t, tn.company.ID, store.EventRecordingFailed)
	inactive := e.webhook(t, tn.company.ID)
	inactive.Active = false
	must(t, e.s.UpdateWebhook(e.ctx, inactive))
	foreign := e.webhook(t, tn2.company.ID)

	tests := []struct {
		name  string
		do    func(t *testing.T) *store.Recording
		event string
	}{
		{"complete", func(t *testing.T) *store.Recording {
			return e.ready(t, tn.company.ID, store.RecordingResult{MP3Path: "/lib/x.mp3", DurationMS: 1000, FileSize: 10})
		}, store.EventRecordingReady},
		{"fail", func(t *testing.T) *store.Recording {
			r := e.processing(t, tn.company.ID)
			must(t, e.s.FailRecording(e.ctx, r.ID, "encoder broke"))
			must(t, e.s.FailRecording(e.ctx, r.ID, "again")) // a no-op: no second event
			return r
		}, store.EventRecordingFailed},
		{"discard", func(t *testing.T) *store.Recording {
			r := e.processing(t, tn.company.ID)
			must(t, e.s.DiscardRecording(e.ctx, r.ID, "too short"))
			must(t, e.s.DiscardRecording(e.ctx, r.ID, "again"))
			return r
		}, store.EventRecordingDiscarded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.do(t)
			var got []*store.Delivery
			for _, d := range e.deliveries(t, all.ID) {
				if d.RecordingID == r.ID {
					got = append(got, d)
				}
			}
			if len(got) != 1 {
				t.Fatalf("%d deliveries of recording %s, want 1: %+v", len(got), r.ID, got)
			}
			d := got[0]
			var body struct {
				ID, Type string
				Data     store.Recording
			}
			must(t, json.Unmarshal(d.Payload, &body))
			if d.Event != tt.event || body.Type != tt.event || body.ID != d.ID || body.Data.ID != r.ID || d.State != store.DeliveryPending ||
				d.CompanyID != tn.company.ID || d.CallID != r.CallID || !d.CreatedAt.Equal(e.clk.Now()) {
				t.Errorf("delivery %+v, body %s", d, d.Payload)
			}
			if p := string(d.Payload); strings.Contains(p, "/spool/") || strings.Contains(p, "/lib/") {
				t.Errorf("the payload shows internal paths: %s", p)
			}
			if got, err := e.s.Delivery(e.ctx, d.ID); err != nil || got.ID != d.ID || string(got.Payload) != string(d.Payload) {
				t.Errorf("Delivery(%s) = %+v, %v", d.ID, got, err)
			}
		})
	}
	if n := len(e.deliveries(t, onlyFailed.ID)); n != 1 {
		t.Errorf("the failed-only webhook got %d deliveries, want 1", n)
	}
	if n := len(e.deliveries(t, inactive.ID)) + len(e.deliveries(t, foreign.ID)); n != 0 {
		t.Errorf("inactive or other companies' webhooks got %d deliveries, want 0", n)
	}
	// The log pages newest first.
	first, more, err := e.s.WebhookDeliveries(e.ctx, all.ID, "", 2)
	must(t, err)
	rest, more2, err := e.s.WebhookDeliveries(e.ctx, all.ID, first[len(first)-1].ID, 2)
	must(t, err)
	if len(first) != 2 || !more || len(rest) != 1 || more2 || first[0].ID <= first[1].ID || first[1].ID <= rest[0].ID {
		t.Errorf("WebhookDeliveries pages %d (more %v) + %d (more %v), want 2 + 1 newest first", len(first), more, len(rest), more2)
	}
}

// ClaimDelivery leases the delivery due longest with its webhook; DeliveryDone ends the
// attempt: delivered, due again at RetryAt, or failed.
func testDeliveryQueue(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	w := e.webhook(t, tn.company.ID)
	_, _, err := e.s.ClaimDelivery(e.ctx, time.Minute)
	checkCode(t, "ClaimDelivery of an empty queue", err, store.ENOTFOUND, "")
	r := e.ready(t, tn.company.ID, store.RecordingResult{MP3Path: "/lib/a.mp3"})
	e.clk.Advance(time.Millisecond)
	ping, err := e.s.EnqueuePing(e.ctx, w.ID)
	must(t, err)

	d, hook, err := e.s.ClaimDelivery(e.ctx, time.Minute)
	must(t, err)
	if d.RecordingID != r.ID || d.Attempts != 1 || hook.ID != w.ID || hook.Secret != w.Secret {
		t.Fatalf("ClaimDelivery = %+v with %+v; want the ready event (oldest) at attempt 1 with its webhook's secret", d, hook)
	}
	d2, _, err := e.s.ClaimDelivery(e.ctx, time.Minute)
	must(t, err)
	if d2.ID != ping.ID {
		t.Fatalf("second ClaimDelivery = %s, want the ping %s", d2.ID, ping.ID)
	}
	_, _, err = e.s.ClaimDelivery(e.ctx, time.Minute)
	checkCode(t, "ClaimDelivery with every delivery leased", err, store.ENOTFOUND, "")

	retryAt := e.clk.Now().Add(10 * time.Second)
	must(t, e.s.DeliveryDone(e.ctx, d.ID, store.DeliveryOutcome{Status: 503, Error: "unavailable", RetryAt: retryAt}))
	got, err := e.s.Delivery(e.ctx, d.ID)
	must(t, err)
	if got.State != store.DeliveryPending || got.LastStatus != 503 || got.LastError != "unavailable" || got.NextAttemptAt == nil || !got.NextAttemptAt.Equal(retryAt) {
		t.Fatalf("after a retry outcome: %+v", got)
	}
	_, _, err = e.s.ClaimDelivery(e.ctx, time.Minute)
	checkCode(t, "ClaimDelivery before RetryAt", err, store.ENOTFOUND, "")
	e.clk.Advance(10 * time.Second)
	d, _, err = e.s.ClaimDelivery(e.ctx, time.Minute)
	must(t, err)
	if d.RecordingID != r.ID || d.Attempts != 2 {
		t.Fatalf("ClaimDelivery at RetryAt = %+v, want the retried delivery at attempt 2", d)
	}
	must(t, e.s.DeliveryDone(e.ctx, d.ID, store.DeliveryOutcome{Delivered: true, Status: 204}))
	got, err = e.s.Delivery(e.ctx, d.ID)
	must(t, err)
	if got.State != store.DeliveryDelivered || got.DeliveredAt == nil || !got.DeliveredAt.Equal(e.clk.Now()) || got.NextAttemptAt != nil || got.LastStatus != 204 {
		t.Fatalf("after delivered: %+v", got)
	}
	must(t, e.s.DeliveryDone(e.ctx, ping.ID, store.DeliveryOutcome{Status: 410, Error: strings.Repeat("é", store.MaxDeliveryError)}))
	got, err = e.s.Delivery(e.ctx, ping.ID)
	must(t, err)
	if got.State != store.DeliveryFailed || got.NextAttemptAt != nil || len(got.LastError) > store.MaxDeliveryError || !strings.HasPrefix(got.LastError, "é") {
		t.Fatalf("after a final failure: %+v", got)
	}
	// The ping's lease ran out meanwhile; it is failed now, so nothing is due again.
	e.clk.Advance(time.Hour)
	_, _, err = e.s.ClaimDelivery(e.ctx, time.Minute)
	checkCode(t, "ClaimDelivery with every delivery done", err, store.ENOTFOUND, "")
	checkCode(t, "DeliveryDone of a missing delivery", e.s.DeliveryDone(e.ctx, "no-such-delivery", store.DeliveryOutcome{Delivered: true}), store.ENOTFOUND, "")

	// A leased delivery whose holder died comes back when the lease ends.
	p2, err := e.s.EnqueuePing(e.ctx, w.ID)
	must(t, err)
	first, _, err := e.s.ClaimDelivery(e.ctx, 30*time.Second)
	must(t, err)
	e.clk.Advance(30 * time.Second)
	again, _, err := e.s.ClaimDelivery(e.ctx, 30*time.Second)
	must(t, err)
	if first.ID != p2.ID || again.ID != p2.ID || again.Attempts != 2 {
		t.Fatalf("an expired lease: claimed %s then %+v, want %s twice", first.ID, again, p2.ID)
	}
}

// ReportMissing answers whether the call is missing (it has no recording but a failed one), as
// esl reads it, and enqueues recording.missing once per call and webhook however often it is
// reported.
func testReportMissing(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	w := e.webhook(t, tn.company.ID, store.EventRecordingMissing)
	since := e.clk.Now().Add(-time.Second)
	missing := func(callID string) store.MissingCall {
		return store.MissingCall{CompanyID: tn.company.ID, CallID: callID, DDIID: tn.ddi.ID, Caller: "+34600111222",
			Callee: tn.ddi.Number, Direction: store.DirectionInbound, Reason: "no_recording", Since: since}
	}
	rowOf := func(callID string, failed bool) {
		r := newRecording(tn.company.ID, time.Time{})
		r.CallID, r.DDIID = callID, tn.ddi.ID
		e.recording(t, r)
		if failed {
			must(t, e.s.FailRecording(e.ctx, r.ID, "FreeSWITCH did not start the recording"))
		}
	}
	rowOf("call-recorded", false)
	rowOf("call-start-refused", true)
	for _, c := range []struct {
		call string
		want bool
	}{
		{"call-none", true},          // no row at all
		{"call-start-refused", true}, // only a row that failed at start
		{"call-recorded", false},     // a row that records: not missing
		{"call-none", true},          // reported twice: still missing, enqueued once only
		{"call-start-refused", true},
	} {
		got, err := e.s.ReportMissing(e.ctx, missing(c.call))
		must(t, err)
		if got != c.want {
			t.Errorf("ReportMissing(%s) = %v, want %v", c.call, got, c.want)
		}
	}
	calls := map[string]int{}
	for _, d := range e.deliveries(t, w.ID) {
		calls[d.CallID]++
		var body struct {
			Type string
			Data store.MissingCall
		}
		must(t, json.Unmarshal(d.Payload, &body))
		if d.Event != store.EventRecordingMissing || body.Type != store.EventRecordingMissing || body.Data.CallID != d.CallID || body.Data.Reason != "no_recording" {
			t.Errorf("delivery %+v, body %s", d, d.Payload)
		}
	}
	if len(calls) != 2 || calls["call-none"] != 1 || calls["call-start-refused"] != 1 {
		t.Errorf("missing deliveries by call %v, want call-none and call-start-refused once each", calls)
	}
	// The answer is whether the call is missing (esl logs it), webhooks or not.
	bare := e.tenant(t, 2)
	if got, err := e.s.ReportMissing(e.ctx, store.MissingCall{CompanyID: bare.company.ID, CallID: "call-x", DDIID: bare.ddi.ID, Since: since}); err != nil || !got {
		t.Errorf("ReportMissing for a company without webhooks = %v, %v; want true", got, err)
	}
	for _, bad := range []struct {
		mc    store.MissingCall
		field string
	}{{store.MissingCall{CallID: "c"}, "company_id"}, {store.MissingCall{CompanyID: tn.company.ID}, "call_id"}} {
		_, err := e.s.ReportMissing(e.ctx, bad.mc)
		checkCode(t, "ReportMissing without "+bad.field, err, store.EINVALID, bad.field)
	}
}

// PruneDeliveries removes up to limit deliveries created before the cut, oldest first, in any
// state.
func testPruneDeliveries(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	w := e.webhook(t, tn.company.ID)
	var made []*store.Delivery
	for range 5 {
		d, err := e.s.EnqueuePing(e.ctx, w.ID)
		must(t, err)
		made = append(made, d)
		e.clk.Advance(time.Minute)
	}
	must(t, e.s.DeliveryDone(e.ctx, made[0].ID, store.DeliveryOutcome{Delivered: true}))
	cut := made[3].CreatedAt // made[0..2] are older
	n, err := e.s.PruneDeliveries(e.ctx, cut, 2)
	must(t, err)
	if n != 2 {
		t.Fatalf("PruneDeliveries(limit 2) removed %d, want 2", n)
	}
	n, err = e.s.PruneDeliveries(e.ctx, cut, 10)
	must(t, err)
	if n != 1 {
		t.Fatalf("the second PruneDeliveries removed %d, want the 1 old one left", n)
	}
	for i, d := range made {
		_, err := e.s.Delivery(e.ctx, d.ID)
		if i < 3 {
			checkCode(t, "a pruned delivery", err, store.ENOTFOUND, "")
		} else if err != nil {
			t.Errorf("delivery %d (after the cut) pruned: %v", i, err)
		}
	}
}
