package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// MustOpenDB opens a fresh database in a temporary directory (NoSync, DefaultCountry ES) and
// closes it, checking every index against its rows, when the test ends.
func MustOpenDB(tb testing.TB) *DB {
	tb.Helper()
	db, err := Open(context.Background(), filepath.Join(tb.TempDir(), "data", "callrec.db"), Options{DefaultCountry: "ES", NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := db.bolt.View(checkIndexes); err != nil {
			tb.Errorf("indexes inconsistent at end of test: %v", err)
		}
		if err := db.Close(); err != nil {
			tb.Error(err)
		}
	})
	return db
}

// tenant is a brand with one company, a DDI and a user.
type tenant struct {
	brand   *Brand
	company *Company
	ddi     *DDI
	user    *User
}

func mustTenant(tb testing.TB, db *DB, n string) tenant {
	tb.Helper()
	ctx := context.Background()
	t := tenant{
		brand:   &Brand{Name: "Brand " + n, SIPDomain: "pbx" + n + ".example.com"},
		company: &Company{Name: "Company " + n, OnDemand: OnDemandKeyDTMF, OnDemandCode: "*7" + n[:1]},
	}
	must(tb, db.CreateBrand(ctx, t.brand))
	t.company.BrandID = t.brand.ID
	must(tb, db.CreateCompany(ctx, t.company))
	t.ddi = &DDI{CompanyID: t.company.ID, Number: "+3491123456" + n[:1], RecordCalls: RecordAll}
	must(tb, db.CreateDDI(ctx, t.ddi))
	t.user = &User{CompanyID: t.company.ID, Name: "Alice", Extension: "10" + n[:1], SIPUser: "alice" + n, Email: "alice@example.com"}
	must(tb, db.CreateUser(ctx, t.user))
	return t
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func wantCode(tb testing.TB, err error, code, field string) {
	tb.Helper()
	if ErrorCode(err) != code || ErrorField(err) != field {
		tb.Fatalf("error %v: got code %q field %q, want %q %q", err, ErrorCode(err), ErrorField(err), code, field)
	}
}

func checkDB(tb testing.TB, db *DB) {
	tb.Helper()
	if err := db.bolt.View(checkIndexes); err != nil {
		tb.Fatal(err)
	}
}

func newRecording(companyID string, at time.Time) *Recording {
	return &Recording{CompanyID: companyID, CallID: "call-1", Type: TypeDDI, Trigger: TriggerDDI, Direction: DirectionInbound,
		Recorder: "+34911234567", Caller: "+34600111222", Callee: "+34911234567", StartedAt: at}
}

type boltTx = bolt.Tx

// mustInsertRecordings creates rs exactly as CreateRecording does, but a few hundred per
// transaction, so tests can seed thousands of rows without paying a batch delay per row. (Not
// all in one: bbolt splits nodes only at commit, and the number index's keys land all over
// its tree, so one huge transaction memmoves quadratically.)
func mustInsertRecordings(tb testing.TB, db *DB, rs ...*Recording) {
	tb.Helper()
	for _, r := range rs {
		must(tb, db.prepareRecording(r))
	}
	for len(rs) > 0 {
		n := min(len(rs), 200)
		must(tb, db.bolt.Update(func(tx *bolt.Tx) error {
			for _, r := range rs[:n] {
				if err := insertRecording(tx, r); err != nil {
					return err
				}
			}
			return nil
		}))
		rs = rs[n:]
	}
}

func manyRecordings(companyID string, n int) []*Recording {
	rs := make([]*Recording, n)
	for i := range rs {
		rs[i] = newRecording(companyID, time.Time{})
	}
	return rs
}
