package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

func adminCases() []suiteCase {
	return []suiteCase{
		{"Admin/Brands", testBrands},
		{"Admin/Companies", testCompanies},
		{"Admin/DeleteCompanyRefusedWithDependants", testDeleteCompanyDependants},
		{"Admin/DDIs", testDDIs},
		{"Admin/DDIAnnouncements", testDDIAnnouncements},
		{"Admin/Users", testUsers},
		{"Admin/SIPUserAmbiguity", testSIPUserAmbiguity},
		{"Admin/NotFound", testAdminNotFound},
		{"Admin/RulesReadYourWrites", testRulesReadYourWrites},
		{"Admin/SubscribeWokenByAdminWrite", testSubscribe},
	}
}

// CreateBrand fills ID and normalises; Brands lists in creation order; sip_domain is unique on
// create and update; a brand with companies cannot be deleted.
func testBrands(t *testing.T, e *env) {
	b := &store.Brand{Name: "  Acme  ", SIPDomain: "PBX.Acme.Example.COM."}
	must(t, e.s.CreateBrand(e.ctx, b))
	if b.ID == "" || b.Name != "Acme" || b.SIPDomain != "pbx.acme.example.com" {
		t.Fatalf("CreateBrand did not fill and normalise: %+v", b)
	}
	got, err := e.s.Brand(e.ctx, b.ID)
	must(t, err)
	if *got != *b {
		t.Fatalf("Brand = %+v, want %+v", got, b)
	}
	b2 := &store.Brand{Name: "Second"}
	must(t, e.s.CreateBrand(e.ctx, b2))
	all, err := e.s.Brands(e.ctx)
	must(t, err)
	if len(all) != 2 || all[0].ID != b.ID || all[1].ID != b2.ID {
		t.Fatalf("Brands = %+v, want [%s %s] in creation order", all, b.ID, b2.ID)
	}

	checkCode(t, "CreateBrand without name", e.s.CreateBrand(e.ctx, &store.Brand{Name: " "}), store.EINVALID, "name")
	checkCode(t, "CreateBrand with a taken sip_domain", e.s.CreateBrand(e.ctx, &store.Brand{Name: "X", SIPDomain: "pbx.acme.example.com"}), store.ECONFLICT, "sip_domain")
	b2.SIPDomain = "pbx.acme.example.com"
	checkCode(t, "UpdateBrand to a taken sip_domain", e.s.UpdateBrand(e.ctx, b2), store.ECONFLICT, "sip_domain")
	b2.SIPDomain, b2.Name = "second.example.com", "Second renamed"
	must(t, e.s.UpdateBrand(e.ctx, b2))
	if got, err := e.s.Brand(e.ctx, b2.ID); err != nil || got.Name != "Second renamed" || got.SIPDomain != "second.example.com" {
		t.Fatalf("after UpdateBrand: %+v %v", got, err)
	}
	b.Name = "Acme 2" // an update keeping its own sip_domain is no conflict with itself
	must(t, e.s.UpdateBrand(e.ctx, b))

	co := e.company(t, b.ID, "Dependant")
	checkCode(t, "DeleteBrand with a company", e.s.DeleteBrand(e.ctx, b.ID), store.ECONFLICT, "")
	must(t, e.s.DeleteCompany(e.ctx, co.ID))
	must(t, e.s.DeleteBrand(e.ctx, b.ID))
	_, err = e.s.Brand(e.ctx, b.ID)
	checkCode(t, "Brand after DeleteBrand", err, store.ENOTFOUND, "")
	// Its domain is free again.
	must(t, e.s.CreateBrand(e.ctx, &store.Brand{Name: "Heir", SIPDomain: "pbx.acme.example.com"}))
}

// CreateCompany fills defaults and strips the '*' of codes; the brand must exist; a company
// cannot move to another brand; Companies filters by brand.
func testCompanies(t *testing.T, e *env) {
	b1, b2 := &store.Brand{Name: "B1"}, &store.Brand{Name: "B2"}
	must(t, e.s.CreateBrand(e.ctx, b1))
	must(t, e.s.CreateBrand(e.ctx, b2))
	c := &store.Company{BrandID: b1.ID, Name: " Acme ", OnDemand: store.OnDemandKey, OnDemandCode: "*55", Country: "es"}
	must(t, e.s.CreateCompany(e.ctx, c))
	if c.ID == "" || c.Name != "Acme" || c.OnDemandCode != "55" || c.Country != "ES" || c.AllowRecordingRemoval == nil || !*c.AllowRecordingRemoval {
		t.Fatalf("CreateCompany did not fill: %+v", c)
	}
	plain := e.company(t, b1.ID, "Plain")
	if plain.OnDemand != store.OnDemandDisabled || !plain.RemovalAllowed() {
		t.Fatalf("defaults not filled: %+v", plain)
	}
	other := e.company(t, b2.ID, "Other")

	got, err := e.s.Company(e.ctx, c.ID)
	must(t, err)
	if got.Name != c.Name || got.BrandID != b1.ID || got.OnDemand != store.OnDemandKey || got.OnDemandCode != "55" || !got.RemovalAllowed() {
		t.Fatalf("Company = %+v, want %+v", got, c)
	}
	tests := []struct {
		brand string
		want  []string
	}{
		{b1.ID, []string{c.ID, plain.ID}},
		{b2.ID, []string{other.ID}},
		{"", []string{c.ID, plain.ID, other.ID}},
		{"no-such-brand", nil},
	}
	for _, tt := range tests {
		cs, err := e.s.Companies(e.ctx, tt.brand)
		must(t, err)
		var gotIDs []string
		for _, c := range cs {
			gotIDs = append(gotIDs, c.ID)
		}
		if !slices.Equal(gotIDs, tt.want) {
			t.Errorf("Companies(%q) = %v, want %v", tt.brand, gotIDs, tt.want)
		}
	}

	checkCode(t, "CreateCompany of a missing brand", e.s.CreateCompany(e.ctx, &store.Company{BrandID: "no-such-brand", Name: "X"}), store.EINVALID, "brand_id")
	checkCode(t, "CreateCompany with on_demand key and no code", e.s.CreateCompany(e.ctx, &store.Company{BrandID: b1.ID, Name: "X", OnDemand: store.OnDemandKey}), store.EINVALID, "on_demand_code")
	moved := *plain
	moved.BrandID = b2.ID
	checkCode(t, "UpdateCompany to another brand", e.s.UpdateCompany(e.ctx, &moved), store.EINVALID, "brand_id")
	no := false
	plain.AllowRecordingRemoval, plain.RetentionDays, plain.Name = &no, 30, "Plain renamed"
	must(t, e.s.UpdateCompany(e.ctx, plain))
	got, err = e.s.Company(e.ctx, plain.ID)
	must(t, err)
	if got.RemovalAllowed() || got.RetentionDays != 30 || got.Name != "Plain renamed" {
		t.Fatalf("after UpdateCompany: %+v", got)
	}
	plain.AllowRecordingRemoval = nil // nil means true
	must(t, e.s.UpdateCompany(e.ctx, plain))
	if got, _ := e.s.Company(e.ctx, plain.ID); got == nil || !got.RemovalAllowed() {
		t.Fatalf("nil allow_recording_removal not read as true: %+v", got)
	}
}

// DeleteCompany refuses while the company has DDIs, users, recordings, webhooks or an active
// legal hold, and succeeds once they are gone; it revokes the company's tokens.
func testDeleteCompanyDependants(t *testing.T, e *env) {
	b := &store.Brand{Name: "B"}
	must(t, e.s.CreateBrand(e.ctx, b))
	tests := []struct {
		name  string
		field string
		add   func(t *testing.T, co *store.Company) (remove func())
	}{
		{"a DDI", "", func(t *testing.T, co *store.Company) func() {
			d := &store.DDI{CompanyID: co.ID, Number: "+34910000001"}
			must(t, e.s.CreateDDI(e.ctx, d))
			return func() { must(t, e.s.DeleteDDI(e.ctx, d.ID)) }
		}},
		{"a user", "", func(t *testing.T, co *store.Company) func() {
			u := &store.User{CompanyID: co.ID, Extension: "200", SIPUser: "dep-user"}
			must(t, e.s.CreateUser(e.ctx, u))
			return func() { must(t, e.s.DeleteUser(e.ctx, u.ID)) }
		}},
		{"a recording", "", func(t *testing.T, co *store.Company) func() {
			r := e.recording(t, newRecording(co.ID, time.Time{}))
			return func() {
				_, err := e.s.DeleteRecording(e.ctx, r.ID)
				must(t, err)
			}
		}},
		{"a webhook", "", func(t *testing.T, co *store.Company) func() {
			w := &store.Webhook{CompanyID: co.ID, URL: "https://hooks.example.com/x", Active: true}
			_, err := e.s.CreateWebhook(e.ctx, w)
			must(t, err)
			return func() { must(t, e.s.DeleteWebhook(e.ctx, w.ID)) }
		}},
		{"an active legal hold", "hold", func(t *testing.T, co *store.Company) func() {
			from := e.clk.Now().Add(-time.Hour)
			to := e.clk.Now()
			h := &store.Hold{CompanyID: co.ID, Kind: store.HoldRange, From: &from, To: &to, Reason: "case 1"}
			must(t, e.s.PlaceHold(e.ctx, h, "test"))
			return func() {
				_, err := e.s.ReleaseHold(e.ctx, h.ID, "test")
				must(t, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			co := e.company(t, b.ID, "With "+tt.name)
			_, hash, err := store.NewTokenSecret()
			must(t, err)
			tok := &store.Token{Name: "admin", Role: store.RoleCompanyAdmin, CompanyID: co.ID, Hash: hash}
			must(t, e.s.CreateToken(e.ctx, tok))
			remove := tt.add(t, co)
			checkCode(t, "DeleteCompany with "+tt.name, e.s.DeleteCompany(e.ctx, co.ID), store.ECONFLICT, tt.field)
			if _, err := e.s.Company(e.ctx, co.ID); err != nil {
				t.Fatalf("company gone after a refused delete: %v", err)
			}
			remove()
			must(t, e.s.DeleteCompany(e.ctx, co.ID))
			_, err = e.s.Company(e.ctx, co.ID)
			checkCode(t, "Company after DeleteCompany", err, store.ENOTFOUND, "")
			_, err = e.s.TokenByHash(e.ctx, hash)
			checkCode(t, "the company's token after DeleteCompany", err, store.ENOTFOUND, "")
		})
	}
}

// CreateDDI normalises the number (national form with the default country), fills defaults,
// keeps numbers unique and needs an existing company.
func testDDIs(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	other := e.company(t, tn.brand.ID, "Other")
	d := &store.DDI{CompanyID: tn.company.ID, Number: "912 000 111"}
	must(t, e.s.CreateDDI(e.ctx, d))
	if d.ID == "" || d.Number != "+34912000111" || d.RecordCalls != store.RecordNone || d.Consent != store.ConsentNotice {
		t.Fatalf("CreateDDI did not fill: %+v", d)
	}
	for _, n := range []string{"+34912000111", "912000111"} {
		got, err := e.s.DDIByNumber(e.ctx, n)
		if err != nil || got.ID != d.ID {
			t.Errorf("DDIByNumber(%q) = %+v, %v; want %s", n, got, err, d.ID)
		}
	}
	_, err := e.s.DDIByNumber(e.ctx, "+34999999999")
	checkCode(t, "DDIByNumber of an unknown number", err, store.ENOTFOUND, "")

	checkCode(t, "CreateDDI with a taken number", e.s.CreateDDI(e.ctx, &store.DDI{CompanyID: other.ID, Number: "+34 912 000 111"}), store.ECONFLICT, "number")
	checkCode(t, "CreateDDI of a missing company", e.s.CreateDDI(e.ctx, &store.DDI{CompanyID: "no-such-company", Number: "+34912000999"}), store.EINVALID, "company_id")
	checkCode(t, "CreateDDI with a bad number", e.s.CreateDDI(e.ctx, &store.DDI{CompanyID: tn.company.ID, Number: "not a number"}), store.EINVALID, "number")

	upd := *d
	upd.Number = tn.ddi.Number
	checkCode(t, "UpdateDDI to a taken number", e.s.UpdateDDI(e.ctx, &upd), store.ECONFLICT, "number")
	upd.Number, upd.CompanyID, upd.RecordCalls = "+34912000222", other.ID, store.RecordInbound
	must(t, e.s.UpdateDDI(e.ctx, &upd)) // a DDI may move to another company
	got, err := e.s.DDI(e.ctx, d.ID)
	must(t, err)
	if got.Number != "+34912000222" || got.CompanyID != other.ID || got.RecordCalls != store.RecordInbound {
		t.Fatalf("after UpdateDDI: %+v", got)
	}
	_, err = e.s.DDIByNumber(e.ctx, "+34912000111")
	checkCode(t, "DDIByNumber of the number it left", err, store.ENOTFOUND, "")
	// The number it left is free again.
	must(t, e.s.CreateDDI(e.ctx, &store.DDI{CompanyID: tn.company.ID, Number: "+34912000111"}))

	ds, err := e.s.DDIs(e.ctx, other.ID)
	must(t, err)
	if len(ds) != 1 || ds[0].ID != d.ID {
		t.Fatalf("DDIs(other) = %+v, want [%s]", ds, d.ID)
	}
	if all, err := e.s.DDIs(e.ctx, ""); err != nil || len(all) != 3 {
		t.Fatalf("DDIs(\"\") = %d DDIs, %v; want 3", len(all), err)
	}
	must(t, e.s.DeleteDDI(e.ctx, d.ID))
	_, err = e.s.DDI(e.ctx, d.ID)
	checkCode(t, "DDI after DeleteDDI", err, store.ENOTFOUND, "")
	_, err = e.s.DDIByNumber(e.ctx, "+34912000222")
	checkCode(t, "DDIByNumber after DeleteDDI", err, store.ENOTFOUND, "")
}

// An announcement the call path would refuse is EINVALID "announcement"; one it plays is stored
// as given; DDIsWithInvalidAnnouncements names none of what the store accepted.
func testDDIAnnouncements(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	tests := []struct {
		ann string
		ok  bool
	}{
		{"ivr/ivr-call_being_recorded.wav", true},
		{"tone_stream://%(250,0,880)", true},
		{"file_string://a.wav!b.wav", true},
		{"${system(touch /tmp/x)}", false},
		{"$${sounds_dir}/disclaimer.wav", false},
	}
	for i, tt := range tests {
		d := &store.DDI{CompanyID: tn.company.ID, Number: fmt.Sprintf("+3491400%04d", i), RecordCalls: store.RecordInbound, Announcement: tt.ann}
		err := e.s.CreateDDI(e.ctx, d)
		if !tt.ok {
			checkCode(t, fmt.Sprintf("CreateDDI with announcement %q", tt.ann), err, store.EINVALID, "announcement")
			continue
		}
		must(t, err)
		if got, err := e.s.DDI(e.ctx, d.ID); err != nil || got.Announcement != tt.ann {
			t.Errorf("announcement %q stored as %+v, %v", tt.ann, got, err)
		}
	}
	press := &store.DDI{CompanyID: tn.company.ID, Number: "+34914009999", RecordCalls: store.RecordAll, Consent: store.ConsentPress1, Announcement: "a.wav"}
	checkCode(t, "press_1 consent on outbound calls", e.s.CreateDDI(e.ctx, press), store.EINVALID, "consent")
	bad, err := e.s.DDIsWithInvalidAnnouncements(e.ctx)
	must(t, err)
	if len(bad) != 0 {
		t.Fatalf("DDIsWithInvalidAnnouncements = %+v, want none (the store refused them all)", bad)
	}
}

// Extensions are unique in a company, sip_users in a brand; a user cannot change company;
// deleting one revokes its tokens.
func testUsers(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	tn2 := e.tenant(t, 2)
	sibling := e.company(t, tn.brand.ID, "Sibling")

	u := &store.User{CompanyID: tn.company.ID, Name: " Bob ", Extension: " 102 ", SIPUser: "bob1"}
	must(t, e.s.CreateUser(e.ctx, u))
	if u.ID == "" || u.Name != "Bob" || u.Extension != "102" {
		t.Fatalf("CreateUser did not fill and trim: %+v", u)
	}
	tests := []struct {
		name  string
		u     store.User
		code  string
		field string
	}{
		{"an extension taken in the company", store.User{CompanyID: tn.company.ID, Extension: "102", SIPUser: "other1"}, store.ECONFLICT, "extension"},
		{"the extension in another company", store.User{CompanyID: sibling.ID, Extension: "102", SIPUser: "other2"}, "", ""},
		{"a sip_user taken in the brand", store.User{CompanyID: sibling.ID, Extension: "103", SIPUser: "bob1"}, store.ECONFLICT, "sip_user"},
		{"the sip_user in another brand with a sip_domain", store.User{CompanyID: tn2.company.ID, Extension: "103", SIPUser: "bob1"}, "", ""},
		{"a missing company", store.User{CompanyID: "no-such-company", Extension: "104", SIPUser: "x"}, store.EINVALID, "company_id"},
		{"a bad extension", store.User{CompanyID: tn.company.ID, Extension: "1", SIPUser: "x"}, store.EINVALID, "extension"},
	}
	for _, tt := range tests {
		u := tt.u
		checkCode(t, "CreateUser with "+tt.name, e.s.CreateUser(e.ctx, &u), tt.code, tt.field)
	}

	got, err := e.s.UserBySIPUser(e.ctx, tn.brand.ID, "bob1")
	if err != nil || got.ID != u.ID {
		t.Fatalf("UserBySIPUser(brand 1, bob1) = %+v, %v; want %s", got, err, u.ID)
	}
	_, err = e.s.UserBySIPUser(e.ctx, tn.brand.ID, "nobody")
	checkCode(t, "UserBySIPUser of an unknown sip_user", err, store.ENOTFOUND, "")

	upd := *u
	upd.Extension = tn.user.Extension
	checkCode(t, "UpdateUser to a taken extension", e.s.UpdateUser(e.ctx, &upd), store.ECONFLICT, "extension")
	upd.Extension, upd.SIPUser = "102", tn.user.SIPUser
	checkCode(t, "UpdateUser to a taken sip_user", e.s.UpdateUser(e.ctx, &upd), store.ECONFLICT, "sip_user")
	upd.SIPUser, upd.CompanyID = "bob1", sibling.ID
	checkCode(t, "UpdateUser to another company", e.s.UpdateUser(e.ctx, &upd), store.EINVALID, "company_id")
	upd.CompanyID, upd.Extension, upd.SIPUser = tn.company.ID, "109", "bobby"
	must(t, e.s.UpdateUser(e.ctx, &upd))
	if got, err := e.s.User(e.ctx, u.ID); err != nil || got.Extension != "109" || got.SIPUser != "bobby" {
		t.Fatalf("after UpdateUser: %+v %v", got, err)
	}
	// Its old extension and sip_user are free again.
	must(t, e.s.CreateUser(e.ctx, &store.User{CompanyID: tn.company.ID, Extension: "102", SIPUser: "bob1"}))

	us, err := e.s.Users(e.ctx, tn.company.ID)
	must(t, err)
	if len(us) != 3 || us[0].ID != tn.user.ID || us[1].ID != u.ID {
		t.Fatalf("Users(company) = %d users, want 3 in creation order", len(us))
	}

	_, hash, err := store.NewTokenSecret()
	must(t, err)
	must(t, e.s.CreateToken(e.ctx, &store.Token{Name: "phone", Role: store.RoleUser, UserID: u.ID, Hash: hash}))
	must(t, e.s.DeleteUser(e.ctx, u.ID))
	_, err = e.s.User(e.ctx, u.ID)
	checkCode(t, "User after DeleteUser", err, store.ENOTFOUND, "")
	_, err = e.s.TokenByHash(e.ctx, hash)
	checkCode(t, "the user's token after DeleteUser", err, store.ENOTFOUND, "")
}

// A sip_user shared by two brands is refused (ECONFLICT "sip_user") as soon as one of them has
// no sip_domain, and so is clearing a domain that keeps such users apart ("sip_domain"):
// Rules.UserBySIP could no longer tell the phones apart.
func testSIPUserAmbiguity(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	tn2 := e.tenant(t, 2)
	bare := &store.Brand{Name: "No domain"}
	must(t, e.s.CreateBrand(e.ctx, bare))
	co := e.company(t, bare.ID, "Bare")
	checkCode(t, "CreateUser in a brand without domain with another brand's sip_user",
		e.s.CreateUser(e.ctx, &store.User{CompanyID: co.ID, Extension: "100", SIPUser: tn.user.SIPUser}), store.ECONFLICT, "sip_user")
	u := &store.User{CompanyID: co.ID, Extension: "100", SIPUser: "unique-here"}
	must(t, e.s.CreateUser(e.ctx, u))
	u.SIPUser = tn.user.SIPUser
	checkCode(t, "UpdateUser to another brand's sip_user in a brand without domain", e.s.UpdateUser(e.ctx, u), store.ECONFLICT, "sip_user")

	// Two brands with domains may share a sip_user; then neither may drop its domain.
	shared := &store.User{CompanyID: tn2.company.ID, Extension: "150", SIPUser: tn.user.SIPUser}
	must(t, e.s.CreateUser(e.ctx, shared))
	cleared := *tn2.brand
	cleared.SIPDomain = ""
	checkCode(t, "UpdateBrand clearing a domain that keeps a shared sip_user apart", e.s.UpdateBrand(e.ctx, &cleared), store.ECONFLICT, "sip_domain")
	must(t, e.s.DeleteUser(e.ctx, shared.ID))
	must(t, e.s.UpdateBrand(e.ctx, &cleared))
	if got, err := e.s.Brand(e.ctx, tn2.brand.ID); err != nil || got.SIPDomain != "" {
		t.Fatalf("after clearing the domain: %+v, %v", got, err)
	}
}

// Every admin method answers ENOTFOUND for an id that does not exist.
func testAdminNotFound(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	const missing = "01JAAAAAAAAAAAAAAAAAAAAAAA"
	tests := []struct {
		name string
		err  func() error
	}{
		{"Brand", func() error { _, err := e.s.Brand(e.ctx, missing); return err }},
		{"Brand of an empty id", func() error { _, err := e.s.Brand(e.ctx, ""); return err }},
		{"UpdateBrand", func() error { return e.s.UpdateBrand(e.ctx, &store.Brand{ID: missing, Name: "X"}) }},
		{"DeleteBrand", func() error { return e.s.DeleteBrand(e.ctx, missing) }},
		{"Company", func() error { _, err := e.s.Company(e.ctx, missing); return err }},
		{"UpdateCompany", func() error {
			return e.s.UpdateCompany(e.ctx, &store.Company{ID: missing, BrandID: tn.brand.ID, Name: "X"})
		}},
		{"DeleteCompany", func() error { return e.s.DeleteCompany(e.ctx, missing) }},
		{"DDI", func() error { _, err := e.s.DDI(e.ctx, missing); return err }},
		{"UpdateDDI", func() error {
			return e.s.UpdateDDI(e.ctx, &store.DDI{ID: missing, CompanyID: tn.company.ID, Number: "+34910000009"})
		}},
		{"DeleteDDI", func() error { return e.s.DeleteDDI(e.ctx, missing) }},
		{"User", func() error { _, err := e.s.User(e.ctx, missing); return err }},
		{"UpdateUser", func() error {
			return e.s.UpdateUser(e.ctx, &store.User{ID: missing, CompanyID: tn.company.ID, Extension: "555", SIPUser: "ghost"})
		}},
		{"DeleteUser", func() error { return e.s.DeleteUser(e.ctx, missing) }},
		{"Token", func() error { _, err := e.s.Token(e.ctx, missing); return err }},
		{"DeleteToken", func() error { return e.s.DeleteToken(e.ctx, missing) }},
		{"TouchToken", func() error { return e.s.TouchToken(e.ctx, missing, e.clk.Now()) }},
		{"Recording", func() error { _, err := e.s.Recording(e.ctx, missing); return err }},
		{"Job", func() error { _, err := e.s.Job(e.ctx, missing); return err }},
		{"Hold", func() error { _, err := e.s.Hold(e.ctx, missing); return err }},
		{"Webhook", func() error { _, err := e.s.Webhook(e.ctx, missing); return err }},
		{"Delivery", func() error { _, err := e.s.Delivery(e.ctx, missing); return err }},
	}
	for _, tt := range tests {
		checkCode(t, tt.name, tt.err(), store.ENOTFOUND, "")
	}
}

// Rules, read right after a write returns on the same store, already holds the write.
func testRulesReadYourWrites(t *testing.T, e *env) {
	v := e.s.Rules().Version()
	step := func(what string, check func(r *store.Rules) bool) {
		t.Helper()
		r := e.s.Rules()
		if r.Version() <= v {
			t.Errorf("%s: Rules version %d did not increase from %d", what, r.Version(), v)
		}
		v = r.Version()
		if !check(r) {
			t.Errorf("%s: not in the Rules snapshot read right after it returned", what)
		}
	}
	b := &store.Brand{Name: "B", SIPDomain: "pbx.rules.example.com"}
	must(t, e.s.CreateBrand(e.ctx, b))
	step("CreateBrand", func(r *store.Rules) bool {
		got, ok := r.BrandBySIPDomain("PBX.rules.example.com")
		return ok && got.ID == b.ID
	})
	c := &store.Company{BrandID: b.ID, Name: "C"}
	must(t, e.s.CreateCompany(e.ctx, c))
	step("CreateCompany", func(r *store.Rules) bool { _, ok := r.Company(c.ID); return ok })
	c.OnDemand, c.OnDemandCode = store.OnDemandKey, "42"
	must(t, e.s.UpdateCompany(e.ctx, c))
	step("UpdateCompany", func(r *store.Rules) bool {
		codes := r.OnDemandCodes()
		return len(codes) == 1 && codes[0] == store.CodeInUse{Code: "42", CompanyID: c.ID}
	})
	d := &store.DDI{CompanyID: c.ID, Number: "+34913000000", RecordCalls: store.RecordInbound}
	must(t, e.s.CreateDDI(e.ctx, d))
	step("CreateDDI", func(r *store.Rules) bool {
		got, co, ok := r.DDIByNumber("+34913000000")
		return ok && got.ID == d.ID && co.ID == c.ID && r.CompanyCountry(c.ID) == "ES"
	})
	d.Number = "+34913000001"
	must(t, e.s.UpdateDDI(e.ctx, d))
	step("UpdateDDI", func(r *store.Rules) bool {
		_, _, old := r.DDIByNumber("+34913000000")
		_, _, cur := r.DDIByNumber("+34913000001")
		return !old && cur
	})
	u := &store.User{CompanyID: c.ID, Extension: "100", SIPUser: "carol"}
	must(t, e.s.CreateUser(e.ctx, u))
	step("CreateUser", func(r *store.Rules) bool {
		bySIP, _, ok1 := r.UserBySIP("pbx.rules.example.com:5060", "carol")
		byExt, ok2 := r.UserByExtension(c.ID, "100")
		return ok1 && ok2 && bySIP.ID == u.ID && byExt.ID == u.ID
	})
	must(t, e.s.DeleteUser(e.ctx, u.ID))
	step("DeleteUser", func(r *store.Rules) bool { _, _, ok := r.User(u.ID); return !ok })
	must(t, e.s.DeleteDDI(e.ctx, d.ID))
	step("DeleteDDI", func(r *store.Rules) bool { _, _, ok := r.DDI(d.ID); return !ok })
	must(t, e.s.DeleteCompany(e.ctx, c.ID))
	step("DeleteCompany", func(r *store.Rules) bool {
		_, ok := r.Company(c.ID)
		return !ok && len(r.OnDemandCodes()) == 0
	})
	must(t, e.s.DeleteBrand(e.ctx, b.ID))
	step("DeleteBrand", func(r *store.Rules) bool { _, ok := r.Brand(b.ID); return !ok })
}

// A subscriber is woken after an admin write (fsconf regenerates on it).
func testSubscribe(t *testing.T, e *env) {
	ch, stop := e.s.Subscribe()
	defer stop()
	// Drain what an earlier change (the opening) may have left.
	select {
	case <-ch:
	default:
	}
	must(t, e.s.CreateBrand(e.ctx, &store.Brand{Name: "B"}))
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("Subscribe's channel was not woken within 10s of CreateBrand")
	}
}
