package postgres

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

func mustWebhook(t testing.TB, db *DB, companyID string, active bool, events ...string) *store.Webhook {
	t.Helper()
	w := &store.Webhook{CompanyID: companyID, URL: " https://crm.example.com/hook ", Events: events, Active: active}
	secret, err := db.CreateWebhook(context.Background(), w)
	must(t, err)
	if len(secret) < 40 || w.SecretHint != secret[len(secret)-4:] {
		t.Fatalf("secret %q, hint %q", secret, w.SecretHint)
	}
	return w
}

// deliveriesOf returns the events enqueued for webhook w, oldest first.
func deliveriesOf(t testing.TB, db *DB, w *store.Webhook) []*store.Delivery {
	t.Helper()
	ds, _, err := db.WebhookDeliveries(context.Background(), w.ID, "", 100)
	must(t, err)
	for i, j := 0, len(ds)-1; i < j; i, j = i+1, j-1 {
		ds[i], ds[j] = ds[j], ds[i]
	}
	return ds
}

// TestWebhookEvents_EnqueuedWithTheRecordingChange: ready, failed and discarded recordings
// enqueue their event for each active webhook that wants it, with store's body.
func TestWebhookEvents_EnqueuedWithTheRecordingChange(t *testing.T) {
	db, _ := mustOpen(t, Options{})
	tn := mustTenant(t, db, "1")
	ctx := context.Background()
	all := mustWebhook(t, db, tn.companyID, true)
	failedOnly := mustWebhook(t, db, tn.companyID, true, store.EventRecordingFailed, store.EventRecordingFailed)
	inactive := mustWebhook(t, db, tn.companyID, false)
	if all.URL != "https://crm.example.com/hook" || len(failedOnly.Events) != 1 {
		t.Fatalf("webhooks not normalised: %+v %+v", all, failedOnly)
	}
	recs := mustProcessing(t, db, tn, 3)
	j, err := db.ClaimJob(ctx, time.Minute)
	must(t, err)
	must(t, db.CompleteRecording(ctx, j.ID, store.RecordingResult{MP3Path: "/lib/a.mp3"}))
	ready := j.RecordingID
	failed, discarded := recs[0].ID, recs[1].ID
	if failed == ready {
		failed = recs[2].ID
	}
	if discarded == ready {
		discarded = recs[2].ID
	}
	must(t, db.FailRecording(ctx, failed, "no audio"))
	must(t, db.DiscardRecording(ctx, discarded, "asked"))
	for _, c := range []struct {
		w    *store.Webhook
		want []string // event:recording
	}{
		{all, []string{"recording.ready:" + ready, "recording.failed:" + failed, "recording.discarded:" + discarded}},
		{failedOnly, []string{"recording.failed:" + failed}},
		{inactive, nil},
	} {
		var got []string
		for _, d := range deliveriesOf(t, db, c.w) {
			got = append(got, d.Event+":"+d.RecordingID)
			var body struct {
				ID   string          `json:"id"`
				Type string          `json:"type"`
				Data store.Recording `json:"data"`
			}
			must(t, json.Unmarshal(d.Payload, &body))
			if body.ID != d.ID || body.Type != d.Event || body.Data.ID != d.RecordingID || body.Data.State == store.StateProcessing {
				t.Errorf("delivery %s body %s", d.ID, d.Payload)
			}
		}
		if len(got) != len(c.want) || (len(got) > 0 && !equalStrings(got, c.want)) {
			t.Errorf("webhook %v: %v, want %v", c.w.Events, got, c.want)
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestClaimDelivery_DispatchersOnSeveralInstancesSendEachOnce: concurrent dispatchers claim
// each pending delivery once; a retry comes back at its time, a failure and a success never.
func TestClaimDelivery_DispatchersOnSeveralInstancesSendEachOnce(t *testing.T) {
	clk := newClock()
	db, dsn := mustOpen(t, Options{Now: clk.Now})
	tn := mustTenant(t, db, "1")
	w := mustWebhook(t, db, tn.companyID, true)
	ctx := context.Background()
	const n = 120
	for range n {
		_, err := db.EnqueuePing(ctx, w.ID)
		must(t, err)
	}
	var mu sync.Mutex
	claimed := map[string]int{}
	var wg sync.WaitGroup
	for range 4 {
		in := mustOpenDSN(t, dsn, Options{Now: clk.Now})
		wg.Go(func() {
			for {
				mu.Lock()
				total := 0
				for _, k := range claimed {
					total += k
				}
				mu.Unlock()
				if total >= n {
					return
				}
				d, hook, err := in.ClaimDelivery(ctx, time.Hour)
				if store.ErrorCode(err) == store.ENOTFOUND {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				if hook.ID != w.ID || hook.Secret == "" {
					t.Errorf("webhook of the claim: %+v", hook)
				}
				mu.Lock()
				claimed[d.ID]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(claimed) != n {
		t.Fatalf("%d distinct deliveries claimed, want %d", len(claimed), n)
	}
	for id, k := range claimed {
		if k != 1 {
			t.Errorf("delivery %s claimed %d times", id, k)
		}
	}
	// Outcomes: one retried in 30 s, one failed for good, the rest delivered.
	var ids []string
	for id := range claimed {
		ids = append(ids, id)
	}
	must(t, db.DeliveryDone(ctx, ids[0], store.DeliveryOutcome{Status: 503, Error: "busy", RetryAt: clk.Now().Add(30 * time.Second)}))
	must(t, db.DeliveryDone(ctx, ids[1], store.DeliveryOutcome{Status: 410, Error: "gone"}))
	for _, id := range ids[2:] {
		must(t, db.DeliveryDone(ctx, id, store.DeliveryOutcome{Delivered: true, Status: 204}))
	}
	clk.Add(2 * time.Hour) // every lease long past
	if d, _, err := db.ClaimDelivery(ctx, time.Minute); err != nil || d.ID != ids[0] || d.Attempts != 2 || d.LastError != "busy" {
		t.Fatalf("after the retry time: %+v, %v; want the retried delivery at attempt 2", d, err)
	}
	if _, _, err := db.ClaimDelivery(ctx, time.Minute); store.ErrorCode(err) != store.ENOTFOUND {
		t.Errorf("a failed or delivered delivery claimed again: %v", err)
	}
	d, err := db.Delivery(ctx, ids[2])
	must(t, err)
	if d.State != store.DeliveryDelivered || d.DeliveredAt == nil || d.LastStatus != 204 {
		t.Errorf("delivered delivery: %+v", d)
	}
	if pruned, err := db.PruneDeliveries(ctx, clk.Now().Add(time.Second), 1000); err != nil || pruned != n {
		t.Errorf("pruned %d, %v; want %d", pruned, err, n)
	}
}

// TestReportMissing_OncePerCallAcrossInstances: instances reporting one unrecorded call at once
// enqueue one recording.missing per webhook; a call with a recording is not missing.
func TestReportMissing_OncePerCallAcrossInstances(t *testing.T) {
	a, dsn := mustOpen(t, Options{})
	b := mustOpenDSN(t, dsn, Options{})
	tn := mustTenant(t, a, "1")
	w := mustWebhook(t, a, tn.companyID, true)
	ctx := context.Background()
	mc := store.MissingCall{CompanyID: tn.companyID, CallID: "call-1", Direction: store.DirectionInbound, Since: a.now().Add(-time.Minute)}
	var wg sync.WaitGroup
	reported := make([]bool, 6)
	for i := range reported {
		in := []*DB{a, b}[i%2]
		wg.Go(func() {
			ok, err := in.ReportMissing(ctx, mc)
			if err != nil {
				t.Error(err)
			}
			reported[i] = ok
		})
	}
	wg.Wait()
	if ds := deliveriesOf(t, a, w); len(ds) != 1 || ds[0].Event != store.EventRecordingMissing || ds[0].CallID != "call-1" {
		t.Fatalf("deliveries after 6 reports: %+v", ds)
	}
	rec := mustProcessing(t, a, tn, 1)[0]
	_, err := a.pool.Exec(ctx, "UPDATE recordings SET call_id = 'call-2' WHERE id = $1", rec.ID)
	must(t, err)
	mc.CallID = "call-2"
	if ok, err := b.ReportMissing(ctx, mc); err != nil || ok {
		t.Errorf("a recorded call reported missing: %v, %v", ok, err)
	}
	if _, err := a.ReportMissing(ctx, store.MissingCall{CompanyID: tn.companyID}); store.ErrorField(err) != "call_id" {
		t.Errorf("no call id: %v", err)
	}
}

// TestWebhooks_UpdateAndDelete: an update keeps the secret; a delete takes the deliveries.
func TestWebhooks_UpdateAndDelete(t *testing.T) {
	db, _ := mustOpen(t, Options{})
	tn := mustTenant(t, db, "1")
	ctx := context.Background()
	w := mustWebhook(t, db, tn.companyID, true)
	secret := w.Secret
	upd := &store.Webhook{ID: w.ID, URL: "ftp://x", Active: false}
	if err := db.UpdateWebhook(ctx, upd); store.ErrorField(err) != "url" {
		t.Fatalf("update to an ftp URL: %v", err)
	}
	upd.URL = "https://other.example.com/"
	must(t, db.UpdateWebhook(ctx, upd))
	got, err := db.Webhook(ctx, w.ID)
	must(t, err)
	if got.URL != upd.URL || got.Active || got.Secret != secret || got.CompanyID != tn.companyID {
		t.Errorf("updated webhook %+v", got)
	}
	d, err := db.EnqueuePing(ctx, w.ID)
	must(t, err)
	if err := db.DeleteCompany(ctx, tn.companyID); store.ErrorCode(err) != store.ECONFLICT {
		t.Errorf("delete of a company with a webhook: %v", err)
	}
	must(t, db.DeleteWebhook(ctx, w.ID))
	if _, err := db.Delivery(ctx, d.ID); store.ErrorCode(err) != store.ENOTFOUND {
		t.Errorf("delivery of a deleted webhook: %v", err)
	}
	if hs, err := db.Webhooks(ctx, tn.companyID); err != nil || len(hs) != 0 {
		t.Errorf("webhooks after the delete: %v, %v", hs, err)
	}
}
