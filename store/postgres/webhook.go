package postgres

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/callrec/callrec/store"
)

// Webhooks and their delivery outbox (store/webhook.go). A recording's event is enqueued in
// the transaction that changes the recording (CompleteRecording, FailRecording,
// DiscardRecording), so an event is sent if and only if the change committed. The dispatcher
// on every instance claims deliveries as the worker claims jobs: FOR UPDATE SKIP LOCKED and a
// lease, so each attempt is made by one instance.

const webhookColumns = "id, company_id, url, events, active, created_at, secret_hint, secret"

func scanWebhook(row pgx.Row) (*store.Webhook, error) {
	var w store.Webhook
	if err := row.Scan(&w.ID, &w.CompanyID, &w.URL, &w.Events, &w.Active, &w.CreatedAt, &w.SecretHint, &w.Secret); err != nil {
		return nil, err
	}
	w.CreatedAt = w.CreatedAt.UTC()
	if w.Events == nil {
		w.Events = []string{}
	}
	return &w, nil
}

// CreateWebhook stores w with a new ID, CreatedAt and Secret and returns the secret, as
// store.DB.CreateWebhook. Errors: EINVALID (field; "company_id" for a missing company).
func (db *DB) CreateWebhook(ctx context.Context, w *store.Webhook) (string, error) {
	w.Normalize()
	if err := w.Validate(); err != nil {
		return "", err
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("webhook secret: %w", err)
	}
	secret := store.WebhookSecretPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	now := db.now()
	w.ID, w.CreatedAt = db.newID(now), now
	w.Secret, w.SecretHint = secret, secret[len(secret)-store.WebhookSecretHint:]
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if ok, err := exists(ctx, tx, "SELECT 1 FROM companies WHERE id = $1", w.CompanyID); err != nil || !ok {
			return errOr(err, store.Invalid("company_id", "no such company"))
		}
		_, err := tx.Exec(ctx, "INSERT INTO webhooks ("+webhookColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
			w.ID, w.CompanyID, w.URL, w.Events, w.Active, w.CreatedAt, w.SecretHint, w.Secret)
		return err
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// Webhook returns webhook id (Secret included, for the dispatcher), or ENOTFOUND.
func (db *DB) Webhook(ctx context.Context, id string) (*store.Webhook, error) {
	w, err := scanWebhook(db.pool.QueryRow(ctx, "SELECT "+webhookColumns+" FROM webhooks WHERE id = $1", id))
	if err != nil {
		return nil, notFound(err, "webhook not found")
	}
	return w, nil
}

// Webhooks returns the webhooks of companyID ("" = every company) in creation order.
func (db *DB) Webhooks(ctx context.Context, companyID string) ([]*store.Webhook, error) {
	out, err := queryAll(ctx, db, "SELECT "+webhookColumns+" FROM webhooks WHERE $1 = '' OR company_id = $1 ORDER BY id", scanWebhook, companyID)
	if out == nil && err == nil {
		out = []*store.Webhook{}
	}
	return out, err
}

// UpdateWebhook stores the URL, Events and Active of w (the rest kept), as
// store.DB.UpdateWebhook; w is filled with the stored webhook. Errors: ENOTFOUND, EINVALID.
func (db *DB) UpdateWebhook(ctx context.Context, w *store.Webhook) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		old, err := scanWebhook(tx.QueryRow(ctx, "SELECT "+webhookColumns+" FROM webhooks WHERE id = $1 FOR UPDATE", w.ID))
		if err != nil {
			return notFound(err, "webhook not found")
		}
		upd := *old
		upd.URL, upd.Events, upd.Active = w.URL, w.Events, w.Active
		upd.Normalize()
		if err := upd.Validate(); err != nil {
			return err
		}
		*w = upd
		_, err = tx.Exec(ctx, "UPDATE webhooks SET url = $2, events = $3, active = $4 WHERE id = $1", upd.ID, upd.URL, upd.Events, upd.Active)
		return err
	})
}

// DeleteWebhook removes webhook id with its deliveries (ON DELETE CASCADE; pending ones are
// never sent). Errors: ENOTFOUND.
func (db *DB) DeleteWebhook(ctx context.Context, id string) error {
	tag, err := db.pool.Exec(ctx, "DELETE FROM webhooks WHERE id = $1", id)
	if err != nil {
		return fmt.Errorf("delete webhook: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return store.NotFound("webhook not found")
	}
	return nil
}

// eventPayload is store's delivery body.
type eventPayload struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
	Data      any       `json:"data"`
}

// newDelivery builds the pending delivery of event for w, due at once, with its body.
func (db *DB) newDelivery(w *store.Webhook, event string, data any, recordingID, callID string) (*store.Delivery, error) {
	now := db.now()
	d := &store.Delivery{ID: db.newID(now), WebhookID: w.ID, CompanyID: w.CompanyID, Event: event,
		RecordingID: recordingID, CallID: callID, State: store.DeliveryPending, CreatedAt: now, NextAttemptAt: &now}
	body, err := json.Marshal(eventPayload{ID: d.ID, Type: event, CreatedAt: now, Data: data})
	if err != nil {
		return nil, fmt.Errorf("webhook payload: %w", err)
	}
	if len(body) > store.MaxDeliveryPayload {
		body, _ = json.Marshal(eventPayload{ID: d.ID, Type: event, CreatedAt: now,
			Data: map[string]string{"recording_id": recordingID, "call_id": callID, "truncated": "true"}})
	}
	d.Payload = body
	return d, nil
}

const deliveryColumns = `id, webhook_id, company_id, event, recording_id, call_id, payload, attempts, state,
	next_attempt_at, last_status, last_error, created_at, delivered_at, lease_until`

func insertDelivery(ctx context.Context, tx pgx.Tx, d *store.Delivery) (bool, error) {
	// ON CONFLICT: recording.missing is once per webhook and call (deliveries_once).
	tag, err := tx.Exec(ctx, "INSERT INTO deliveries ("+deliveryColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, 0, '', $10, NULL, NULL)
		ON CONFLICT (webhook_id, event, call_id) WHERE event = 'recording.missing' AND call_id <> '' DO NOTHING`,
		d.ID, d.WebhookID, d.CompanyID, d.Event, d.RecordingID, d.CallID, d.Payload, d.State, d.NextAttemptAt, d.CreatedAt)
	if err != nil {
		return false, fmt.Errorf("enqueue delivery: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// enqueueEvent adds a pending delivery of event for every active webhook of companyID that
// wants it, inside the caller's transaction (the outbox); it reports whether any was added.
func (db *DB) enqueueEvent(ctx context.Context, tx pgx.Tx, companyID, event string, data any, recordingID, callID string) (bool, error) {
	rows, err := tx.Query(ctx, "SELECT "+webhookColumns+" FROM webhooks WHERE company_id = $1 AND active ORDER BY id", companyID)
	if err != nil {
		return false, fmt.Errorf("webhooks: %w", err)
	}
	hooks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.Webhook, error) { return scanWebhook(r) })
	if err != nil {
		return false, fmt.Errorf("webhooks: %w", err)
	}
	added := false
	for _, w := range hooks {
		if !w.Wants(event) {
			continue
		}
		d, err := db.newDelivery(w, event, data, recordingID, callID)
		if err != nil {
			return false, err
		}
		ok, err := insertDelivery(ctx, tx, d)
		if err != nil {
			return false, err
		}
		added = added || ok
	}
	return added, nil
}

// enqueueRecordingEvent enqueues the event of r's new state (ready, failed, discarded).
func (db *DB) enqueueRecordingEvent(ctx context.Context, tx pgx.Tx, r *store.Recording) error {
	ev := map[string]string{store.StateReady: store.EventRecordingReady, store.StateFailed: store.EventRecordingFailed,
		store.StateDiscarded: store.EventRecordingDiscarded}[r.State]
	if ev == "" {
		return nil
	}
	_, err := db.enqueueEvent(ctx, tx, r.CompanyID, ev, r, r.ID, r.CallID)
	return err
}

// ReportMissing records that call mc ended without a recording, as store.DB.ReportMissing: when
// no recording of the call (its company and DDI, started since mc.Since) is other than failed,
// recording.missing is enqueued for the company's webhooks, once per call and webhook however
// often and by however many instances it is reported. It reports whether the call is missing its
// recording (true also when the company has no webhook, or the call was reported before), as
// store does: esl logs the decision on it. Errors:
// EINVALID "company_id"/"call_id" (empty).
func (db *DB) ReportMissing(ctx context.Context, mc store.MissingCall) (bool, error) {
	if mc.CompanyID == "" {
		return false, store.Invalid("company_id", "required")
	}
	if mc.CallID == "" {
		return false, store.Invalid("call_id", "required")
	}
	mc.Since = mc.Since.UTC()
	reported := false
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		has, err := exists(ctx, tx, `SELECT 1 FROM recordings WHERE company_id = $1 AND ($2 = '' OR ddi_id = $2)
			AND call_id = $3 AND state <> 'failed' AND started_at >= $4`, mc.CompanyID, mc.DDIID, mc.CallID, mc.Since.Add(-time.Millisecond))
		if err != nil || has {
			return err
		}
		reported = true
		_, err = db.enqueueEvent(ctx, tx, mc.CompanyID, store.EventRecordingMissing, mc, "", mc.CallID)
		return err
	})
	return reported, err
}

// EnqueuePing enqueues a ping delivery for webhook id (active or not) and returns it.
// Errors: ENOTFOUND.
func (db *DB) EnqueuePing(ctx context.Context, id string) (*store.Delivery, error) {
	var d *store.Delivery
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		w, err := scanWebhook(tx.QueryRow(ctx, "SELECT "+webhookColumns+" FROM webhooks WHERE id = $1", id))
		if err != nil {
			return notFound(err, "webhook not found")
		}
		if d, err = db.newDelivery(w, store.EventPing, map[string]string{"webhook_id": w.ID, "company_id": w.CompanyID}, "", ""); err != nil {
			return err
		}
		_, err = insertDelivery(ctx, tx, d)
		return err
	})
	return d, err
}

func scanDelivery(row pgx.Row) (*store.Delivery, error) {
	var d store.Delivery
	var lease *time.Time
	if err := row.Scan(&d.ID, &d.WebhookID, &d.CompanyID, &d.Event, &d.RecordingID, &d.CallID, &d.Payload, &d.Attempts,
		&d.State, &d.NextAttemptAt, &d.LastStatus, &d.LastError, &d.CreatedAt, &d.DeliveredAt, &lease); err != nil {
		return nil, err
	}
	d.CreatedAt = d.CreatedAt.UTC()
	for _, p := range []**time.Time{&d.NextAttemptAt, &d.DeliveredAt} {
		if *p != nil {
			t := (*p).UTC()
			*p = &t
		}
	}
	if lease != nil {
		d.LeaseUntil = lease.UTC()
	}
	return &d, nil
}

// ClaimDelivery leases the pending delivery due longest for lease and counts the attempt,
// returning it with its webhook (Secret included), as store.DB.ClaimDelivery; concurrent
// dispatchers on any instance never take the same one (SKIP LOCKED). Errors: ENOTFOUND when
// none is due.
func (db *DB) ClaimDelivery(ctx context.Context, lease time.Duration) (*store.Delivery, *store.Webhook, error) {
	now := db.now()
	var d *store.Delivery
	var w *store.Webhook
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var err error
		d, err = scanDelivery(tx.QueryRow(ctx, "UPDATE deliveries SET lease_until = $2, attempts = attempts + 1 WHERE id = "+
			"(SELECT id FROM deliveries WHERE state = 'pending' AND claimable_at <= $1 ORDER BY claimable_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) "+
			"RETURNING "+deliveryColumns, now, now.Add(lease)))
		if err != nil {
			return notFound(err, "no delivery due")
		}
		w, err = scanWebhook(tx.QueryRow(ctx, "SELECT "+webhookColumns+" FROM webhooks WHERE id = $1", d.WebhookID))
		return err // the webhook cannot be gone: its deliveries go with it (ON DELETE CASCADE)
	})
	if err != nil {
		return nil, nil, err
	}
	return d, w, nil
}

// DeliveryDone records the outcome of the attempt on delivery id and ends its lease, as
// store.DB.DeliveryDone. Errors: ENOTFOUND (the webhook was deleted meanwhile).
func (db *DB) DeliveryDone(ctx context.Context, id string, o store.DeliveryOutcome) error {
	now := db.now()
	state, next, delivered, lastErr := store.DeliveryPending, (*time.Time)(nil), (*time.Time)(nil), store.CutString(o.Error, store.MaxDeliveryError)
	switch {
	case o.Delivered:
		state, delivered, lastErr = store.DeliveryDelivered, &now, ""
	case o.RetryAt.IsZero():
		state = store.DeliveryFailed
	default:
		at := o.RetryAt.UTC()
		next = &at
	}
	tag, err := db.pool.Exec(ctx, `UPDATE deliveries SET lease_until = NULL, last_status = $2, last_error = $3, state = $4,
		next_attempt_at = $5, delivered_at = coalesce($6, delivered_at) WHERE id = $1`, id, o.Status, lastErr, state, next, delivered)
	if err != nil {
		return fmt.Errorf("delivery done: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return store.NotFound("delivery not found")
	}
	return nil
}

// Delivery returns delivery id, or ENOTFOUND.
func (db *DB) Delivery(ctx context.Context, id string) (*store.Delivery, error) {
	d, err := scanDelivery(db.pool.QueryRow(ctx, "SELECT "+deliveryColumns+" FROM deliveries WHERE id = $1", id))
	if err != nil {
		return nil, notFound(err, "delivery not found")
	}
	return d, nil
}

// WebhookDeliveries returns up to limit deliveries of webhookID newest first, after beforeID
// ("" = the newest); more reports whether older ones remain.
func (db *DB) WebhookDeliveries(ctx context.Context, webhookID, beforeID string, limit int) ([]*store.Delivery, bool, error) {
	out, err := queryAll(ctx, db, "SELECT "+deliveryColumns+" FROM deliveries WHERE webhook_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3",
		scanDelivery, webhookID, beforeID, limit+1)
	if err != nil {
		return nil, false, err
	}
	if out == nil {
		out = []*store.Delivery{}
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

// PruneDeliveries removes up to limit deliveries created before before (any state), oldest
// first, and returns how many.
func (db *DB) PruneDeliveries(ctx context.Context, before time.Time, limit int) (int, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM deliveries WHERE id IN
		(SELECT id FROM deliveries WHERE created_at < $1 ORDER BY id LIMIT $2)`, before.UTC(), limit)
	if err != nil {
		return 0, fmt.Errorf("prune deliveries: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
