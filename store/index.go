package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// entry is one secondary-index key a row owns. A non-empty field makes the key unique: a
// different row already holding it is an ECONFLICT on that field.
type entry struct {
	bucket []byte
	key    string
	val    string
	field  string
}

func join(parts ...string) string {
	n := 0
	for _, p := range parts {
		n += len(p) + 1
	}
	b := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			b = append(b, sep...)
		}
		b = append(b, p...)
	}
	return string(b)
}

// moveEntries replaces a row's old index entries with its new ones, refusing duplicates of
// unique keys held by another row.
func moveEntries(tx *bolt.Tx, old, new []entry) error {
	for _, e := range new {
		if e.field == "" {
			continue
		}
		if v := tx.Bucket(e.bucket).Get([]byte(e.key)); v != nil && string(v) != e.val {
			return Conflict(e.field, "%s is already in use", e.field)
		}
	}
	// An entry in both old and new stays as it is: a state change of a recording rewrites its
	// state key, not its dozens of number keys.
	var both map[entryID]bool
	if len(old) > 0 && len(new) > 0 {
		inOld := make(map[entryID]bool, len(old))
		for _, e := range old {
			inOld[e.id()] = true
		}
		both = make(map[entryID]bool, len(new))
		for _, e := range new {
			if inOld[e.id()] {
				both[e.id()] = true
			}
		}
	}
	for _, e := range old {
		if both != nil && both[e.id()] {
			continue
		}
		if err := tx.Bucket(e.bucket).Delete([]byte(e.key)); err != nil {
			return err
		}
	}
	for _, e := range new {
		if both != nil && both[e.id()] {
			continue
		}
		if err := indexBucket(tx, e.bucket).Put([]byte(e.key), []byte(e.val)); err != nil {
			return err
		}
	}
	return nil
}

// indexBucket returns the bucket an entry goes to. The number index is filled at the end of
// each of its posting lists (ids grow), so its pages split full (bbolt splits at 50% by default,
// which left half of every page empty: 4.4 KB per recording at 1M rows).
func indexBucket(tx *bolt.Tx, name []byte) *bolt.Bucket {
	b := tx.Bucket(name)
	if bytes.Equal(name, ixRecNumber) {
		b.FillPercent = 0.9
	}
	return b
}

// entryID identifies an entry with its value.
type entryID struct{ bucket, key, val string }

func (e entry) id() entryID { return entryID{string(e.bucket), e.key, e.val} }

func hasPrefix(tx *bolt.Tx, bucket []byte, prefix string) bool {
	k, _ := tx.Bucket(bucket).Cursor().Seek([]byte(prefix))
	return k != nil && bytes.HasPrefix(k, []byte(prefix))
}

// getJSON decodes row id of bucket into v; what names the entity in the ENOTFOUND message.
func getJSON(tx *bolt.Tx, bucket []byte, id, what string, v any) error {
	b := tx.Bucket(bucket).Get([]byte(id))
	if b == nil || id == "" {
		return NotFound("%s %q not found", what, id)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s %s: %w", what, id, err)
	}
	return nil
}

func putJSON(tx *bolt.Tx, bucket []byte, id string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", id, err)
	}
	return tx.Bucket(bucket).Put([]byte(id), b)
}

func forEachJSON[T any](tx *bolt.Tx, bucket []byte, fn func(*T) error) error {
	return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
		t := new(T)
		if err := json.Unmarshal(v, t); err != nil {
			return fmt.Errorf("decode %s %s: %w", bucket, k, err)
		}
		return fn(t)
	})
}

// Per-entity index entries: the single definition used by writes, deletes and checkIndexes.

func brandEntries(b *Brand) []entry {
	if b == nil || b.SIPDomain == "" {
		return nil
	}
	return []entry{{ixBrandDomain, b.SIPDomain, b.ID, "sip_domain"}}
}

func companyEntries(c *Company) []entry {
	if c == nil {
		return nil
	}
	return []entry{{ixCompanyBrand, join(c.BrandID, c.ID), "", ""}}
}

func ddiEntries(d *DDI) []entry {
	if d == nil {
		return nil
	}
	return []entry{{ixDDICompany, join(d.CompanyID, d.ID), "", ""}, {ixDDINumber, d.Number, d.ID, "number"}}
}

func userEntries(u *User, brandID string) []entry {
	if u == nil {
		return nil
	}
	return []entry{
		{ixUserCompany, join(u.CompanyID, u.ID), "", ""},
		{ixUserSIP, join(brandID, u.SIPUser), u.ID, "sip_user"},
		{ixUserExt, join(u.CompanyID, u.Extension), u.ID, "extension"},
	}
}

func tokenEntries(t *Token) []entry {
	if t == nil {
		return nil
	}
	return []entry{{ixTokenHash, string(t.Hash), t.ID, "hash"}}
}

func recordingEntries(r *Recording) []entry {
	if r == nil {
		return nil
	}
	es := []entry{{ixRecCompany, join(r.CompanyID, r.ID), "", ""}, {ixRecState, join(r.State, r.ID), "", ""}}
	if r.UserID != "" {
		es = append(es, entry{ixRecUser, join(r.CompanyID, r.UserID, r.ID), "", ""})
	}
	if r.DDIID != "" {
		es = append(es, entry{ixRecDDI, join(r.CompanyID, r.DDIID, r.ID), "", ""})
	}
	return append(es, numberEntries(r)...)
}

func jobEntries(j *Job) []entry {
	if j == nil {
		return nil
	}
	return []entry{{ixJobRec, j.RecordingID, j.ID, "recording_id"}}
}

// checkedIndexes are the index buckets checkIndexes rebuilds: schema v1's and v3's number index.
var checkedIndexes = append(append(append([][]byte{}, indexBuckets...), queueIndexBuckets...), ixRecNumber)

// checkIndexes rebuilds every index from the rows and reports the first difference with what
// is stored. Tests (and a future `callrec check`) call it inside a read transaction.
func checkIndexes(tx *bolt.Tx) error {
	want := map[string]map[string]string{}
	for _, b := range checkedIndexes {
		want[string(b)] = map[string]string{}
	}
	add := func(es []entry) error {
		for _, e := range es {
			m := want[string(e.bucket)]
			if v, dup := m[e.key]; dup {
				return fmt.Errorf("index %s: key %q claimed by %q and %q", e.bucket, e.key, v, e.val)
			}
			m[e.key] = e.val
		}
		return nil
	}
	brandOf := map[string]string{}
	err := forEachJSON(tx, bBrands, func(b *Brand) error { return add(brandEntries(b)) })
	if err == nil {
		err = forEachJSON(tx, bCompanies, func(c *Company) error {
			brandOf[c.ID] = c.BrandID
			if tx.Bucket(bBrands).Get([]byte(c.BrandID)) == nil {
				return fmt.Errorf("company %s: brand %s missing", c.ID, c.BrandID)
			}
			return add(companyEntries(c))
		})
	}
	if err == nil {
		err = forEachJSON(tx, bDDIs, func(d *DDI) error { return add(ddiEntries(d)) })
	}
	if err == nil {
		err = forEachJSON(tx, bUsers, func(u *User) error { return add(userEntries(u, brandOf[u.CompanyID])) })
	}
	if err == nil {
		err = forEachRow(tx, bTokens, decodeToken, func(t *Token) error { return add(tokenEntries(t)) })
	}
	if err == nil {
		err = forEachRow(tx, bRecordings, decodeRecording, func(r *Recording) error {
			if _, ok := brandOf[r.CompanyID]; !ok {
				return fmt.Errorf("recording %s: company %s missing", r.ID, r.CompanyID)
			}
			return add(recordingEntries(r))
		})
	}
	if err == nil {
		err = forEachJSON(tx, bJobs, func(j *Job) error {
			if tx.Bucket(bRecordings).Get([]byte(j.RecordingID)) == nil {
				return fmt.Errorf("job %s: recording %s missing", j.ID, j.RecordingID)
			}
			return add(allJobEntries(j))
		})
	}
	if err != nil {
		return err
	}
	// FinishRecording writes the state and the job in one transaction: no processing
	// recording may be without its job.
	for k := range want[string(ixRecState)] {
		if st, id, _ := strings.Cut(k, sep); st == StateProcessing {
			if _, ok := want[string(ixJobRec)][id]; !ok {
				return fmt.Errorf("recording %s is processing but has no job", id)
			}
		}
	}
	for _, b := range checkedIndexes {
		m := want[string(b)]
		n := 0
		err := tx.Bucket(b).ForEach(func(k, v []byte) error {
			n++
			w, ok := m[string(k)]
			if !ok {
				return fmt.Errorf("index %s: stale key %q -> %q", b, k, v)
			}
			if w != string(v) {
				return fmt.Errorf("index %s: key %q -> %q, want %q", b, k, v, w)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n != len(m) {
			return fmt.Errorf("index %s: %d keys, want %d (missing entries)", b, n, len(m))
		}
	}
	if err := checkWebhookIndexes(tx); err != nil { // store/webhook.go
		return err
	}
	return checkTotals(tx)
}

func forEachRow[T any](tx *bolt.Tx, bucket []byte, dec func([]byte) (*T, error), fn func(*T) error) error {
	return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
		t, err := dec(v)
		if err != nil {
			return fmt.Errorf("decode %s %s: %w", bucket, k, err)
		}
		return fn(t)
	})
}

// Storage forms of the entities with internal fields that JSON for clients omits.

type tokenRow struct {
	Token
	Hash []byte `json:"hash"`
}

func encodeToken(t *Token) ([]byte, error) { return json.Marshal(tokenRow{Token: *t, Hash: t.Hash}) }

func decodeToken(b []byte) (*Token, error) {
	var row tokenRow
	if err := json.Unmarshal(b, &row); err != nil {
		return nil, err
	}
	t := row.Token
	t.Hash = row.Hash
	return &t, nil
}

type recordingRow struct {
	Recording
	WAVPath      string `json:"wav_path,omitempty"`
	MP3Path      string `json:"mp3_path,omitempty"`
	RecordedLeg  string `json:"recorded_leg,omitempty"`
	RequesterLeg string `json:"requester_leg,omitempty"`
}

func encodeRecording(r *Recording) ([]byte, error) {
	return json.Marshal(recordingRow{Recording: *r, WAVPath: r.WAVPath, MP3Path: r.MP3Path,
		RecordedLeg: r.RecordedLeg, RequesterLeg: r.RequesterLeg})
}

func decodeRecording(b []byte) (*Recording, error) {
	var row recordingRow
	if err := json.Unmarshal(b, &row); err != nil {
		return nil, err
	}
	r := row.Recording
	r.WAVPath, r.MP3Path = row.WAVPath, row.MP3Path
	r.RecordedLeg, r.RequesterLeg = row.RecordedLeg, row.RequesterLeg
	return &r, nil
}

func getRow[T any](tx *bolt.Tx, bucket []byte, id, what string, dec func([]byte) (*T, error)) (*T, error) {
	b := tx.Bucket(bucket).Get([]byte(id))
	if b == nil || id == "" {
		return nil, NotFound("%s %q not found", what, id)
	}
	t, err := dec(b)
	if err != nil {
		return nil, fmt.Errorf("decode %s %s: %w", what, id, err)
	}
	return t, nil
}

func putRow[T any](tx *bolt.Tx, bucket []byte, id string, t *T, enc func(*T) ([]byte, error)) error {
	b, err := enc(t)
	if err != nil {
		return fmt.Errorf("encode %s: %w", id, err)
	}
	return tx.Bucket(bucket).Put([]byte(id), b)
}
