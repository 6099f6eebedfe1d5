package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

func auditCases() []suiteCase {
	return []suiteCase{
		{"Audit/AppendPageVerify", testAudit},
		{"Audit/DeleteRecordingAudited", testDeleteRecordingAudited},
	}
}

func auditSeqs(es []*store.AuditEntry) []uint64 {
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

// AppendAudit chains entries per tenancy (Seq, PrevHash, Hash by store.AuditHash); AuditPage
// pages newest first; VerifyAudit finds the chains whole.
func testAudit(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	chain := store.AuditChain("", tn.company.ID)
	var entries []*store.AuditEntry
	for i := range 5 {
		entries = append(entries, &store.AuditEntry{Action: store.AuditPlay, BrandID: tn.brand.ID, CompanyID: tn.company.ID,
			RecordingID: "r", TokenID: "t", Role: store.RoleUser, Address: "192.0.2.1"})
		if i == 4 {
			entries[i].Detail = strings.Repeat("x", store.MaxAuditDetail+10)
		}
	}
	must(t, e.s.AppendAudit(e.ctx, entries[:2]...))
	e.clk.Advance(time.Second)
	must(t, e.s.AppendAudit(e.ctx, entries[2:]...))
	brandEntry := &store.AuditEntry{Action: store.AuditSettingChange, BrandID: tn.brand.ID, Role: store.RoleBrand, Detail: "changed: name"}
	platformEntry := &store.AuditEntry{Action: store.AuditTokenCreated, Role: store.RolePlatform, At: epoch().Add(-time.Hour)}
	must(t, e.s.AppendAudit(e.ctx, brandEntry, platformEntry))
	must(t, e.s.AppendAudit(e.ctx)) // nothing to append

	prev := ""
	for i, en := range entries {
		wantAt := epoch()
		if i >= 2 {
			wantAt = epoch().Add(time.Second)
		}
		h, err := store.AuditHash(en)
		must(t, err)
		if en.Seq != uint64(i+1) || en.Chain != chain || en.PrevHash != prev || en.Hash != h || !en.At.Equal(wantAt) {
			t.Fatalf("entry %d after AppendAudit: %+v (want seq %d, chain %s, at %v, linked to %q)", i, en, i+1, chain, wantAt, prev)
		}
		prev = en.Hash
	}
	if len(entries[4].Detail) != store.MaxAuditDetail {
		t.Errorf("a long detail kept %d bytes, want it cut to %d", len(entries[4].Detail), store.MaxAuditDetail)
	}
	if brandEntry.Chain != store.AuditChain(tn.brand.ID, "") || brandEntry.Seq != 1 || platformEntry.Chain != "platform" || !platformEntry.At.Equal(epoch().Add(-time.Hour)) {
		t.Fatalf("brand entry %+v, platform entry %+v", brandEntry, platformEntry)
	}

	page, next, err := e.s.AuditPage(e.ctx, chain, 0, 2)
	must(t, err)
	if got := auditSeqs(page); len(got) != 2 || got[0] != 5 || got[1] != 4 || next != 4 {
		t.Fatalf("first page %v next %d, want [5 4] next 4", got, next)
	}
	if page[0].Hash != entries[4].Hash || page[0].Address != "192.0.2.1" || page[0].TokenID != "t" || page[0].Action != store.AuditPlay {
		t.Fatalf("the stored entry %+v differs from the appended %+v", page[0], entries[4])
	}
	page, next, err = e.s.AuditPage(e.ctx, chain, next, 10)
	must(t, err)
	if got := auditSeqs(page); len(got) != 3 || got[0] != 3 || got[2] != 1 || next != 0 {
		t.Fatalf("second page %v next %d, want [3 2 1] next 0", got, next)
	}
	if page, _, err := e.s.AuditPage(e.ctx, "company:nobody", 0, 10); err != nil || len(page) != 0 {
		t.Fatalf("AuditPage of an empty chain = %d entries, %v", len(page), err)
	}

	verifications := []struct {
		chain   string
		entries uint64
	}{{chain, 5}, {store.AuditChain(tn.brand.ID, ""), 1}, {"platform", 1}, {"company:nobody", 0}}
	for _, v := range verifications {
		got, err := e.s.VerifyAudit(e.ctx, v.chain)
		if err != nil || !got.OK || got.Entries != v.entries || got.Chain != v.chain || got.BrokenAt != 0 {
			t.Errorf("VerifyAudit(%s) = %+v, %v; want ok with %d entries", v.chain, got, err, v.entries)
		}
	}
}

// DeleteRecordingAudited stores the deletion and its entry together: the entry audit makes of
// the old row is appended, none when audit is nil or returns nil, and a refused deletion (a
// legal hold) appends nothing.
func testDeleteRecordingAudited(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	chain := store.AuditChain("", tn.company.ID)
	entryOf := func(old *store.Recording) *store.AuditEntry {
		return &store.AuditEntry{Action: store.AuditDelete, CompanyID: old.CompanyID, RecordingID: old.ID, Role: store.RoleCompanyAdmin, Detail: old.CallID}
	}
	tests := []struct {
		name      string
		audit     func(old *store.Recording) *store.AuditEntry
		held      bool
		wantEntry bool
	}{
		{"with an entry", entryOf, false, true},
		{"nil audit", nil, false, false},
		{"audit returning nil", func(*store.Recording) *store.AuditEntry { return nil }, false, false},
		{"under a legal hold", entryOf, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRecording(tn.company.ID, time.Time{})
			r.CallID = "call-" + strings.ReplaceAll(tt.name, " ", "-")
			e.recording(t, r)
			if tt.held {
				must(t, e.s.PlaceHold(e.ctx, &store.Hold{CompanyID: tn.company.ID, Kind: store.HoldRecording, RecordingID: r.ID, Reason: "case"}, "test"))
			}
			before, err := e.s.VerifyAudit(e.ctx, chain)
			must(t, err)
			var seen *store.Recording
			audit := tt.audit
			if audit != nil {
				audit = func(old *store.Recording) *store.AuditEntry { seen = old; return tt.audit(old) }
			}
			old, err := e.s.DeleteRecordingAudited(e.ctx, r.ID, audit)
			if tt.held {
				checkCode(t, "DeleteRecordingAudited of a held recording", err, store.ECONFLICT, "hold")
				if _, err := e.s.Recording(e.ctx, r.ID); err != nil {
					t.Fatalf("the held recording is gone: %v", err)
				}
			} else {
				must(t, err)
				if old.ID != r.ID || old.CallID != r.CallID {
					t.Fatalf("DeleteRecordingAudited returned %+v", old)
				}
				if tt.audit != nil && (seen == nil || seen.ID != r.ID) {
					t.Fatalf("audit was called with %+v, want the row being deleted", seen)
				}
				_, err = e.s.Recording(e.ctx, r.ID)
				checkCode(t, "Recording after DeleteRecordingAudited", err, store.ENOTFOUND, "")
			}
			after, err := e.s.VerifyAudit(e.ctx, chain)
			must(t, err)
			want := before.Entries
			if tt.wantEntry {
				want++
			}
			if !after.OK || after.Entries != want {
				t.Fatalf("the chain has %d entries (ok %v), want %d", after.Entries, after.OK, want)
			}
			if tt.wantEntry {
				page, _, err := e.s.AuditPage(e.ctx, chain, 0, 1)
				must(t, err)
				if len(page) != 1 || page[0].RecordingID != r.ID || page[0].Action != store.AuditDelete || page[0].Detail != r.CallID || !page[0].At.Equal(e.clk.Now()) {
					t.Fatalf("the newest entry %+v, want the deletion of %s", page, r.ID)
				}
			}
		})
	}
	_, err := e.s.DeleteRecordingAudited(e.ctx, "no-such-recording", entryOf)
	checkCode(t, "DeleteRecordingAudited of a missing recording", err, store.ENOTFOUND, "")
}
