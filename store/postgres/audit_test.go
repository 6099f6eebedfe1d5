package postgres

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// TestAppendAudit_InstancesAppendingAtOnceKeepOneChain: appenders on two instances extending
// one chain (and another beside it in the same calls) leave dense, linked chains that verify.
func TestAppendAudit_InstancesAppendingAtOnceKeepOneChain(t *testing.T) {
	a, dsn := mustOpen(t, Options{})
	b := mustOpenDSN(t, dsn, Options{})
	ctx := context.Background()
	const perWorker = 40
	var wg sync.WaitGroup
	for w, in := range []*DB{a, b, a, b} {
		wg.Go(func() {
			for i := range perWorker {
				err := in.AppendAudit(ctx,
					&store.AuditEntry{Action: store.AuditPlay, CompanyID: "C1", Role: "user", Detail: fmt.Sprintf("w%d i%d", w, i)},
					&store.AuditEntry{Action: store.AuditSettingChange, BrandID: "B1", Role: "brand"})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, chain := range []string{"company:C1", "brand:B1"} {
		v, err := a.VerifyAudit(ctx, chain)
		must(t, err)
		if !v.OK || v.Entries != 4*perWorker {
			t.Errorf("%s: %+v, want %d entries verified", chain, v, 4*perWorker)
		}
	}
	page, next, err := b.AuditPage(ctx, "company:C1", 0, 50)
	must(t, err)
	if len(page) != 50 || page[0].Seq != 4*perWorker || next != page[49].Seq {
		t.Errorf("newest page: %d entries from %d, next %d", len(page), page[0].Seq, next)
	}
}

// TestVerifyAudit_FindsTampering: an altered entry, a removed middle entry and a removed last
// entry each break verification at the sequence number store would name.
func TestVerifyAudit_FindsTampering(t *testing.T) {
	for _, c := range []struct {
		name, sql string
		broken    uint64
	}{
		{"altered", "UPDATE audit SET detail = 'nothing to see' WHERE seq = 2", 2},
		{"removed", "DELETE FROM audit WHERE seq = 2", 2},
		{"last removed", "DELETE FROM audit WHERE seq = 3", 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			db, _ := mustOpen(t, Options{})
			ctx := context.Background()
			for range 3 {
				must(t, db.AppendAudit(ctx, &store.AuditEntry{Action: store.AuditDelete, CompanyID: "C1", Role: "company_admin", Detail: "recording x"}))
			}
			if v, err := db.VerifyAudit(ctx, "company:C1"); err != nil || !v.OK {
				t.Fatalf("before: %+v, %v", v, err)
			}
			_, err := db.pool.Exec(ctx, c.sql)
			must(t, err)
			v, err := db.VerifyAudit(ctx, "company:C1")
			must(t, err)
			if v.OK || v.BrokenAt != c.broken {
				t.Errorf("after %s: %+v, want broken at %d", c.name, v, c.broken)
			}
		})
	}
}

// TestAppendAudit_HashesAsStore: the same entries appended to the bbolt store and here get the
// same hashes, so a chain moved from one backend to the other still verifies.
func TestAppendAudit_HashesAsStore(t *testing.T) {
	db, _ := mustOpen(t, Options{})
	ctx := context.Background()
	bolt, err := store.Open(ctx, filepath.Join(t.TempDir(), "callrec.db"), store.Options{NoSync: true})
	must(t, err)
	defer bolt.Close()
	at := time.Date(2026, 3, 1, 10, 0, 0, 123456000, time.UTC)
	for i := range 3 {
		mk := func() *store.AuditEntry {
			return &store.AuditEntry{At: at.Add(time.Duration(i) * time.Second), Action: store.AuditDownload, CompanyID: "C1",
				RecordingID: "R1", TokenID: "T1", Role: "user", Address: "192.0.2.1", Detail: "x"}
		}
		pe, be := mk(), mk()
		must(t, db.AppendAudit(ctx, pe))
		must(t, bolt.AppendAudit(ctx, be))
		if pe.Hash != be.Hash || pe.Seq != be.Seq {
			t.Fatalf("entry %d: postgres %d %s, store %d %s", i, pe.Seq, pe.Hash, be.Seq, be.Hash)
		}
	}
}
