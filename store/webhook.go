package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"
)

// Webhook events (Webhook.Events, Delivery.Event).
const (
	EventRecordingReady     = "recording.ready"
	EventRecordingFailed    = "recording.failed"
	EventRecordingDiscarded = "recording.discarded"
	EventRecordingMissing   = "recording.missing"
	EventPing               = "ping" // POST /webhooks/{id}/test: sent to that webhook only, whatever its events
)

// WebhookEvents are the events a webhook may subscribe to.
var WebhookEvents = []string{EventRecordingReady, EventRecordingFailed, EventRecordingDiscarded, EventRecordingMissing}

// Delivery states (Delivery.State).
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// Limits of webhooks and deliveries.
const (
	MaxWebhookURLLen   = 2048
	MaxDeliveryPayload = 16 << 10 // bytes of a delivery's JSON body
	MaxDeliveryError   = 200      // bytes of Delivery.LastError
	WebhookSecretHint  = 4        // trailing characters of the secret shown after creation
	// DeliveryRetention is how long deliveries are kept (PruneDeliveries), whatever their state.
	DeliveryRetention = 30 * 24 * time.Hour
)

// WebhookSecretPrefix starts every webhook signing secret.
const WebhookSecretPrefix = "whsec_"

// Webhook is a company's HTTP endpoint for recording events. Secret signs every delivery
// (Callrec-Signature); it is stored, returned once by the create reply and afterwards only as
// SecretHint. An empty Events list means every event of WebhookEvents.
type Webhook struct {
	ID         string    `json:"id"`
	CompanyID  string    `json:"company_id"`
	URL        string    `json:"url"`
	Events     []string  `json:"events"`
	Active     bool      `json:"active"`
	CreatedAt  time.Time `json:"created_at"`
	SecretHint string    `json:"secret_hint"`
	Secret     string    `json:"-"`
}

// Wants reports whether the webhook subscribes to event (a ping goes to every webhook).
func (w *Webhook) Wants(event string) bool {
	return event == EventPing || len(w.Events) == 0 || slices.Contains(w.Events, event)
}

// Validate reports every invalid field at once (EINVALID, see InvalidFields). The URL must be
// absolute http(s) without user info; whether plain http is allowed is the caller's
// configuration (web checks it). Anyone may call it.
func (w *Webhook) Validate() error {
	var errs []error
	if w.CompanyID == "" {
		errs = append(errs, Invalid("company_id", "required"))
	}
	errs = append(errs, validWebhookURL(w.URL))
	for _, e := range w.Events {
		if !slices.Contains(WebhookEvents, e) {
			errs = append(errs, Invalid("events", "unknown event %q: use %s", e, strings.Join(WebhookEvents, ", ")))
			break
		}
	}
	return invalidFields(errs...)
}

func validWebhookURL(raw string) error {
	if raw == "" {
		return Invalid("url", "required")
	}
	if len(raw) > MaxWebhookURLLen || hasControl(raw) {
		return Invalid("url", "at most %d bytes without control characters", MaxWebhookURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Hostname() == "" {
		return Invalid("url", "must be an absolute https:// URL")
	}
	if u.User != nil {
		return Invalid("url", "must not carry user info")
	}
	if u.Fragment != "" {
		return Invalid("url", "must not have a fragment")
	}
	return nil
}

// normalize trims the URL, sorts and dedups the events.
// Normalize trims the URL and sorts and deduplicates the events (never nil), as every store
// write does before validating (both backends call it). Anyone may call it.
func (w *Webhook) Normalize() {
	w.URL = strings.TrimSpace(w.URL)
	ev := slices.Clone(w.Events)
	slices.Sort(ev)
	w.Events = slices.Compact(ev)
	if w.Events == nil {
		w.Events = []string{}
	}
}

// Delivery is one event for one webhook, delivered by the webhook dispatcher from the durable
// queue. Payload is the exact JSON body POSTed (bounded by MaxDeliveryPayload).
type Delivery struct {
	ID            string          `json:"id"`
	WebhookID     string          `json:"webhook_id"`
	CompanyID     string          `json:"company_id"`
	Event         string          `json:"event"`
	RecordingID   string          `json:"recording_id,omitempty"`
	CallID        string          `json:"call_id,omitempty"`
	Payload       json.RawMessage `json:"payload"`
	Attempts      int             `json:"attempts"`
	State         string          `json:"state"`
	NextAttemptAt *time.Time      `json:"next_attempt_at"`
	LastStatus    int             `json:"last_status"`
	LastError     string          `json:"last_error"`
	CreatedAt     time.Time       `json:"created_at"`
	DeliveredAt   *time.Time      `json:"delivered_at"`
	LeaseUntil    time.Time       `json:"-"`
}

// MissingCall is a call that should have been recorded and ended without a recording, reported
// by esl at the end of its session (ReportMissing).
type MissingCall struct {
	CompanyID string `json:"company_id"`
	CallID    string `json:"call_id"`
	DDIID     string `json:"ddi_id"`
	Direction string `json:"direction"`
	Caller    string `json:"caller"`
	Callee    string `json:"callee"`
	Reason    string `json:"reason"`
	// Since is when the call reached callrec: recordings of the call started after it.
	Since time.Time `json:"started_at"`
}

// Buckets of schema v4 (webhooks).
var (
	bWebhooks     = []byte("webhooks")
	bDeliveries   = []byte("deliveries")          // id (a ULID of created_at) -> Delivery JSON
	ixWebhookCo   = []byte("ix_webhook_company")  // company|webhook -> ""
	ixDlvWebhook  = []byte("ix_delivery_webhook") // webhook|delivery -> ""
	ixDlvDue      = []byte("ix_delivery_due")     // timeKey(claimable at)+delivery -> "" (pending only)
	ixDlvOnce     = []byte("ix_delivery_once")    // webhook|event|subject -> delivery id (events sent once per subject)
	ixDlvLeased   = []byte("ix_delivery_leased")  // delivery -> "" (pending with a lease: an attempt under way)
	webhookBucket = [][]byte{bWebhooks, bDeliveries, ixWebhookCo, ixDlvWebhook, ixDlvDue, ixDlvOnce, ixDlvLeased}
)

// migrateWebhooks (schema v4) creates the webhook buckets; existing stores have no webhooks.
func migrateWebhooks(tx *bolt.Tx) error {
	for _, b := range webhookBucket {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

// webhookRow is the stored form: the secret is kept (it signs).
type webhookRow struct {
	Webhook
	Secret string `json:"secret"`
}

func encodeWebhook(w *Webhook) ([]byte, error) {
	return json.Marshal(webhookRow{Webhook: *w, Secret: w.Secret})
}

func decodeWebhook(b []byte) (*Webhook, error) {
	var row webhookRow
	if err := json.Unmarshal(b, &row); err != nil {
		return nil, err
	}
	w := row.Webhook
	w.Secret = row.Secret
	return &w, nil
}

type deliveryRow struct {
	Delivery
	LeaseUntil time.Time `json:"lease_until"`
}

func encodeDelivery(d *Delivery) ([]byte, error) {
	return json.Marshal(deliveryRow{Delivery: *d, LeaseUntil: d.LeaseUntil})
}

func decodeDelivery(b []byte) (*Delivery, error) {
	var row deliveryRow
	if err := json.Unmarshal(b, &row); err != nil {
		return nil, err
	}
	d := row.Delivery
	d.LeaseUntil = row.LeaseUntil
	return &d, nil
}

// newWebhookSecret returns WebhookSecretPrefix + 32 random bytes, base64url.
func newWebhookSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("webhook secret: %w", err)
	}
	return WebhookSecretPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// ---- webhooks ----

// CreateWebhook stores w for its company with a new ID, CreatedAt and Secret, and returns the
// secret (the only time it leaves the store; SecretHint keeps its last characters). Active is
// the caller's. The web layer checks the caller's tenancy and whether http:// is allowed.
// Errors: EINVALID (field; "company_id" for a company that does not exist).
func (db *DB) CreateWebhook(ctx context.Context, w *Webhook) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	w.Normalize()
	if err := w.Validate(); err != nil {
		return "", err
	}
	secret, err := newWebhookSecret()
	if err != nil {
		return "", err
	}
	w.ID, w.CreatedAt = db.newID(db.now()), db.now()
	w.Secret, w.SecretHint = secret, secret[len(secret)-WebhookSecretHint:]
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bCompanies).Get([]byte(w.CompanyID)) == nil {
			return Invalid("company_id", "no such company")
		}
		if err := tx.Bucket(ixWebhookCo).Put([]byte(join(w.CompanyID, w.ID)), nil); err != nil {
			return err
		}
		return putRow(tx, bWebhooks, w.ID, w, encodeWebhook)
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// Webhook returns webhook id (Secret included, for the dispatcher), or ENOTFOUND. The web layer
// checks tenancy and never shows Secret.
func (db *DB) Webhook(ctx context.Context, id string) (*Webhook, error) {
	var w *Webhook
	err := db.view(ctx, func(tx *bolt.Tx) error {
		var err error
		w, err = getRow(tx, bWebhooks, id, "webhook", decodeWebhook)
		return err
	})
	return w, err
}

// Webhooks returns the webhooks of companyID ("" = every company) in creation order.
func (db *DB) Webhooks(ctx context.Context, companyID string) ([]*Webhook, error) {
	out := []*Webhook{}
	err := db.view(ctx, func(tx *bolt.Tx) error {
		if companyID == "" {
			return forEachRow(tx, bWebhooks, decodeWebhook, func(w *Webhook) error { out = append(out, w); return nil })
		}
		var err error
		out, err = companyWebhooks(tx, companyID)
		return err
	})
	return out, err
}

func companyWebhooks(tx *bolt.Tx, companyID string) ([]*Webhook, error) {
	out := []*Webhook{}
	prefix := []byte(join(companyID, ""))
	c := tx.Bucket(ixWebhookCo).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		w, err := getRow(tx, bWebhooks, string(k[len(prefix):]), "webhook", decodeWebhook)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, nil
}

// UpdateWebhook stores the URL, Events and Active of w (its ID, CompanyID, CreatedAt and Secret
// are kept). Errors: ENOTFOUND, EINVALID (field).
func (db *DB) UpdateWebhook(ctx context.Context, w *Webhook) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.bolt.Update(func(tx *bolt.Tx) error {
		old, err := getRow(tx, bWebhooks, w.ID, "webhook", decodeWebhook)
		if err != nil {
			return err
		}
		upd := *old
		upd.URL, upd.Events, upd.Active = w.URL, w.Events, w.Active
		upd.Normalize()
		if err := upd.Validate(); err != nil {
			return err
		}
		*w = upd
		return putRow(tx, bWebhooks, upd.ID, &upd, encodeWebhook)
	})
}

// DeleteWebhook removes webhook id with its deliveries (pending ones are never sent). Errors:
// ENOTFOUND.
func (db *DB) DeleteWebhook(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.bolt.Update(func(tx *bolt.Tx) error {
		w, err := getRow(tx, bWebhooks, id, "webhook", decodeWebhook)
		if err != nil {
			return err
		}
		prefix := []byte(join(id, ""))
		var ids []string
		c := tx.Bucket(ixDlvWebhook).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			ids = append(ids, string(k[len(prefix):]))
		}
		for _, did := range ids {
			if err := deleteDelivery(tx, did); err != nil {
				return err
			}
		}
		if err := tx.Bucket(ixWebhookCo).Delete([]byte(join(w.CompanyID, w.ID))); err != nil {
			return err
		}
		return tx.Bucket(bWebhooks).Delete([]byte(id))
	})
}

// ---- the outbox: deliveries enqueued with the change that causes them ----

// eventPayload is the JSON body of every delivery.
type eventPayload struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
	Data      any       `json:"data"`
}

// newDelivery builds the pending delivery of event for w, due at once, with its body.
func (db *DB) newDelivery(w *Webhook, event string, data any, recordingID, callID string) (*Delivery, error) {
	now := db.now()
	d := &Delivery{ID: db.newID(now), WebhookID: w.ID, CompanyID: w.CompanyID, Event: event,
		RecordingID: recordingID, CallID: callID, State: DeliveryPending, CreatedAt: now, NextAttemptAt: &now}
	body, err := json.Marshal(eventPayload{ID: d.ID, Type: event, CreatedAt: now, Data: data})
	if err != nil {
		return nil, fmt.Errorf("webhook payload: %w", err)
	}
	if len(body) > MaxDeliveryPayload { // fields are bounded; this is a guard, never a cut body
		body, _ = json.Marshal(eventPayload{ID: d.ID, Type: event, CreatedAt: now,
			Data: map[string]string{"recording_id": recordingID, "call_id": callID, "truncated": "true"}})
	}
	d.Payload = body
	return d, nil
}

// enqueueEvent adds a pending delivery of event for every active webhook of companyID that
// wants it, inside tx: the caller's transaction is the one that makes the change (outbox). once,
// when not "", makes the event unique per webhook and subject: a second report is ignored.
func (db *DB) enqueueEvent(tx *bolt.Tx, companyID, event string, data any, recordingID, callID, once string) error {
	if tx.Bucket(bWebhooks) == nil { // a store opened before schema v4 in a test of older migrations
		return nil
	}
	hooks, err := companyWebhooks(tx, companyID)
	if err != nil {
		return err
	}
	for _, w := range hooks {
		if !w.Active || !w.Wants(event) {
			continue
		}
		var onceKey []byte
		if once != "" {
			onceKey = []byte(join(w.ID, event, once))
			if tx.Bucket(ixDlvOnce).Get(onceKey) != nil {
				continue
			}
		}
		d, err := db.newDelivery(w, event, data, recordingID, callID)
		if err != nil {
			return err
		}
		if onceKey != nil {
			if err := tx.Bucket(ixDlvOnce).Put(onceKey, []byte(d.ID)); err != nil {
				return err
			}
		}
		if err := putDelivery(tx, nil, d); err != nil {
			return err
		}
	}
	return nil
}

// recordingEvent is the event of a recording's move into state, "" when the state has none.
func recordingEvent(state string) string {
	switch state {
	case StateReady:
		return EventRecordingReady
	case StateFailed:
		return EventRecordingFailed
	case StateDiscarded:
		return EventRecordingDiscarded
	}
	return ""
}

// enqueueRecordingEvent enqueues the event of r's new state (called inside the transaction that
// changed it, after the change).
func (db *DB) enqueueRecordingEvent(tx *bolt.Tx, r *Recording) error {
	ev := recordingEvent(r.State)
	if ev == "" {
		return nil
	}
	return db.enqueueEvent(tx, r.CompanyID, ev, r, r.ID, r.CallID, "")
}

// ReportMissing records that call mc (which should have been recorded) ended without a
// recording: in one transaction it looks for a recording of the call (same company and DDI,
// started since mc.Since) that is not failed — one that is recording, processing, ready or
// discarded has, or will get, its own event — and, finding none, enqueues recording.missing for
// the company's webhooks, once per call and webhook however often it is reported. It reports
// whether the call is missing its recording (true also when the company has no webhook or the
// call was reported before). esl's Session calls it when it ends. Errors: EINVALID "company_id"/"call_id" (empty), EINTERNAL (disk).
func (db *DB) ReportMissing(ctx context.Context, mc MissingCall) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if mc.CompanyID == "" {
		return false, Invalid("company_id", "required")
	}
	if mc.CallID == "" {
		return false, Invalid("call_id", "required")
	}
	mc.Since = mc.Since.UTC()
	// Most calls were recorded: a read answers them without a write transaction (and its fsync).
	has := false
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		var err error
		has, err = callHasRecording(tx, mc)
		return err
	}); err != nil || has {
		return false, err
	}
	reported := false
	err := db.bolt.Batch(func(tx *bolt.Tx) error {
		reported = false
		has, err := callHasRecording(tx, mc)
		if err != nil || has {
			return err
		}
		reported = true
		return db.enqueueEvent(tx, mc.CompanyID, EventRecordingMissing, mc, "", mc.CallID, mc.CallID)
	})
	return reported, err
}

// callHasRecording walks the recordings of mc's DDI (or company) newest first, down to mc.Since,
// for one of the call that is not failed. Ids are ULIDs of StartedAt, so the walk stops at the
// first older id and costs what the DDI recorded during the call.
func callHasRecording(tx *bolt.Tx, mc MissingCall) (bool, error) {
	bucket, prefix := ixRecCompany, []byte(join(mc.CompanyID, ""))
	if mc.DDIID != "" {
		bucket, prefix = ixRecDDI, []byte(join(mc.CompanyID, mc.DDIID, ""))
	}
	since := uint64(max(mc.Since.UnixMilli()-1, 0))
	c := tx.Bucket(bucket).Cursor()
	end := append(slices.Clone(prefix), 0xff)
	k, _ := c.Seek(end)
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
		id := string(k[len(prefix):])
		if u, err := ulid.ParseStrict(id); err == nil && u.Time() < since {
			return false, nil
		}
		r, err := getRecording(tx, id)
		if err != nil {
			return false, err
		}
		if r.CallID == mc.CallID && r.State != StateFailed {
			return true, nil
		}
	}
	return false, nil
}

// EnqueuePing enqueues a ping delivery for webhook id (active or not), for POST
// /webhooks/{id}/test, and returns it. Errors: ENOTFOUND.
func (db *DB) EnqueuePing(ctx context.Context, id string) (*Delivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var d *Delivery
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		w, err := getRow(tx, bWebhooks, id, "webhook", decodeWebhook)
		if err != nil {
			return err
		}
		d, err = db.newDelivery(w, EventPing, map[string]string{"webhook_id": w.ID, "company_id": w.CompanyID}, "", "")
		if err != nil {
			return err
		}
		return putDelivery(tx, nil, d)
	})
	return d, err
}

// ---- the delivery queue ----

func deliveryEntries(d *Delivery) []entry {
	if d == nil {
		return nil
	}
	es := []entry{{ixDlvWebhook, join(d.WebhookID, d.ID), "", ""}}
	if d.State == DeliveryPending {
		at := d.LeaseUntil
		if d.NextAttemptAt != nil && d.NextAttemptAt.After(at) {
			at = *d.NextAttemptAt
		}
		es = append(es, entry{ixDlvDue, string(timeKey(at)) + d.ID, "", ""})
		if !d.LeaseUntil.IsZero() {
			es = append(es, entry{ixDlvLeased, d.ID, "", ""})
		}
	}
	return es
}

// ReleaseDeliveryLeases clears the lease of every pending delivery, so that attempts a process
// that died left under way are made again at once instead of when their lease ends, and returns
// how many it cleared. Only the webhook dispatcher calls it, at start, before it claims
// anything: the store's file lock makes this process the only one using the queue. It walks
// only the leased set (at most the workers of the dead process). Errors: EINTERNAL (disk).
func (db *DB) ReleaseDeliveryLeases(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		var ids []string
		if err := tx.Bucket(ixDlvLeased).ForEach(func(k, _ []byte) error { ids = append(ids, string(k)); return nil }); err != nil {
			return err
		}
		for _, id := range ids {
			old, err := getRow(tx, bDeliveries, id, "delivery", decodeDelivery)
			if err != nil {
				return err
			}
			d := *old
			d.LeaseUntil = time.Time{}
			if err := putDelivery(tx, old, &d); err != nil {
				return err
			}
		}
		n = len(ids)
		return nil
	})
	return n, err
}

// putDelivery stores d (old: its stored form, nil for a new one) with its index entries moved.
func putDelivery(tx *bolt.Tx, old, d *Delivery) error {
	if err := moveEntries(tx, deliveryEntries(old), deliveryEntries(d)); err != nil {
		return err
	}
	return putRow(tx, bDeliveries, d.ID, d, encodeDelivery)
}

func deleteDelivery(tx *bolt.Tx, id string) error {
	d, err := getRow(tx, bDeliveries, id, "delivery", decodeDelivery)
	if err != nil {
		return err
	}
	if err := moveEntries(tx, deliveryEntries(d), nil); err != nil {
		return err
	}
	if k := onceKey(d); k != nil && string(tx.Bucket(ixDlvOnce).Get(k)) == d.ID {
		if err := tx.Bucket(ixDlvOnce).Delete(k); err != nil {
			return err
		}
	}
	return tx.Bucket(bDeliveries).Delete([]byte(id))
}

// onceKey is the ixDlvOnce key of a delivery sent once per subject (recording.missing: once
// per call), nil for the others.
func onceKey(d *Delivery) []byte {
	if d.Event != EventRecordingMissing || d.CallID == "" {
		return nil
	}
	return []byte(join(d.WebhookID, d.Event, d.CallID))
}

// checkWebhookIndexes rebuilds the webhook and delivery indexes from their rows and reports the
// first difference (checkIndexes, for tests).
func checkWebhookIndexes(tx *bolt.Tx) error {
	if tx.Bucket(bWebhooks) == nil {
		return nil
	}
	want := map[string]map[string]string{}
	for _, b := range [][]byte{ixWebhookCo, ixDlvWebhook, ixDlvDue, ixDlvLeased, ixDlvOnce} {
		want[string(b)] = map[string]string{}
	}
	err := forEachRow(tx, bWebhooks, decodeWebhook, func(w *Webhook) error {
		want[string(ixWebhookCo)][join(w.CompanyID, w.ID)] = ""
		return nil
	})
	if err != nil {
		return err
	}
	err = forEachRow(tx, bDeliveries, decodeDelivery, func(d *Delivery) error {
		if tx.Bucket(bWebhooks).Get([]byte(d.WebhookID)) == nil {
			return fmt.Errorf("delivery %s: webhook %s missing", d.ID, d.WebhookID)
		}
		for _, e := range deliveryEntries(d) {
			want[string(e.bucket)][e.key] = e.val
		}
		if k := onceKey(d); k != nil {
			want[string(ixDlvOnce)][string(k)] = d.ID
		}
		return nil
	})
	if err != nil {
		return err
	}
	for name, m := range want {
		n := 0
		err := tx.Bucket([]byte(name)).ForEach(func(k, v []byte) error {
			n++
			if w, ok := m[string(k)]; !ok || w != string(v) {
				return fmt.Errorf("index %s: key %q -> %q, want %q (present %v)", name, k, v, w, ok)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n != len(m) {
			return fmt.Errorf("index %s: %d keys, want %d", name, n, len(m))
		}
	}
	return nil
}

// firstDueDelivery is the due-index key of the delivery claimable soonest if it is due at now.
func firstDueDelivery(tx *bolt.Tx, now time.Time) []byte {
	b := tx.Bucket(ixDlvDue)
	if b == nil {
		return nil
	}
	k, _ := b.Cursor().First()
	if len(k) <= timeKeyLen || bytes.Compare(k[:timeKeyLen], timeKey(now)) > 0 {
		return nil
	}
	return k
}

// ClaimDelivery leases the pending delivery due longest (next_attempt_at and any earlier lease
// past) for lease and counts the attempt, returning it with its webhook (Secret included). One
// index seek; an idle poll takes no write transaction. A delivery whose webhook is gone is
// removed. The webhook dispatcher calls it, then DeliveryDone before the lease ends (a holder
// that died leaves it claimable again when the lease ends). Errors: ENOTFOUND when none is due.
func (db *DB) ClaimDelivery(ctx context.Context, lease time.Duration) (*Delivery, *Webhook, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	due := false
	if err := db.bolt.View(func(tx *bolt.Tx) error { due = firstDueDelivery(tx, db.now()) != nil; return nil }); err != nil {
		return nil, nil, err
	}
	if !due {
		return nil, nil, NotFound("no delivery due")
	}
	var d *Delivery
	var w *Webhook
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		now := db.now()
		for {
			d, w = nil, nil
			k := firstDueDelivery(tx, now)
			if k == nil {
				return NotFound("no delivery due")
			}
			old, err := getRow(tx, bDeliveries, string(k[timeKeyLen:]), "delivery", decodeDelivery)
			if err != nil {
				return err
			}
			hook, err := getRow(tx, bWebhooks, old.WebhookID, "webhook", decodeWebhook)
			if ErrorCode(err) == ENOTFOUND {
				if err := deleteDelivery(tx, old.ID); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			upd := *old
			upd.LeaseUntil = now.Add(lease)
			upd.Attempts++
			d, w = &upd, hook
			return putDelivery(tx, old, &upd)
		}
	})
	if err != nil {
		return nil, nil, err
	}
	return d, w, nil
}

// DeliveryOutcome is the result of one attempt: Delivered for a 2xx answer; otherwise Retry at
// RetryAt, or, zero RetryAt, the delivery has failed for good. Status is the HTTP status (0: no
// answer), Error a short reason (cut to MaxDeliveryError).
type DeliveryOutcome struct {
	Delivered bool
	Status    int
	Error     string
	RetryAt   time.Time
}

// DeliveryDone records the outcome of the attempt on delivery id and ends its lease: delivered,
// pending again at RetryAt, or failed. Errors: ENOTFOUND (the webhook was deleted meanwhile).
func (db *DB) DeliveryDone(ctx context.Context, id string, o DeliveryOutcome) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.bolt.Update(func(tx *bolt.Tx) error {
		old, err := getRow(tx, bDeliveries, id, "delivery", decodeDelivery)
		if err != nil {
			return err
		}
		now := db.now()
		d := *old
		d.LeaseUntil, d.LastStatus, d.LastError = time.Time{}, o.Status, CutString(o.Error, MaxDeliveryError)
		switch {
		case o.Delivered:
			d.State, d.DeliveredAt, d.NextAttemptAt, d.LastError = DeliveryDelivered, &now, nil, ""
		case o.RetryAt.IsZero():
			d.State, d.NextAttemptAt = DeliveryFailed, nil
		default:
			at := o.RetryAt.UTC()
			d.State, d.NextAttemptAt = DeliveryPending, &at
		}
		return putDelivery(tx, old, &d)
	})
}

// CutString cuts s to at most n bytes of valid UTF-8 (a delivery's error and response, bounded).
// Anyone may call it.
func CutString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8RuneStart(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return strings.ToValidUTF8(s, "")
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// Delivery returns delivery id, or ENOTFOUND.
func (db *DB) Delivery(ctx context.Context, id string) (*Delivery, error) {
	var d *Delivery
	err := db.view(ctx, func(tx *bolt.Tx) error {
		var err error
		d, err = getRow(tx, bDeliveries, id, "delivery", decodeDelivery)
		return err
	})
	return d, err
}

// WebhookDeliveries returns up to limit deliveries of webhookID newest first, starting after
// beforeID ("" = the newest), by an index walk; more reports whether older ones remain. For
// the delivery log of the API. Errors: EINTERNAL (disk, decoding).
func (db *DB) WebhookDeliveries(ctx context.Context, webhookID, beforeID string, limit int) (out []*Delivery, more bool, err error) {
	out = []*Delivery{}
	err = db.view(ctx, func(tx *bolt.Tx) error {
		prefix := []byte(join(webhookID, ""))
		c := tx.Bucket(ixDlvWebhook).Cursor()
		var k []byte
		if beforeID != "" {
			k, _ = c.Seek(append(slices.Clone(prefix), beforeID...))
		} else {
			k, _ = c.Seek(append(slices.Clone(prefix), 0xff))
		}
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
			if len(out) == limit {
				more = true
				return nil
			}
			d, err := getRow(tx, bDeliveries, string(k[len(prefix):]), "delivery", decodeDelivery)
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	return out, more, err
}

// PruneDeliveries removes up to limit deliveries created before before (any state: a pending
// one that old has failed its retries long ago), oldest first, and returns how many. Ids are
// ULIDs of CreatedAt, so the walk reads only what it removes. The dispatcher calls it hourly
// with now - DeliveryRetention. Errors: EINTERNAL (disk).
func (db *DB) PruneDeliveries(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		n = 0
		var ids []string
		c := tx.Bucket(bDeliveries).Cursor()
		for k, _ := c.First(); k != nil && len(ids) < limit; k, _ = c.Next() {
			u, err := ulid.ParseStrict(string(k))
			if err == nil && u.Time() >= uint64(before.UnixMilli()) {
				break
			}
			ids = append(ids, string(k))
		}
		for _, id := range ids {
			if err := deleteDelivery(tx, id); err != nil {
				return err
			}
		}
		n = len(ids)
		return nil
	})
	return n, err
}
