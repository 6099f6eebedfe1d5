package store

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestAudit_ChainsPagesAndDetectsTampering: entries go to their tenancy's chain in order,
// page newest first, and VerifyAudit finds an edited entry, a removed one in the middle and a
// removed last one (the head keeps the length).
func TestAudit_ChainsPagesAndDetectsTampering(t *testing.T) {
	ctx := context.Background()
	db, _ := openWithClock(t)
	for i := 0; i < 5; i++ {
		must(t, db.AppendAudit(ctx, &AuditEntry{Action: AuditPlay, CompanyID: "c1", RecordingID: "r", TokenID: "t", Role: RoleUser}))
	}
	must(t, db.AppendAudit(ctx, &AuditEntry{Action: AuditSettingChange, BrandID: "b1", Role: RoleBrand, Detail: "changed: name"}))
	chain := AuditChain("", "c1")
	page, next, err := db.AuditPage(ctx, chain, 0, 2)
	must(t, err)
	if len(page) != 2 || page[0].Seq != 5 || page[1].Seq != 4 || next != 4 {
		t.Fatalf("first page %d entries (%v, next %d)", len(page), seqs(page), next)
	}
	page, next, err = db.AuditPage(ctx, chain, next, 10)
	must(t, err)
	if len(page) != 3 || page[0].Seq != 3 || page[2].Seq != 1 || next != 0 {
		t.Fatalf("second page %v next %d", seqs(page), next)
	}
	if v, err := db.VerifyAudit(ctx, chain); err != nil || !v.OK || v.Entries != 5 {
		t.Fatalf("untouched chain: %+v %v", v, err)
	}
	if v, _ := db.VerifyAudit(ctx, AuditChain("b1", "")); !v.OK || v.Entries != 1 {
		t.Fatalf("brand chain: %+v", v)
	}
	tamper := func(fn func(b *bolt.Bucket)) {
		must(t, db.bolt.Update(func(tx *bolt.Tx) error { fn(tx.Bucket(bAudit)); return nil }))
	}
	tests := []struct {
		name   string
		fn     func(b *bolt.Bucket)
		broken uint64
	}{
		{"an edited entry", func(b *bolt.Bucket) {
			var e AuditEntry
			must(t, json.Unmarshal(b.Get(auditKey(chain, 3)), &e))
			e.TokenID = "someone-else"
			v, _ := json.Marshal(e)
			must(t, b.Put(auditKey(chain, 3), v))
		}, 3},
		{"a removed entry", func(b *bolt.Bucket) { must(t, b.Delete(auditKey(chain, 2))) }, 2},
		{"the last entry removed", func(b *bolt.Bucket) { must(t, b.Delete(auditKey(chain, 5))) }, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var saved map[string][]byte
			must(t, db.bolt.View(func(tx *bolt.Tx) error {
				saved = map[string][]byte{}
				return tx.Bucket(bAudit).ForEach(func(k, v []byte) error { saved[string(k)] = append([]byte(nil), v...); return nil })
			}))
			tamper(tt.fn)
			v, err := db.VerifyAudit(ctx, chain)
			must(t, err)
			if v.OK || v.BrokenAt != tt.broken {
				t.Errorf("verify %+v, want broken at %d", v, tt.broken)
			}
			tamper(func(b *bolt.Bucket) { // restore
				for k, v := range saved {
					must(t, b.Put([]byte(k), v))
				}
			})
		})
	}
}

func seqs(es []*AuditEntry) []uint64 {
	var out []uint64
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

// A deletion and its audit entry are one transaction: the entry is there with the deletion,
// and when the entry cannot be written (a damaged chain head) the recording is not deleted.
func TestDeleteRecordingAudited_DeletionAndEntryTogetherOrNeither(t *testing.T) {
	ctx := context.Background()
	db, _ := openWithClock(t)
	tn := mustTenant(t, db, "1")
	entry := func(old *Recording) *AuditEntry {
		return &AuditEntry{Action: AuditDelete, CompanyID: old.CompanyID, RecordingID: old.ID, Role: RoleCompanyAdmin}
	}
	kept := newRecording(tn.company.ID, time.Now())
	gone := newRecording(tn.company.ID, time.Now())
	must(t, db.CreateRecording(ctx, kept))
	must(t, db.CreateRecording(ctx, gone))

	if _, err := db.DeleteRecordingAudited(ctx, gone.ID, entry); err != nil {
		t.Fatal(err)
	}
	page, _, err := db.AuditPage(ctx, AuditChain("", tn.company.ID), 0, 10)
	must(t, err)
	if len(page) != 1 || page[0].RecordingID != gone.ID || page[0].Action != AuditDelete {
		t.Fatalf("audit after the deletion: %+v", page)
	}

	must(t, db.bolt.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bAuditHead).Put([]byte(AuditChain("", tn.company.ID)), []byte("{damaged"))
	}))
	if _, err := db.DeleteRecordingAudited(ctx, kept.ID, entry); err == nil {
		t.Fatal("deleted with an audit entry that could not be written")
	}
	if _, err := db.Recording(ctx, kept.ID); err != nil {
		t.Fatalf("the recording is gone although its audit entry was not written: %v", err)
	}
}
