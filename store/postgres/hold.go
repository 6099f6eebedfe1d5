package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/callrec/callrec/store"
)

// Legal holds (store/hold.go). A hold and a deletion of one company's recordings must not
// interleave (a recording deleted after a hold covering it committed, because the deletion
// looked before): PlaceHold takes the company's hold lock exclusively, every deletion takes it
// shared, both transaction-level advisory locks, so a deletion either commits before the hold
// or sees it.

func holdLock(companyID string) int64 { return lockKey("holds:" + companyID) }

const holdColumns = "id, company_id, kind, recording_id, call_id, number, from_at, to_at, reason, created_by, created_at, released_by, released_at"

func scanHold(row pgx.Row) (*store.Hold, error) {
	var h store.Hold
	if err := row.Scan(&h.ID, &h.CompanyID, &h.Kind, &h.RecordingID, &h.CallID, &h.Number, &h.From, &h.To,
		&h.Reason, &h.CreatedBy, &h.CreatedAt, &h.ReleasedBy, &h.ReleasedAt); err != nil {
		return nil, err
	}
	h.CreatedAt = h.CreatedAt.UTC()
	for _, p := range []**time.Time{&h.From, &h.To, &h.ReleasedAt} {
		if *p != nil {
			t := (*p).UTC()
			*p = &t
		}
	}
	return &h, nil
}

// PlaceHold stores a new hold, as store.DB.PlaceHold: its number normalised (national form in
// the company's country, else Options.DefaultCountry), who recorded as CreatedBy. Errors:
// EINVALID (every invalid field; "company_id" for a missing company; "recording_id" for a
// recording hold on a recording not the company's).
func (db *DB) PlaceHold(ctx context.Context, h *store.Hold, who string) error {
	now := db.now()
	h.ID = db.newID(now)
	h.CreatedAt, h.CreatedBy, h.ReleasedAt, h.ReleasedBy = now, who, nil, ""
	h.Reason = strings.TrimSpace(h.Reason)
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", holdLock(h.CompanyID)); err != nil {
			return err
		}
		var country string
		if err := tx.QueryRow(ctx, "SELECT country FROM companies WHERE id = $1", h.CompanyID).Scan(&country); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return store.Invalid("company_id", "no such company")
			}
			return err
		}
		if country == "" {
			country = db.opts.DefaultCountry
		}
		if h.Kind == store.HoldNumber && h.Number != "" {
			if n, err := store.NormalizeNumber(h.Number, country); err == nil {
				h.Number = n
			}
		}
		if err := h.Validate(); err != nil {
			return err
		}
		if h.Kind == store.HoldRecording {
			var co string
			err := tx.QueryRow(ctx, "SELECT company_id FROM recordings WHERE id = $1", h.RecordingID).Scan(&co)
			if err != nil || co != h.CompanyID {
				return store.Invalid("recording_id", "no such recording in the company")
			}
		}
		_, err := tx.Exec(ctx, "INSERT INTO holds ("+holdColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, '', NULL)",
			h.ID, h.CompanyID, h.Kind, h.RecordingID, h.CallID, h.Number, h.From, h.To, h.Reason, h.CreatedBy, h.CreatedAt)
		return err
	})
}

// ReleaseHold ends hold id (kept as history with who and when), as store.DB.ReleaseHold.
// Errors: ENOTFOUND, ECONFLICT "hold" for a hold already released.
func (db *DB) ReleaseHold(ctx context.Context, id, who string) (*store.Hold, error) {
	var out *store.Hold
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		h, err := scanHold(tx.QueryRow(ctx, "SELECT "+holdColumns+" FROM holds WHERE id = $1 FOR UPDATE", id))
		if err != nil {
			return notFound(err, "hold not found")
		}
		if !h.Active() {
			return store.Conflict("hold", "hold %s was released on %s", h.ID, h.ReleasedAt.Format(time.RFC3339))
		}
		now := db.now()
		h.ReleasedAt, h.ReleasedBy = &now, who
		out = h
		_, err = tx.Exec(ctx, "UPDATE holds SET released_at = $2, released_by = $3 WHERE id = $1", id, now, who)
		return err
	})
	return out, err
}

// Hold returns hold id. Errors: ENOTFOUND.
func (db *DB) Hold(ctx context.Context, id string) (*store.Hold, error) {
	h, err := scanHold(db.pool.QueryRow(ctx, "SELECT "+holdColumns+" FROM holds WHERE id = $1", id))
	if err != nil {
		return nil, notFound(err, "hold not found")
	}
	return h, nil
}

// HoldOn returns the first active hold covering r (store.Hold.Covers decides), or nil. The
// sweeper asks it before removing a recording.
func (db *DB) HoldOn(ctx context.Context, r *store.Recording) (*store.Hold, error) {
	return holdOn(ctx, db.pool, r)
}

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func holdOn(ctx context.Context, q querier, r *store.Recording) (*store.Hold, error) {
	rows, err := q.Query(ctx, "SELECT "+holdColumns+" FROM holds WHERE company_id = $1 AND released_at IS NULL ORDER BY id", r.CompanyID)
	if err != nil {
		return nil, fmt.Errorf("holds: %w", err)
	}
	hs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Hold, error) { return scanHold(row) })
	if err != nil {
		return nil, fmt.Errorf("holds: %w", err)
	}
	for _, h := range hs {
		if h.Covers(r) {
			return h, nil
		}
	}
	return nil, nil
}

// DeleteRecording removes the recording and its queued job in one transaction and returns
// the deleted row so the caller can remove its files, as store.DB.DeleteRecording. Errors:
// ENOTFOUND, ECONFLICT "hold" while a legal hold covers it.
func (db *DB) DeleteRecording(ctx context.Context, id string) (*store.Recording, error) {
	return db.DeleteRecordingAudited(ctx, id, nil)
}

// DeleteRecordingAudited is DeleteRecording with the audit entry that audit makes of the row
// being deleted appended in the same transaction, as store.DB.DeleteRecordingAudited: the
// deletion and its entry are both stored or neither is (nil audit, or audit returning nil: no
// entry). The entry's At defaults to now, its Chain, Seq and hashes are filled as AppendAudit
// fills them. Callers: the API's deletions and erasures, the sweeper's removals. Errors:
// DeleteRecording's, the audit log's (the recording is kept then).
func (db *DB) DeleteRecordingAudited(ctx context.Context, id string, audit func(old *store.Recording) *store.AuditEntry) (*store.Recording, error) {
	var old *store.Recording
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var err error
		if old, err = deleteRecording(ctx, tx, id); err != nil {
			return err
		}
		if audit == nil {
			return nil
		}
		if e := audit(old); e != nil {
			return appendAudit(ctx, tx, db.now(), []*store.AuditEntry{e})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return old, nil
}

// deleteRecording deletes recording id (and its job) in tx unless a legal hold covers it, and
// returns the row as it was. It holds the company's hold lock shared and the row locked until
// tx ends. Errors: ENOTFOUND, ECONFLICT "hold", the database's.
func deleteRecording(ctx context.Context, tx pgx.Tx, id string) (*store.Recording, error) {
	var co string
	if err := tx.QueryRow(ctx, "SELECT company_id FROM recordings WHERE id = $1", id).Scan(&co); err != nil {
		return nil, notFound(err, "recording not found")
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock_shared($1)", holdLock(co)); err != nil {
		return nil, err
	}
	// Read after the lock: a hold committed before it is seen.
	old, err := scanRecording(tx.QueryRow(ctx, "SELECT "+recordingColumns+" FROM recordings WHERE id = $1 FOR UPDATE", id))
	if err != nil {
		return nil, notFound(err, "recording not found")
	}
	h, err := holdOn(ctx, tx, old)
	if err != nil {
		return nil, err
	}
	if h != nil {
		return nil, store.HeldConflict(h)
	}
	if _, err := tx.Exec(ctx, "DELETE FROM recordings WHERE id = $1", id); err != nil { // its job goes with it (ON DELETE CASCADE)
		return nil, fmt.Errorf("delete recording %s: %w", id, err)
	}
	return old, nil
}

// Holds returns the holds of the companies given (all when companyIDs is nil), oldest first
// per company; activeOnly leaves released ones out.
func (db *DB) Holds(ctx context.Context, companyIDs []string, activeOnly bool) ([]*store.Hold, error) {
	q := "SELECT " + holdColumns + " FROM holds WHERE ($1::text[] IS NULL OR company_id = ANY($1)) AND (NOT $2 OR released_at IS NULL)"
	if companyIDs == nil {
		return queryAll(ctx, db, q+" ORDER BY id", scanHold, nil, activeOnly)
	}
	return queryAll(ctx, db, q+" ORDER BY array_position($1, company_id), id", scanHold, companyIDs, activeOnly)
}
