package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"time"

	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"
)

// Cursor is an opaque position in a recordings listing: "" asks for the first page and, as a
// returned value, means there are no more pages. Pass it back with the same filter.
type Cursor string

// Listing limits.
const (
	DefaultListLimit = 50
	MaxListLimit     = 200
	maxScanPerPage   = 5000 // keys examined per call before returning a (possibly short) page
)

// RecordingFilter selects recordings for ListRecordings. Empty fields match everything; values
// are exact matches. CompanyID must be set for every role but platform (the web layer enforces
// tenancy); with BrandID alone, recordings of that brand's companies are listed.
type RecordingFilter struct {
	CompanyID        string
	BrandID          string
	From, To         *time.Time // on StartedAt, inclusive
	Type             string
	Trigger          string
	Caller           string
	Callee           string
	Number           string // a number as people type it: digits in caller, callee or recorder (search.go)
	DDIID            string
	UserID           string
	State            string
	MinDurationMS    int64
	IncludeDiscarded bool // discarded recordings are hidden unless this is set or State is "discarded"
	Limit            int  // default DefaultListLimit, capped at MaxListLimit
	Cursor           Cursor
}

// ListRecordings returns one page of recordings matching f, newest first, and the cursor of the
// next page ("" when no more rows can match). A Number query, or a Caller/Callee that is a
// number, walks the number index (search.go); otherwise it walks the narrowest index (company+user,
// company+DDI, company, state or all) backwards from the cursor, bounded by From/To through the
// time-sorted ids, so it never scans the whole table; a page may hold fewer than Limit rows
// while next is not "" when many rows in a row fail the other filters. Rows inserted while a
// client pages through are either seen once or not at all; existing rows are never skipped or
// repeated. Errors: EINVALID ("cursor", "state", "type", "trigger", "limit", "to", "number").
func (db *DB) ListRecordings(ctx context.Context, f RecordingFilter) ([]*Recording, Cursor, error) {
	if err := f.validate(); err != nil {
		return nil, "", err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)

	country := db.opts.DefaultCountry
	if c := db.Rules().CompanyCountry(f.CompanyID); c != "" {
		country = c
	}
	ns, err := numberSearchOf(&f, country)
	if err != nil {
		return nil, "", err
	}

	var page []*Recording
	var next Cursor
	err = db.view(ctx, func(tx *bolt.Tx) error {
		if f.CompanyID != "" && f.BrandID != "" {
			var c Company
			if err := getJSON(tx, bCompanies, f.CompanyID, "company", &c); err != nil || c.BrandID != f.BrandID {
				return nil // another tenant's company: nothing to see
			}
		}
		if ns != nil {
			var err error
			page, next, err = db.listByNumber(tx, &f, ns, limit)
			return err
		}
		bucket, prefix := f.index()
		start, err := f.startKey(prefix)
		if err != nil {
			return err
		}
		var lowest []byte
		if f.From != nil {
			lowest = append([]byte(prefix), idBound(*f.From)...)
		}
		brandOf := map[string]string{}
		c := tx.Bucket(bucket).Cursor()
		k := seekBefore(c, start)
		var lastKey []byte // last examined key: the next page starts below it
		for scanned := 0; ; scanned++ {
			if k == nil || !bytes.HasPrefix(k, []byte(prefix)) || lowest != nil && bytes.Compare(k, lowest) < 0 {
				return nil
			}
			if len(page) == limit || scanned == maxScanPerPage {
				next = Cursor(base64.RawURLEncoding.EncodeToString(lastKey))
				return nil
			}
			id := k[len(k)-ulid.EncodedSize:]
			r, err := getRecording(tx, string(id))
			if err != nil {
				return err
			}
			if f.match(tx, r, brandOf) {
				page = append(page, r)
			}
			lastKey = append(lastKey[:0], k...)
			k, _ = c.Prev()
		}
	})
	if err != nil {
		return nil, "", err
	}
	return page, next, nil
}

// seekBefore positions c on the greatest key strictly below start.
func seekBefore(c *bolt.Cursor, start []byte) []byte {
	k, _ := c.Seek(start)
	if k == nil {
		k, _ = c.Last()
		return k
	}
	k, _ = c.Prev()
	return k
}

// index picks the narrowest index for f: its bucket and the key prefix of the matching range.
func (f *RecordingFilter) index() ([]byte, string) {
	switch {
	case f.CompanyID != "" && f.UserID != "":
		return ixRecUser, join(f.CompanyID, f.UserID, "")
	case f.CompanyID != "" && f.DDIID != "":
		return ixRecDDI, join(f.CompanyID, f.DDIID, "")
	case f.CompanyID != "":
		return ixRecCompany, join(f.CompanyID, "")
	case f.State != "":
		return ixRecState, join(f.State, "")
	default:
		return bRecordings, ""
	}
}

// startKey is the exclusive upper bound of the walk: the cursor, or just above To, or the end
// of the prefix range.
func (f *RecordingFilter) startKey(prefix string) ([]byte, error) {
	var upper []byte
	if f.To != nil {
		upper = append([]byte(prefix), idBound(f.To.Add(time.Millisecond))...)
	} else {
		upper = append([]byte(prefix), 0xff)
	}
	if f.Cursor == "" {
		return upper, nil
	}
	cur, err := base64.RawURLEncoding.DecodeString(string(f.Cursor))
	if err != nil || !bytes.HasPrefix(cur, []byte(prefix)) || len(cur) != len(prefix)+ulid.EncodedSize {
		return nil, Invalid("cursor", "not a cursor of this listing")
	}
	if bytes.Compare(cur, upper) < 0 {
		return cur, nil
	}
	return upper, nil
}

// idBound is the smallest ULID string of t's millisecond: ids of recordings started at or
// after t (to the ms) are >= it.
func idBound(t time.Time) string {
	var id ulid.ULID
	if err := id.SetTime(ulid.Timestamp(t)); err != nil {
		return ""
	}
	return id.String()
}

func (f *RecordingFilter) validate() error {
	if f.State != "" && !validState(f.State) {
		return Invalid("state", "unknown state %q", f.State)
	}
	switch f.Type {
	case "", TypeDDI, TypeOnDemand:
	default:
		return Invalid("type", "must be ddi or ondemand")
	}
	switch f.Trigger {
	case "", TriggerDDI, TriggerKey, TriggerDTMF, TriggerTransfer, TriggerAPI:
	default:
		return Invalid("trigger", "must be ddi, key, dtmf, transfer or api")
	}
	if f.Limit < 0 {
		return Invalid("limit", "must not be negative")
	}
	if f.From != nil && f.To != nil && f.To.Before(*f.From) {
		return Invalid("to", "before from")
	}
	if f.MinDurationMS < 0 {
		return Invalid("min_duration_ms", "must not be negative")
	}
	return nil
}

func (f *RecordingFilter) match(tx *bolt.Tx, r *Recording, brandOf map[string]string) bool {
	switch {
	case f.CompanyID != "" && r.CompanyID != f.CompanyID,
		f.UserID != "" && r.UserID != f.UserID,
		f.DDIID != "" && r.DDIID != f.DDIID,
		f.State != "" && r.State != f.State,
		f.State == "" && !f.IncludeDiscarded && r.State == StateDiscarded,
		f.Type != "" && r.Type != f.Type,
		f.Trigger != "" && r.Trigger != f.Trigger,
		f.Caller != "" && r.Caller != f.Caller,
		f.Callee != "" && r.Callee != f.Callee,
		r.DurationMS < f.MinDurationMS,
		f.From != nil && r.StartedAt.Before(*f.From),
		f.To != nil && r.StartedAt.After(*f.To):
		return false
	}
	if f.BrandID != "" && f.CompanyID == "" {
		b, ok := brandOf[r.CompanyID]
		if !ok {
			var c Company
			if getJSON(tx, bCompanies, r.CompanyID, "company", &c) == nil {
				b = c.BrandID
			}
			brandOf[r.CompanyID] = b
		}
		return b == f.BrandID
	}
	return true
}
