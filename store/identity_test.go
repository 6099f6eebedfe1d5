package store

import (
	"context"
	"testing"
)

// TestSIPUser_NoProvisioningMakesAPhoneAmbiguous: a sip_user that two brands share is refused
// (409 on the field) whenever a brand without sip_domain is involved, at user creation, at a
// user's rename and when a brand drops its sip_domain; brands that both have a domain may share.
func TestSIPUser_NoProvisioningMakesAPhoneAmbiguous(t *testing.T) {
	ctx := context.Background()
	type setup struct{ victimDomain, otherDomain string }
	newPair := func(t *testing.T, s setup) (db *DB, victim, other *Company, otherBrand *Brand) {
		db = MustOpenDB(t)
		vb := &Brand{Name: "Victim brand", SIPDomain: s.victimDomain}
		must(t, db.CreateBrand(ctx, vb))
		victim = &Company{BrandID: vb.ID, Name: "Victim", OnDemand: OnDemandDisabled}
		must(t, db.CreateCompany(ctx, victim))
		otherBrand = &Brand{Name: "Other brand", SIPDomain: s.otherDomain}
		must(t, db.CreateBrand(ctx, otherBrand))
		other = &Company{BrandID: otherBrand.ID, Name: "Other", OnDemand: OnDemandDisabled}
		must(t, db.CreateCompany(ctx, other))
		must(t, db.CreateUser(ctx, &User{CompanyID: victim.ID, Name: "Ana", Extension: "1001", SIPUser: "1001"}))
		return db, victim, other, otherBrand
	}
	createTests := []struct {
		name  string
		s     setup
		field string // "" = accepted
	}{
		{"neither brand has a sip_domain", setup{"", ""}, "sip_user"},
		{"the victim's brand has none", setup{"", "b.example.com"}, "sip_user"},
		{"the other brand has none", setup{"a.example.com", ""}, "sip_user"},
		{"both brands have a sip_domain", setup{"a.example.com", "b.example.com"}, ""},
	}
	for _, tt := range createTests {
		t.Run("create: "+tt.name, func(t *testing.T) {
			db, _, other, _ := newPair(t, tt.s)
			err := db.CreateUser(ctx, &User{CompanyID: other.ID, Name: "Mal", Extension: "2001", SIPUser: "1001"})
			if tt.field == "" {
				must(t, err)
				return
			}
			wantCode(t, err, ECONFLICT, tt.field)
		})
	}
	t.Run("rename to a shared sip_user", func(t *testing.T) {
		db, _, other, _ := newPair(t, setup{"", ""})
		u := &User{CompanyID: other.ID, Name: "Mal", Extension: "2001", SIPUser: "2001"}
		must(t, db.CreateUser(ctx, u))
		must(t, db.UpdateUser(ctx, u)) // itself is no conflict
		ren := *u
		ren.SIPUser = "1001"
		wantCode(t, db.UpdateUser(ctx, &ren), ECONFLICT, "sip_user")
	})
	t.Run("a brand drops its sip_domain", func(t *testing.T) {
		db, _, other, ob := newPair(t, setup{"a.example.com", "b.example.com"})
		must(t, db.CreateUser(ctx, &User{CompanyID: other.ID, Name: "Bo", Extension: "1001", SIPUser: "1001"}))
		drop := *ob
		drop.SIPDomain = ""
		wantCode(t, db.UpdateBrand(ctx, &drop), ECONFLICT, "sip_domain")
		other2 := &Brand{Name: "Third", SIPDomain: "c.example.com"}
		must(t, db.CreateBrand(ctx, other2))
		lone := *other2
		lone.SIPDomain = ""
		must(t, db.UpdateBrand(ctx, &lone)) // no shared sip_user: fine
	})
}
