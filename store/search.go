package store

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/callrec/callrec/e164"
)

// Number search (issue 13 target 3, issue 14 item 3).
//
// Every number a recording row carries (Caller, Callee, Recorder, when it is "+digits" or
// digits, 3–15 of them) is cut into its digit n-grams of two lengths, 3 and 6, and each
// distinct n-gram is one key company|gram|recording-id of ix_rec_number. Within one
// company|gram| range the keys sort by recording id, which is start time, so each range is a
// newest-first posting list of the rows whose numbers contain that gram. A search for the
// digits q walks the posting lists of a few grams that tile q (6-grams when q has 6 or more
// digits, else 3-grams) together, leapfrogging (each list seeks to the greatest id not above the
// others' current one) until all agree on an id: the walk visits only rows holding every tile,
// newest first, and a row read confirms q itself is in one of its numbers. A row matching
// through two parties or two positions holds one key per gram, so it is met once.
//
// Why two gram lengths and not every suffix: a prefix seek over company|suffix ranges returns
// the rows grouped by suffix, not newest first, and merging those groups costs one cursor per
// distinct number holding q (all of them for "346"). Why not every substring: 45 keys per
// 11-digit number. Two lengths give 15 keys per 11-digit number (at most 23 for 15 digits), the
// 6-gram lists are short enough that a full or long partial number walks almost only matches,
// and 3–5 digit queries, which match many rows, fill a page from the 3-gram lists quickly.

var ixRecNumber = []byte("ix_rec_number") // company|gram|recording -> "" (gram: 3 or 6 digits of a party number)

// Number search limits.
const (
	MinNumberQuery  = 3  // digits a number query needs (fewer: EINVALID "number")
	maxNumberDigits = 15 // E.164's longest number
	gramShort       = 3
	gramLong        = 6
)

// keyNumberIndexPending (in meta) marks the number index as being built by the migration:
// "\x00" + the last recording id indexed ("" = none yet).
var keyNumberIndexPending = []byte("number_index_pending")

// partyDigits returns the digits of a party number ("+34600111222" or "1001"), or "" when the
// value is not one (anonymous, a SIP URI token, too short or too long to be a number).
func partyDigits(s string) string {
	s = strings.TrimPrefix(s, "+")
	if len(s) < MinNumberQuery || len(s) > maxNumberDigits {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return ""
		}
	}
	return s
}

// numberEntries are the ix_rec_number keys of r: each distinct 3- and 6-gram of its party
// numbers, once.
func numberEntries(r *Recording) []entry {
	var grams []string
	seen := map[string]bool{}
	for _, p := range [...]string{r.Caller, r.Callee, r.Recorder} {
		d := partyDigits(p)
		for _, n := range [...]int{gramShort, gramLong} {
			for i := 0; i+n <= len(d); i++ {
				if g := d[i : i+n]; !seen[g] {
					seen[g] = true
					grams = append(grams, g)
				}
			}
		}
	}
	es := make([]entry, len(grams))
	for i, g := range grams {
		es[i] = entry{ixRecNumber, join(r.CompanyID, g, r.ID), "", ""}
	}
	return es
}

// searchDigits turns a number as people type it into the digits to look for: spaces, dots,
// dashes and parentheses are ignored; a leading "+" or "00" (the international prefix) is
// dropped; a complete national number of country (the company's) whose E.164 digits do not
// simply end with what was typed (a trunk prefix, as in the UK's 020…) becomes those digits.
// Anything else is a partial number, matched anywhere in a party's digits. Errors: EINVALID
// on field.
func searchDigits(raw, country, field string) (string, error) {
	s := strings.TrimSpace(raw)
	var b strings.Builder
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0, r == ' ', r == '-', r == '.', r == '(', r == ')':
		default:
			return "", Invalid(field, "%s must be a phone number (digits, spaces, a leading +)", field)
		}
	}
	d := b.String()
	switch {
	case strings.HasPrefix(s, "+"):
	case strings.HasPrefix(d, "00"):
		d = d[2:]
	case country != "":
		if n, err := e164.Normalize(s, country); err == nil && !strings.HasSuffix(n, d) {
			d = n[1:]
		}
	}
	if len(d) < MinNumberQuery {
		return "", Invalid(field, "%s needs at least %d digits", field, MinNumberQuery)
	}
	if len(d) > maxNumberDigits {
		return "", Invalid(field, "%s has more than %d digits", field, maxNumberDigits)
	}
	return d, nil
}

// CheckNumberQuery validates a number search as RecordingFilter.Number takes it, so that a
// caller can name its own field before listing (web does, for GET /recordings?number= and the
// archive's filter). Anyone may call it. Errors: EINVALID on field "number".
func CheckNumberQuery(raw string) error {
	if strings.TrimSpace(raw) == "" {
		return nil
	}
	_, err := searchDigits(raw, "", "number")
	return err
}

// NumberQueryDigits returns the digits a number search for raw looks for in the party numbers
// (the digits of Caller, Callee and Recorder, a leading "+" dropped, when they are 3–15 digits),
// reading a national number with country as ListRecordings does; "" for a blank query (no
// search). For package postgres, which matches the same digits in SQL. Errors: EINVALID
// "number".
func NumberQueryDigits(raw, country string) (string, error) {
	if strings.TrimSpace(raw) == "" {
		return "", nil
	}
	return searchDigits(raw, country, "number")
}

// queryGrams returns the grams whose posting lists the walk for digits d intersects: tiles of
// the long gram (6 or more digits) or of the short one, covering d.
func queryGrams(d string) []string {
	n := gramShort
	if len(d) >= gramLong {
		n = gramLong
	}
	var gs []string
	for i := 0; ; i += n {
		if i+n >= len(d) {
			i = len(d) - n
		}
		if g := d[i : i+n]; len(gs) == 0 || gs[len(gs)-1] != g {
			gs = append(gs, g)
		}
		if i+n == len(d) {
			return gs
		}
	}
}

// numberSearch is the index part of a filter: the digits of the number query and of exact
// caller/callee filters, in the order their posting lists are walked.
type numberSearch struct {
	number         string // digits of f.Number, "" when not set
	caller, callee bool   // f.Caller / f.Callee are numbers the index holds
	grams          []string
	key            string // what a cursor of this search is tied to
}

// numberSearchOf prepares the index walk for f, or returns nil when f has neither a number
// query nor an exact caller/callee number (the plain listing). country reads national numbers.
func numberSearchOf(f *RecordingFilter, country string) (*numberSearch, error) {
	ns := &numberSearch{}
	if strings.TrimSpace(f.Number) != "" { // blank: no search, as the page's emptied box sends
		d, err := searchDigits(f.Number, country, "number")
		if err != nil {
			return nil, err
		}
		ns.number = d
	}
	var parts []string
	if ns.number != "" {
		parts = append(parts, ns.number)
	}
	if d := partyDigits(f.Caller); d != "" {
		ns.caller = true
		parts = append(parts, d)
	}
	if d := partyDigits(f.Callee); d != "" {
		ns.callee = true
		parts = append(parts, d)
	}
	if len(parts) == 0 {
		return nil, nil
	}
	seen := map[string]bool{}
	for _, p := range parts {
		for _, g := range queryGrams(p) {
			if !seen[g] {
				seen[g] = true
				ns.grams = append(ns.grams, g)
			}
		}
	}
	ns.key = join("n", ns.number, f.Caller, f.Callee)
	return ns, nil
}

// matches confirms what the grams only suggest: the number query is in one of r's numbers.
// (The exact caller/callee comparison is RecordingFilter.match's.)
func (ns *numberSearch) matches(r *Recording) bool {
	if ns.number == "" {
		return true
	}
	for _, p := range [...]string{r.Caller, r.Callee, r.Recorder} {
		if strings.Contains(partyDigits(p), ns.number) {
			return true
		}
	}
	return false
}

// postings is one newest-first posting list: the ids after prefix in a bucket.
type postings struct {
	c      *bolt.Cursor
	prefix []byte
	buf    []byte
}

// below returns the greatest id of the list that sorts strictly below x.
func (p *postings) below(x []byte) ([]byte, bool) {
	p.buf = append(append(p.buf[:0], p.prefix...), x...)
	k, _ := p.c.Seek(p.buf)
	if k == nil {
		k, _ = p.c.Last()
	} else {
		k, _ = p.c.Prev()
	}
	if k == nil || len(k) != len(p.prefix)+ulid.EncodedSize || !bytes.HasPrefix(k, p.prefix) {
		return nil, false
	}
	return k[len(p.prefix):], true
}

// walker walks one company's posting lists together. top is the exclusive upper bound of what
// it has not resolved yet: every id at or above it is either head (when head is set: the id
// is top minus its trailing 0x00) or in no match.
type walker struct {
	lists  []*postings
	lowest []byte // ids below it are out of the date range
	top    []byte
	head   bool
	done   bool
}

// advance moves the walker below x: to the next id all lists hold (head), or, when budget runs
// out first, to where it stopped. Every list seek costs one unit of budget.
func (w *walker) advance(x []byte, budget *int) {
	w.head = false
	cur := append([]byte(nil), x...) // exclusive bound
	var t []byte
	agree := 0
	for i := 0; ; i = (i + 1) % len(w.lists) {
		if *budget <= 0 {
			w.top = cur
			return
		}
		*budget--
		id, ok := w.lists[i].below(cur)
		if !ok || w.lowest != nil && bytes.Compare(id, w.lowest) < 0 {
			w.done, w.top = true, nil
			return
		}
		if agree > 0 && bytes.Equal(id, t) {
			agree++
		} else {
			t, agree = append(t[:0], id...), 1
		}
		cur = append(append(cur[:0], t...), 0) // ids <= t
		if agree == len(w.lists) {
			w.head, w.top = true, cur
			return
		}
	}
}

// listByNumber is ListRecordings through ix_rec_number: one walker per company in scope,
// merged newest first. A cursor is ns.key|bound, the exclusive upper bound of the next page.
func (db *DB) listByNumber(tx *bolt.Tx, f *RecordingFilter, ns *numberSearch, limit int) ([]*Recording, Cursor, error) {
	upper, err := f.numberStart(ns)
	if err != nil {
		return nil, "", err
	}
	var lowest []byte
	if f.From != nil {
		lowest = []byte(idBound(*f.From))
	}
	var walkers []*walker
	for _, co := range companiesInScope(tx, f) {
		w := &walker{lowest: lowest}
		for _, g := range ns.grams {
			w.lists = append(w.lists, &postings{c: tx.Bucket(ixRecNumber).Cursor(), prefix: []byte(join(co, g, ""))})
		}
		switch {
		case f.UserID != "":
			w.lists = append(w.lists, &postings{c: tx.Bucket(ixRecUser).Cursor(), prefix: []byte(join(co, f.UserID, ""))})
		case f.DDIID != "":
			w.lists = append(w.lists, &postings{c: tx.Bucket(ixRecDDI).Cursor(), prefix: []byte(join(co, f.DDIID, ""))})
		}
		walkers = append(walkers, w)
	}
	// The first seeks of every walker are the scope's cost, not the rows': with them outside the
	// budget every page makes progress, however many companies a platform search spans.
	budget := maxScanPerPage + len(walkers)*(len(ns.grams)+2)
	for _, w := range walkers {
		w.advance(upper, &budget)
	}
	brandOf := map[string]string{}
	var page []*Recording
	var last []byte // exclusive bound below the last row examined
	for {
		var w *walker
		for _, c := range walkers {
			if !c.done && (w == nil || bytes.Compare(c.top, w.top) > 0) {
				w = c
			}
		}
		switch {
		case w == nil:
			return page, "", nil
		case len(page) == limit:
			return page, ns.cursor(last), nil
		case !w.head || budget <= 0:
			return page, ns.cursor(w.top), nil
		}
		id := w.top[:len(w.top)-1]
		budget--
		r, err := getRecording(tx, string(id))
		if err != nil {
			return nil, "", err
		}
		if ns.matches(r) && f.match(tx, r, brandOf) {
			page = append(page, r)
		}
		last = append(last[:0], id...)
		w.advance(id, &budget)
	}
}

// companiesInScope lists the companies a filter reaches: its company, its brand's, or all.
func companiesInScope(tx *bolt.Tx, f *RecordingFilter) []string {
	if f.CompanyID != "" {
		return []string{f.CompanyID}
	}
	var out []string
	if f.BrandID != "" {
		_ = walkChildren(tx, ixCompanyBrand, f.BrandID, func(id string) error {
			out = append(out, id)
			return nil
		})
		return out
	}
	_ = tx.Bucket(bCompanies).ForEach(func(k, _ []byte) error {
		out = append(out, string(k))
		return nil
	})
	return out
}

func (ns *numberSearch) cursor(bound []byte) Cursor {
	return Cursor(base64.RawURLEncoding.EncodeToString(append([]byte(join(ns.key, "")), bound...)))
}

// numberStart is the exclusive upper bound of a number search: the cursor's, or just above
// To, or above every id.
func (f *RecordingFilter) numberStart(ns *numberSearch) ([]byte, error) {
	upper := []byte{0xff}
	if f.To != nil {
		upper = []byte(idBound(f.To.Add(time.Millisecond)))
	}
	if f.Cursor == "" {
		return upper, nil
	}
	cur, err := base64.RawURLEncoding.DecodeString(string(f.Cursor))
	prefix := join(ns.key, "")
	if err != nil || !bytes.HasPrefix(cur, []byte(prefix)) {
		return nil, Invalid("cursor", "not a cursor of this listing")
	}
	cur = cur[len(prefix):]
	if n := len(cur); n != ulid.EncodedSize && n != ulid.EncodedSize+1 {
		return nil, Invalid("cursor", "not a cursor of this listing")
	}
	if bytes.Compare(cur, upper) < 0 {
		return cur, nil
	}
	return upper, nil
}

// buildNumberIndex finishes the number index the version 3 migration started, a few hundred
// rows per transaction so that a large store is not indexed in one huge commit; each commit
// records how far it got, so an interrupted build resumes at the next open. Open calls it
// before anyone else can use the DB.
func (db *DB) buildNumberIndex() error {
	const rowsPerTx = 500 // ~15,000 keys: bbolt splits nodes only at commit, larger commits memmove quadratically
	for {
		finished := false
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			meta := tx.Bucket(bMeta)
			v := meta.Get(keyNumberIndexPending)
			if v == nil {
				finished = true
				return nil
			}
			after := string(v[1:])
			c := tx.Bucket(bRecordings).Cursor()
			k, raw := c.Seek([]byte(after))
			if after != "" && k != nil && string(k) == after {
				k, raw = c.Next()
			}
			for n := 0; n < rowsPerTx; n++ {
				if k == nil {
					finished = true
					return meta.Delete(keyNumberIndexPending)
				}
				r, err := decodeRecording(raw)
				if err != nil {
					return fmt.Errorf("number index: decode recording %s: %w", k, err)
				}
				if err := moveEntries(tx, nil, numberEntries(r)); err != nil {
					return err
				}
				after = string(k)
				k, raw = c.Next()
			}
			return meta.Put(keyNumberIndexPending, []byte("\x00"+after))
		})
		if err != nil {
			return err
		}
		if finished {
			return nil
		}
	}
}

// migrateNumberIndex is schema version 3: the number index bucket, built by buildNumberIndex.
func migrateNumberIndex(tx *bolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(ixRecNumber); err != nil {
		return err
	}
	return tx.Bucket(bMeta).Put(keyNumberIndexPending, []byte{0})
}
