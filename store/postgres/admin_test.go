package postgres

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// TestAdmin_WritesAsStore: the rule entities' writes keep store's defaults, normalisation and
// errors, and each reaches another instance's subscribers.
func TestAdmin_WritesAsStore(t *testing.T) {
	a, dsn := mustOpen(t, Options{DefaultCountry: "ES"})
	b := mustOpenDSN(t, dsn, Options{DefaultCountry: "ES"})
	waitFor(t, "b's listener", b.RulesListening)
	ch, unsubscribe := b.Subscribe()
	defer unsubscribe()
	ctx := context.Background()
	seen := func(what string) {
		t.Helper()
		waitSignal(t, time.Now(), ch, what)
	}
	drain(ch)
	br := &store.Brand{Name: " Demo ", SIPDomain: "PBX.Example.com."}
	must(t, a.CreateBrand(ctx, br))
	seen("brand created")
	if br.Name != "Demo" || br.SIPDomain != "pbx.example.com" {
		t.Errorf("brand not normalised: %+v", br)
	}
	if err := a.CreateBrand(ctx, &store.Brand{Name: "Other", SIPDomain: "pbx.example.com"}); store.ErrorField(err) != "sip_domain" {
		t.Errorf("second brand with the domain: %v, want ECONFLICT sip_domain", err)
	}
	co := &store.Company{BrandID: br.ID, Name: "Acme", OnDemand: store.OnDemandKeyDTMF, OnDemandCode: "*7"}
	must(t, a.CreateCompany(ctx, co))
	if co.OnDemandCode != "7" || co.AllowRecordingRemoval == nil || !*co.AllowRecordingRemoval {
		t.Errorf("company not normalised: %+v", co)
	}
	if err := a.CreateCompany(ctx, &store.Company{BrandID: "nope", Name: "X"}); store.ErrorField(err) != "brand_id" {
		t.Errorf("company of a missing brand: %v", err)
	}
	drain(ch)
	d := &store.DDI{CompanyID: co.ID, Number: "911 234 567", RecordCalls: store.RecordInbound}
	must(t, a.CreateDDI(ctx, d))
	seen("DDI created")
	if d.Number != "+34911234567" || d.Consent != store.ConsentNotice {
		t.Errorf("DDI not normalised: %+v", d)
	}
	if err := a.CreateDDI(ctx, &store.DDI{CompanyID: co.ID, Number: "+34911234567"}); store.ErrorField(err) != "number" {
		t.Errorf("second DDI with the number: %v", err)
	}
	if got, err := b.DDIByNumber(ctx, "911234567"); err != nil || got.ID != d.ID {
		t.Errorf("DDI by national number on the other instance: %+v, %v", got, err)
	}
	drain(ch)
	d.RecordCalls = store.RecordAll
	must(t, a.UpdateDDI(ctx, d))
	seen("DDI updated")
	u := &store.User{CompanyID: co.ID, Name: "Ana", Extension: "1001", SIPUser: "ana"}
	must(t, a.CreateUser(ctx, u))
	if err := a.CreateUser(ctx, &store.User{CompanyID: co.ID, Name: "Bo", Extension: "1001", SIPUser: "bo"}); store.ErrorField(err) != "extension" {
		t.Errorf("second user with the extension: %v", err)
	}
	if got, err := b.UserBySIPUser(ctx, br.ID, "ana"); err != nil || got.ID != u.ID {
		t.Errorf("user by sip_user: %+v, %v", got, err)
	}
	if err := a.DeleteCompany(ctx, co.ID); store.ErrorCode(err) != store.ECONFLICT {
		t.Errorf("delete of a company with DDIs: %v, want ECONFLICT", err)
	}
	if err := a.DeleteBrand(ctx, br.ID); store.ErrorCode(err) != store.ECONFLICT {
		t.Errorf("delete of a brand with companies: %v, want ECONFLICT", err)
	}
	co.BrandID = "other"
	if err := a.UpdateCompany(ctx, co); store.ErrorField(err) != "brand_id" {
		t.Errorf("company moved to another brand: %v", err)
	}
	co.BrandID = br.ID
	drain(ch)
	co.RetentionDays = 30
	must(t, a.UpdateCompany(ctx, co))
	seen("company updated")
	got, err := b.Company(ctx, co.ID)
	must(t, err)
	if got.RetentionDays != 30 {
		t.Errorf("company on the other instance: %+v", got)
	}
	_, hash, err := store.NewTokenSecret()
	must(t, err)
	tok := &store.Token{Name: "ana", Role: store.RoleUser, UserID: u.ID, Hash: hash}
	must(t, a.CreateToken(ctx, tok))
	must(t, a.DeleteUser(ctx, u.ID))
	if _, err := b.Token(ctx, tok.ID); store.ErrorCode(err) != store.ENOTFOUND {
		t.Errorf("token of a deleted user: %v, want revoked", err)
	}
	must(t, a.DeleteDDI(ctx, d.ID))
	must(t, a.DeleteCompany(ctx, co.ID))
	must(t, a.DeleteBrand(ctx, br.ID))
	for name, err := range map[string]error{"brand": a.DeleteBrand(ctx, br.ID), "company": a.DeleteCompany(ctx, co.ID),
		"ddi": a.DeleteDDI(ctx, d.ID), "user": a.DeleteUser(ctx, u.ID)} {
		if store.ErrorCode(err) != store.ENOTFOUND {
			t.Errorf("second delete of the %s: %v, want ENOTFOUND", name, err)
		}
	}
}

// TestCreateUser_AmbiguousSIPUserRefusedAcrossInstances: two instances creating, at the same
// moment, phones with one sip_user in two brands without sip_domain: exactly one succeeds
// (store's check, made under the admin lock so the two cannot both pass it).
func TestCreateUser_AmbiguousSIPUserRefusedAcrossInstances(t *testing.T) {
	a, dsn := mustOpen(t, Options{})
	b := mustOpenDSN(t, dsn, Options{})
	ctx := context.Background()
	for round := range 10 {
		var cos [2]string
		for i, in := range []*DB{a, b} {
			br := &store.Brand{Name: fmt.Sprintf("B%d-%d", round, i)}
			must(t, in.CreateBrand(ctx, br))
			co := &store.Company{BrandID: br.ID, Name: "C"}
			must(t, in.CreateCompany(ctx, co))
			cos[i] = co.ID
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		start := make(chan struct{})
		for i, in := range []*DB{a, b} {
			wg.Go(func() {
				<-start
				errs[i] = in.CreateUser(ctx, &store.User{CompanyID: cos[i], Name: "P", Extension: "1001", SIPUser: fmt.Sprintf("phone%d", round)})
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case store.ErrorField(err) != "sip_user":
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d of 2 ambiguous phones created, want 1 (%v)", round, ok, errs)
		}
	}
}
