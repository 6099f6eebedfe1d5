package store

import (
	"context"
	"strings"
)

// Recordings by person (issue 15 item 5, GDPR art. 15 and 17): everything a company keeps about
// one phone number, found through the number index and then matched exactly, so an erasure
// never takes a recording of a number that merely contains this one.

// InvolvesNumber reports whether e164 (a complete number, "+" and digits) is exactly the caller,
// the callee or the recorder of r.
func (r *Recording) InvolvesNumber(e164 string) bool {
	want := strings.TrimPrefix(e164, "+")
	for _, p := range []string{r.Caller, r.Callee, r.Recorder} {
		if d := partyDigits(p); d != "" && d == want {
			return true
		}
	}
	return false
}

// SubjectNumber normalises raw (international or national form, read with the company's
// country, else the default one) to the E.164 number whose recordings a subject request is
// about. Errors: ENOTFOUND for the company, EINVALID "number" for anything but a complete number.
func (db *DB) SubjectNumber(ctx context.Context, companyID, raw string) (string, error) {
	co, err := db.Company(ctx, companyID)
	if err != nil {
		return "", err
	}
	country := co.Country
	if country == "" {
		country = db.opts.DefaultCountry
	}
	n, err := NormalizeNumber(raw, country)
	if err != nil {
		return "", Invalid("number", "a complete phone number, international (+34 600 111 222) or national form")
	}
	return n, nil
}

// RecordingsOfNumber returns every recording of company companyID whose caller, callee or
// recorder is exactly e164, in any state (discarded included), newest first: an index walk of
// the number index, page by page. Errors: the listing's.
func (db *DB) RecordingsOfNumber(ctx context.Context, companyID, e164 string) ([]*Recording, error) {
	f := RecordingFilter{CompanyID: companyID, Number: e164, IncludeDiscarded: true, Limit: MaxListLimit}
	var out []*Recording
	for {
		page, next, err := db.ListRecordings(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, r := range page {
			if r.InvolvesNumber(e164) {
				out = append(out, r)
			}
		}
		if next == "" {
			return out, nil
		}
		f.Cursor = next
	}
}
