package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/callrec/callrec/store"
)

// Number search (store/search.go): a number as people type it, matched as digits anywhere in
// the digits of a recording's caller, callee or recorder. store walks an n-gram index of its
// own; here column number_digits (migrations/0006: the party digits, computed by PostgreSQL
// from the row) and `LIKE '%digits%'` on it are the exact rule, served by its trigram GIN
// index, so both backends return the same rows. The listing keeps its keyset pages (list.go):
// the number is one more condition of the page's query, and the planner picks between the
// company's time index (a common number: the company's newest rows match soon) and the trigram
// index (a rarer one: few candidates, sorted).

// numberDigitsExpr is the column of migrations/0006 that recordings_number indexes, over the
// listing's alias r.
const numberDigitsExpr = "r.number_digits"

// numberDigits returns the digits f.Number searches for ("" when it is blank: no search),
// reading a national number in the country of f's company (its own, else that of most of its
// DDIs), else in Options.DefaultCountry, as store.DB.ListRecordings does. Errors: EINVALID
// "number"; the database's.
func (db *DB) numberDigits(ctx context.Context, f *store.RecordingFilter) (string, error) {
	if strings.TrimSpace(f.Number) == "" {
		return "", nil
	}
	country := db.opts.DefaultCountry
	if f.CompanyID != "" {
		c, err := db.companyCountry(ctx, f.CompanyID)
		if err != nil {
			return "", err
		}
		if c != "" {
			country = c
		}
	}
	return store.NumberQueryDigits(f.Number, country)
}

// companyCountry is store.Rules.CompanyCountry of companyID, built by store.NewRules from the
// company's row and its DDIs ("" for an unknown company), so the rule is store's own.
func (db *DB) companyCountry(ctx context.Context, companyID string) (string, error) {
	var c store.Company
	err := db.pool.QueryRow(ctx, "SELECT id, country FROM companies WHERE id = $1", companyID).Scan(&c.ID, &c.Country)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("company country: %w", err)
	}
	if c.Country != "" {
		return c.Country, nil
	}
	rows, err := db.pool.Query(ctx, "SELECT id, company_id, number FROM ddis WHERE company_id = $1 ORDER BY id", companyID)
	if err != nil {
		return "", fmt.Errorf("company country: %w", err)
	}
	ddis, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (d store.DDI, err error) {
		err = r.Scan(&d.ID, &d.CompanyID, &d.Number)
		return
	})
	if err != nil {
		return "", fmt.Errorf("company country: %w", err)
	}
	return store.NewRules(0, nil, []store.Company{c}, ddis, nil).CompanyCountry(companyID), nil
}

// SubjectNumber normalises raw (international or national form, read with the company's
// Country, else Options.DefaultCountry) to the E.164 number a subject request is about, as
// store.DB.SubjectNumber. Errors: ENOTFOUND for the company, EINVALID "number" for anything
// but a complete number.
func (db *DB) SubjectNumber(ctx context.Context, companyID, raw string) (string, error) {
	co, err := db.Company(ctx, companyID)
	if err != nil {
		return "", err
	}
	country := co.Country
	if country == "" {
		country = db.opts.DefaultCountry
	}
	n, err := store.NormalizeNumber(raw, country)
	if err != nil {
		return "", store.Invalid("number", "a complete phone number, international (+34 600 111 222) or national form")
	}
	return n, nil
}

// RecordingsOfNumber returns every recording of companyID whose caller, callee or recorder is
// exactly e164, in any state (discarded included), newest first, as
// store.DB.RecordingsOfNumber: the number search's pages, each row then matched exactly
// (store.Recording.InvolvesNumber), so a number that merely contains e164 is never taken.
// Errors: the listing's.
func (db *DB) RecordingsOfNumber(ctx context.Context, companyID, e164 string) ([]*store.Recording, error) {
	f := store.RecordingFilter{CompanyID: companyID, Number: e164, IncludeDiscarded: true, Limit: store.MaxListLimit}
	var out []*store.Recording
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
