package postgres

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/callrec/callrec/store"
)

// ListRecordings returns one page of recordings matching f, newest first by (started_at, id),
// and the cursor of the next page ("" when there is none), as store.DB.ListRecordings. Keyset
// pagination: the cursor is the last row's (started_at, id) and the next page is the rows
// strictly below it, one range scan of the index whose equality prefix the filter fixes
// (recordings_company, _company_user, _company_ddi, _state; migrations/0001), so a deep page
// costs what the first does, and rows inserted while a client pages through are seen once or
// not at all, existing rows never skipped or repeated. Unlike store, a page is always full
// while next is not "" (no per-page scan bound: the other filters are evaluated by the server).
// Number is the number search of store/search.go (search.go: the same rows; one more condition
// of the page's query, served by the trigram index of migrations/0006).
// Errors: EINVALID ("cursor", "state", "type", "trigger", "limit", "to", "min_duration_ms",
// "number").
func (db *DB) ListRecordings(ctx context.Context, f store.RecordingFilter) ([]*store.Recording, store.Cursor, error) {
	if err := validateFilter(&f); err != nil {
		return nil, "", err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = store.DefaultListLimit
	}
	limit = min(limit, store.MaxListLimit)
	digits, err := db.numberDigits(ctx, &f)
	if err != nil {
		return nil, "", err
	}
	q, args, err := listQuery(&f, digits, limit+1) // one more: is there a next page?
	if err != nil {
		return nil, "", err
	}
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list recordings: %w", err)
	}
	defer rows.Close()
	var page []*store.Recording
	for rows.Next() {
		r, err := scanRecording(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list recordings: %w", err)
		}
		page = append(page, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list recordings: %w", err)
	}
	if len(page) <= limit {
		return page, "", nil
	}
	page = page[:limit]
	return page, encodeCursor(page[limit-1]), nil
}

// listQuery builds the page's SELECT: equality on the indexed prefix first, the keyset bound,
// then the other filters; digits (numberDigits, "" for none) is the number search.
func listQuery(f *store.RecordingFilter, digits string, n int) (string, []any, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	from := "recordings r"
	if f.BrandID != "" { // with a CompanyID of another brand: nothing to see
		from += " JOIN companies c ON c.id = r.company_id"
		where = append(where, "c.brand_id = "+arg(f.BrandID))
	}
	eq := func(col, v string) {
		if v != "" {
			where = append(where, col+" = "+arg(v))
		}
	}
	eq("r.company_id", f.CompanyID)
	eq("r.user_id", f.UserID)
	eq("r.ddi_id", f.DDIID)
	eq("r.state", f.State)
	eq("r.type", f.Type)
	eq("r.trigger", f.Trigger)
	eq("r.caller", f.Caller)
	eq("r.callee", f.Callee)
	if f.State == "" && !f.IncludeDiscarded {
		where = append(where, "r.state <> 'discarded'")
	}
	if digits != "" { // only digits: nothing for LIKE to escape
		where = append(where, numberDigitsExpr+" LIKE "+arg("%"+digits+"%"))
	}
	if f.MinDurationMS > 0 {
		where = append(where, "r.duration_ms >= "+arg(f.MinDurationMS))
	}
	if f.From != nil {
		where = append(where, "r.started_at >= "+arg(f.From.UTC()))
	}
	if f.To != nil {
		where = append(where, "r.started_at <= "+arg(f.To.UTC()))
	}
	if f.Cursor != "" {
		at, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return "", nil, err
		}
		// A row comparison: one index condition on (started_at, id) below the prefix.
		where = append(where, "(r.started_at, r.id) < ("+arg(at)+", "+arg(id)+")")
	}
	q := "SELECT " + prefixed("r.", recordingColumns) + " FROM " + from
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY r.started_at DESC, r.id DESC LIMIT " + arg(n)
	return q, args, nil
}

// prefixed qualifies every column of a comma-separated list with p.
func prefixed(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// encodeCursor is r's keyset position: started_at in µs since 1970 and the id.
func encodeCursor(r *store.Recording) store.Cursor {
	s := strconv.FormatInt(r.StartedAt.UnixMicro(), 10) + "." + r.ID
	return store.Cursor(base64.RawURLEncoding.EncodeToString([]byte(s)))
}

func decodeCursor(c store.Cursor) (time.Time, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(string(c))
	if err == nil {
		us, id, ok := strings.Cut(string(b), ".")
		n, perr := strconv.ParseInt(us, 10, 64)
		if _, uerr := ulid.ParseStrict(id); ok && perr == nil && uerr == nil {
			return time.UnixMicro(n).UTC(), id, nil
		}
	}
	return time.Time{}, "", store.Invalid("cursor", "not a cursor of this listing")
}

// validateFilter is store's RecordingFilter check (store/list.go); the number is checked by
// numberDigits.
func validateFilter(f *store.RecordingFilter) error {
	switch f.State {
	case "", store.StateRecording, store.StateProcessing, store.StateReady, store.StateFailed, store.StateDiscarded:
	default:
		return store.Invalid("state", "must be one of recording, processing, ready, failed, discarded")
	}
	switch f.Type {
	case "", store.TypeDDI, store.TypeOnDemand:
	default:
		return store.Invalid("type", "must be ddi or ondemand")
	}
	switch f.Trigger {
	case "", store.TriggerDDI, store.TriggerKey, store.TriggerDTMF, store.TriggerTransfer, store.TriggerAPI:
	default:
		return store.Invalid("trigger", "must be ddi, key, dtmf, transfer or api")
	}
	switch {
	case f.Limit < 0:
		return store.Invalid("limit", "must not be negative")
	case f.From != nil && f.To != nil && f.To.Before(*f.From):
		return store.Invalid("to", "before from")
	case f.MinDurationMS < 0:
		return store.Invalid("min_duration_ms", "must not be negative")
	}
	return nil
}
