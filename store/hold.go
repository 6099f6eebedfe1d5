package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/callrec/callrec/e164"
)

// Legal holds (issue 15 item 4): a company admin or a brand admin puts a recording, a call, a
// phone number or a date range of a company on hold, and every recording the hold covers
// survives retention, quota and deletion (ECONFLICT on field "hold", naming it) until the hold
// is released. Holds are kept after release, as their history. They live in bHolds keyed by
// company|hold, so a company's holds are one prefix walk and the check a deletion makes reads
// only that company's holds.

// bHolds holds the holds, keyed by company|hold id (schema v5).
var bHolds = []byte("holds")

// Hold kinds (Hold.Kind).
const (
	HoldRecording = "recording" // RecordingID
	HoldCall      = "call"      // CallID: every recording of the call
	HoldNumber    = "number"    // Number: every recording where it is the caller, callee or recorder
	HoldRange     = "range"     // From–To: every recording started in [From, To)
)

// MaxHoldReason bounds a hold's reason.
const MaxHoldReason = 500

// Hold is a legal hold on some of a company's recordings.
type Hold struct {
	ID          string     `json:"id"`
	CompanyID   string     `json:"company_id"`
	Kind        string     `json:"kind"`
	RecordingID string     `json:"recording_id,omitempty"`
	CallID      string     `json:"call_id,omitempty"`
	Number      string     `json:"number,omitempty"` // E.164
	From        *time.Time `json:"from,omitempty"`
	To          *time.Time `json:"to,omitempty"`
	Reason      string     `json:"reason"`
	CreatedBy   string     `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	ReleasedBy  string     `json:"released_by,omitempty"`
	ReleasedAt  *time.Time `json:"released_at,omitempty"`
}

// Active reports whether the hold has not been released.
func (h *Hold) Active() bool { return h.ReleasedAt == nil }

// Validate reports every invalid field at once (see InvalidFields). Anyone may call it.
func (h *Hold) Validate() error {
	var errs []error
	if h.CompanyID == "" {
		errs = append(errs, Invalid("company_id", "required"))
	}
	switch strings.TrimSpace(h.Reason) {
	case "":
		errs = append(errs, Invalid("reason", "required: why the recordings are held (a case or matter reference)"))
	default:
		if len(h.Reason) > MaxHoldReason || strings.ContainsAny(h.Reason, "\x00\r\n") {
			errs = append(errs, Invalid("reason", "at most %d characters on one line", MaxHoldReason))
		}
	}
	switch h.Kind {
	case HoldRecording:
		if h.RecordingID == "" {
			errs = append(errs, Invalid("recording_id", "required for a recording hold"))
		}
	case HoldCall:
		if h.CallID == "" || len(h.CallID) > 64 || strings.ContainsAny(h.CallID, " \x00\r\n") {
			errs = append(errs, Invalid("call_id", "required for a call hold: the recordings' call_id"))
		}
	case HoldNumber:
		if !e164.IsE164(h.Number) {
			errs = append(errs, Invalid("number", "required for a number hold: a complete phone number"))
		}
	case HoldRange:
		switch {
		case h.From == nil || h.To == nil:
			errs = append(errs, Invalid("from", "from and to are required for a range hold"))
		case !h.From.Before(*h.To):
			errs = append(errs, Invalid("to", "must be after from"))
		}
	default:
		errs = append(errs, Invalid("kind", "must be one of recording, call, number, range"))
	}
	return invalidFields(errs...)
}

// Covers reports whether the hold, while active, covers recording r.
func (h *Hold) Covers(r *Recording) bool {
	if !h.Active() || h.CompanyID != r.CompanyID {
		return false
	}
	switch h.Kind {
	case HoldRecording:
		return r.ID == h.RecordingID
	case HoldCall:
		return r.CallID == h.CallID
	case HoldNumber:
		want := strings.TrimPrefix(h.Number, "+")
		for _, p := range []string{r.Caller, r.Callee, r.Recorder} {
			// A party presented in national form matches the number it ends (over-holding is
			// the safe side of a legal hold).
			if d := partyDigits(p); d != "" && (d == want || len(d) >= 6 && strings.HasSuffix(want, d)) {
				return true
			}
		}
	case HoldRange:
		return !r.StartedAt.Before(*h.From) && r.StartedAt.Before(*h.To)
	}
	return false
}

// PlaceHold stores a new hold, its number normalised (national form in the company's country or
// the default one). who is recorded as CreatedBy (e.g. "token:<id>"). Errors: EINVALID (every
// invalid field), ENOTFOUND "company_id" is EINVALID ("no such company"), and for a recording
// hold EINVALID "recording_id" when that recording is not the company's.
func (db *DB) PlaceHold(ctx context.Context, h *Hold, who string) error {
	h.ID = db.newID(db.now())
	h.CreatedAt, h.CreatedBy, h.ReleasedAt, h.ReleasedBy = db.now().UTC(), who, nil, ""
	h.Reason = strings.TrimSpace(h.Reason)
	return db.adminUpdate(ctx, func(tx *bolt.Tx) error {
		var co Company
		if err := getJSON(tx, bCompanies, h.CompanyID, "company", &co); err != nil {
			if ErrorCode(err) == ENOTFOUND {
				return Invalid("company_id", "no such company")
			}
			return err
		}
		if h.Kind == HoldNumber && h.Number != "" {
			country := co.Country
			if country == "" {
				country = db.opts.DefaultCountry
			}
			if n, err := NormalizeNumber(h.Number, country); err == nil {
				h.Number = n
			}
		}
		if err := h.Validate(); err != nil {
			return err
		}
		if h.Kind == HoldRecording {
			r, err := getRecording(tx, h.RecordingID)
			if err != nil || r.CompanyID != h.CompanyID {
				return Invalid("recording_id", "no such recording in the company")
			}
		}
		return putJSON(tx, bHolds, join(h.CompanyID, h.ID), h)
	})
}

// ReleaseHold ends hold id (kept as history with who and when). Errors: ENOTFOUND, ECONFLICT
// "hold" for a hold already released.
func (db *DB) ReleaseHold(ctx context.Context, id, who string) (*Hold, error) {
	var out *Hold
	err := db.adminUpdate(ctx, func(tx *bolt.Tx) error {
		h, err := findHold(tx, id)
		if err != nil {
			return err
		}
		if !h.Active() {
			return Conflict("hold", "hold %s was released on %s", h.ID, h.ReleasedAt.Format(time.RFC3339))
		}
		now := db.now().UTC()
		h.ReleasedAt, h.ReleasedBy = &now, who
		out = h
		return putJSON(tx, bHolds, join(h.CompanyID, h.ID), h)
	})
	return out, err
}

// Hold returns hold id. Errors: ENOTFOUND.
func (db *DB) Hold(ctx context.Context, id string) (*Hold, error) {
	var out *Hold
	err := db.view(ctx, func(tx *bolt.Tx) (err error) {
		out, err = findHold(tx, id)
		return err
	})
	return out, err
}

// Holds returns the holds of the companies given (all of them when companyIDs is nil), oldest
// first per company; activeOnly leaves released ones out.
func (db *DB) Holds(ctx context.Context, companyIDs []string, activeOnly bool) ([]*Hold, error) {
	var out []*Hold
	err := db.view(ctx, func(tx *bolt.Tx) error {
		if companyIDs == nil {
			return forEachJSON(tx, bHolds, func(h *Hold) error {
				if !activeOnly || h.Active() {
					out = append(out, h)
				}
				return nil
			})
		}
		for _, co := range companyIDs {
			hs, err := companyHolds(tx, co, activeOnly)
			if err != nil {
				return err
			}
			out = append(out, hs...)
		}
		return nil
	})
	return out, err
}

// HoldOn returns the first active hold covering r, or nil. The sweeper asks it before removing
// a recording for retention or quota.
func (db *DB) HoldOn(ctx context.Context, r *Recording) (*Hold, error) {
	var out *Hold
	err := db.view(ctx, func(tx *bolt.Tx) (err error) {
		out, err = holdOn(tx, r)
		return err
	})
	return out, err
}

// holdOn is HoldOn inside a transaction: deletions call it in theirs.
func holdOn(tx *bolt.Tx, r *Recording) (*Hold, error) {
	hs, err := companyHolds(tx, r.CompanyID, true)
	if err != nil {
		return nil, err
	}
	for _, h := range hs {
		if h.Covers(r) {
			return h, nil
		}
	}
	return nil, nil
}

// HeldConflict is the error a deletion of a recording held by h gets (ECONFLICT "hold"): the
// store's own deletion answers it, and the API's dry runs name the same hold the same way.
func HeldConflict(h *Hold) error {
	return Conflict("hold", "the recording is on legal hold %s (%s) until it is released", h.ID, h.Reason)
}

func companyHolds(tx *bolt.Tx, companyID string, activeOnly bool) ([]*Hold, error) {
	b := tx.Bucket(bHolds)
	if b == nil {
		return nil, nil
	}
	prefix := []byte(join(companyID, ""))
	var out []*Hold
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		h := new(Hold)
		if err := json.Unmarshal(v, h); err != nil {
			return nil, fmt.Errorf("decode hold %s: %w", k, err)
		}
		if !activeOnly || h.Active() {
			out = append(out, h)
		}
	}
	return out, nil
}

// findHold looks a hold up by id alone: a walk of every hold (holds are few, and only the API's
// GET and release look one up this way).
func findHold(tx *bolt.Tx, id string) (*Hold, error) {
	var found *Hold
	if b := tx.Bucket(bHolds); b != nil && id != "" {
		suffix := []byte(sep + id)
		err := b.ForEach(func(k, v []byte) error {
			if found != nil || !bytes.HasSuffix(k, suffix) {
				return nil
			}
			h := new(Hold)
			if err := json.Unmarshal(v, h); err != nil {
				return fmt.Errorf("decode hold %s: %w", k, err)
			}
			found = h
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if found == nil {
		return nil, NotFound("hold %q not found", id)
	}
	return found, nil
}

// migrateHolds creates the holds bucket (schema v5).
func migrateHolds(tx *bolt.Tx) error {
	_, err := tx.CreateBucketIfNotExists(bHolds)
	return err
}

// deleteCompanyHolds removes the released holds of a company being deleted (it has no
// recordings left), and refuses while one is active: ECONFLICT "hold".
func deleteCompanyHolds(tx *bolt.Tx, companyID string) error {
	hs, err := companyHolds(tx, companyID, false)
	if err != nil {
		return err
	}
	for _, h := range hs {
		if h.Active() {
			return Conflict("hold", "company %s has the active legal hold %s", companyID, h.ID)
		}
	}
	for _, h := range hs {
		if err := tx.Bucket(bHolds).Delete([]byte(join(companyID, h.ID))); err != nil {
			return err
		}
	}
	return nil
}
