package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestBrandCRUD(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	b := &Brand{Name: " Acme Telecom ", SIPDomain: "PBX.Acme.example."}
	must(t, db.CreateBrand(ctx, b))
	if b.ID == "" || b.Name != "Acme Telecom" || b.SIPDomain != "pbx.acme.example" {
		t.Fatalf("create did not fill/normalise: %+v", b)
	}
	got, err := db.Brand(ctx, b.ID)
	must(t, err)
	if *got != *b {
		t.Fatalf("got %+v want %+v", got, b)
	}
	b.Name, b.SIPDomain = "Acme", ""
	must(t, db.UpdateBrand(ctx, b))
	if _, ok := db.Rules().BrandBySIPDomain("pbx.acme.example"); ok {
		t.Fatal("domain index not moved on update")
	}
	list, err := db.Brands(ctx)
	must(t, err)
	if len(list) != 1 || list[0].Name != "Acme" {
		t.Fatalf("list %+v", list)
	}
	wantCode(t, db.UpdateBrand(ctx, &Brand{ID: "nope", Name: "x"}), ENOTFOUND, "")
	must(t, db.DeleteBrand(ctx, b.ID))
	_, err = db.Brand(ctx, b.ID)
	wantCode(t, err, ENOTFOUND, "")
	wantCode(t, db.DeleteBrand(ctx, b.ID), ENOTFOUND, "")
}

func TestCompanyCRUD_DefaultsAndDependents(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	tn := mustTenant(t, db, "1")
	c := &Company{BrandID: tn.brand.ID, Name: "Beta"}
	must(t, db.CreateCompany(ctx, c))
	if c.OnDemand != OnDemandDisabled || c.AllowRecordingRemoval == nil || !*c.AllowRecordingRemoval || !c.RemovalAllowed() {
		t.Fatalf("defaults not filled: %+v", c)
	}
	if tn.company.OnDemandCode != "71" {
		t.Fatalf("code stored with '*': %q", tn.company.OnDemandCode)
	}
	wantCode(t, db.CreateCompany(ctx, &Company{BrandID: "missing", Name: "x"}), EINVALID, "brand_id")
	no := false
	c.AllowRecordingRemoval, c.OnDemand, c.OnDemandCode, c.RetentionDays = &no, OnDemandKey, "9", 30
	must(t, db.UpdateCompany(ctx, c))
	got, err := db.Company(ctx, c.ID)
	must(t, err)
	if got.RemovalAllowed() || got.OnDemand != OnDemandKey || got.RetentionDays != 30 {
		t.Fatalf("update lost fields: %+v", got)
	}
	other := mustTenant(t, db, "2")
	moved := *c
	moved.BrandID = other.brand.ID
	wantCode(t, db.UpdateCompany(ctx, &moved), EINVALID, "brand_id")

	list, err := db.Companies(ctx, tn.brand.ID)
	must(t, err)
	if len(list) != 2 {
		t.Fatalf("brand has %d companies, want 2", len(list))
	}
	all, err := db.Companies(ctx, "")
	must(t, err)
	if len(all) != 3 {
		t.Fatalf("all companies %d, want 3", len(all))
	}
	wantCode(t, db.DeleteBrand(ctx, tn.brand.ID), ECONFLICT, "")
	wantCode(t, db.DeleteCompany(ctx, tn.company.ID), ECONFLICT, "") // DDIs and users
	must(t, db.DeleteCompany(ctx, c.ID))

	// A company with only a recording left still cannot go.
	must(t, db.DeleteDDI(ctx, tn.ddi.ID))
	must(t, db.DeleteUser(ctx, tn.user.ID))
	must(t, db.CreateRecording(ctx, newRecording(tn.company.ID, db.now())))
	wantCode(t, db.DeleteCompany(ctx, tn.company.ID), ECONFLICT, "")
}

func TestDDICRUD_NormalisesNumberAndKeepsItUnique(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	tn := mustTenant(t, db, "1")
	d := &DDI{CompanyID: tn.company.ID, Number: "0034 912 000 001"}
	must(t, db.CreateDDI(ctx, d))
	if d.Number != "+34912000001" || d.RecordCalls != RecordNone {
		t.Fatalf("not normalised/defaulted: %+v", d)
	}
	national := &DDI{CompanyID: tn.company.ID, Number: "912000002"}
	must(t, db.CreateDDI(ctx, national)) // DefaultCountry ES
	if national.Number != "+34912000002" {
		t.Fatalf("national number: %q", national.Number)
	}
	wantCode(t, db.CreateDDI(ctx, &DDI{CompanyID: tn.company.ID, Number: "+34 912 000 001"}), ECONFLICT, "number")
	wantCode(t, db.CreateDDI(ctx, &DDI{CompanyID: tn.company.ID, Number: "garbage"}), EINVALID, "number")
	wantCode(t, db.CreateDDI(ctx, &DDI{CompanyID: "missing", Number: "+34912000003"}), EINVALID, "company_id")

	got, err := db.DDIByNumber(ctx, "+34912000001")
	must(t, err)
	if got.ID != d.ID {
		t.Fatalf("by number: %+v", got)
	}
	// Renumbering frees the old number and takes the new one.
	d.Number = "+34912000009"
	must(t, db.UpdateDDI(ctx, d))
	_, err = db.DDIByNumber(ctx, "+34912000001")
	wantCode(t, err, ENOTFOUND, "")
	must(t, db.CreateDDI(ctx, &DDI{CompanyID: tn.company.ID, Number: "+34912000001"}))
	d.Number = "+34912000002"
	wantCode(t, db.UpdateDDI(ctx, d), ECONFLICT, "number")

	list, err := db.DDIs(ctx, tn.company.ID)
	must(t, err)
	if len(list) != 4 {
		t.Fatalf("%d DDIs, want 4", len(list))
	}
	// Moving a DDI to another company is allowed.
	other := mustTenant(t, db, "2")
	national.CompanyID = other.company.ID
	must(t, db.UpdateDDI(ctx, national))
	if _, c, ok := db.Rules().DDIByNumber("+34912000002"); !ok || c.ID != other.company.ID {
		t.Fatal("moved DDI not in the rules of its new company")
	}
	must(t, db.DeleteDDI(ctx, national.ID))
	_, err = db.DDI(ctx, national.ID)
	wantCode(t, err, ENOTFOUND, "")
}

func TestUserCRUD_ExtensionUniqueInCompanySIPUserUniqueInBrand(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	tn := mustTenant(t, db, "1")
	sister := &Company{BrandID: tn.brand.ID, Name: "Sister"}
	must(t, db.CreateCompany(ctx, sister))
	other := mustTenant(t, db, "2")

	wantCode(t, db.CreateUser(ctx, &User{CompanyID: tn.company.ID, Extension: tn.user.Extension, SIPUser: "bob"}), ECONFLICT, "extension")
	must(t, db.CreateUser(ctx, &User{CompanyID: sister.ID, Extension: tn.user.Extension, SIPUser: "bob"})) // same ext, other company
	wantCode(t, db.CreateUser(ctx, &User{CompanyID: sister.ID, Extension: "555", SIPUser: tn.user.SIPUser}), ECONFLICT, "sip_user")
	must(t, db.CreateUser(ctx, &User{CompanyID: other.company.ID, Extension: "555", SIPUser: tn.user.SIPUser})) // other brand
	wantCode(t, db.CreateUser(ctx, &User{CompanyID: "missing", Extension: "555", SIPUser: "zed"}), EINVALID, "company_id")

	got, err := db.UserBySIPUser(ctx, tn.brand.ID, tn.user.SIPUser)
	must(t, err)
	if got.ID != tn.user.ID {
		t.Fatalf("by sip user: %+v", got)
	}
	u := *tn.user
	u.Extension, u.SIPUser, u.Email = "199", "alice-new", ""
	must(t, db.UpdateUser(ctx, &u))
	_, err = db.UserBySIPUser(ctx, tn.brand.ID, tn.user.SIPUser)
	wantCode(t, err, ENOTFOUND, "")
	if _, ok := db.Rules().UserByExtension(tn.company.ID, "199"); !ok {
		t.Fatal("rules miss the new extension")
	}
	u.CompanyID = sister.ID
	wantCode(t, db.UpdateUser(ctx, &u), EINVALID, "company_id")

	list, err := db.Users(ctx, sister.ID)
	must(t, err)
	if len(list) != 1 || list[0].SIPUser != "bob" {
		t.Fatalf("users of sister: %+v", list)
	}
	must(t, db.DeleteUser(ctx, tn.user.ID))
	_, err = db.User(ctx, tn.user.ID)
	wantCode(t, err, ENOTFOUND, "")
}

func TestTokenCRUD_ScopeFilledHashHiddenAndRevocable(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	tn := mustTenant(t, db, "1")
	has, err := db.HasPlatformToken(ctx)
	must(t, err)
	if has {
		t.Fatal("fresh db has a platform token")
	}
	secret, hash, err := NewTokenSecret()
	must(t, err)
	tk := &Token{Name: "alice's phone app", Role: RoleUser, UserID: tn.user.ID, Hash: hash}
	must(t, db.CreateToken(ctx, tk))
	if tk.CompanyID != tn.company.ID || tk.BrandID != tn.brand.ID || tk.CreatedAt.IsZero() {
		t.Fatalf("scope not filled: %+v", tk)
	}
	js, _ := json.Marshal(tk)
	if strings.Contains(string(js), "hash") {
		t.Fatalf("hash serialised: %s", js)
	}
	got, err := db.TokenByHash(ctx, HashToken(secret))
	must(t, err)
	if got.ID != tk.ID || string(got.Hash) != string(hash) {
		t.Fatalf("by hash: %+v", got)
	}
	_, err = db.TokenByHash(ctx, HashToken(secret+"x"))
	wantCode(t, err, ENOTFOUND, "")
	wantCode(t, db.CreateToken(ctx, &Token{Role: RoleBrand, BrandID: tn.brand.ID, Hash: hash}), ECONFLICT, "hash")
	wantCode(t, db.CreateToken(ctx, &Token{Role: RoleCompanyAdmin, CompanyID: "missing", Hash: HashToken("b")}), EINVALID, "company_id")
	wantCode(t, db.CreateToken(ctx, &Token{Role: RoleUser, UserID: "missing", Hash: HashToken("c")}), EINVALID, "user_id")
	wantCode(t, db.CreateToken(ctx, &Token{Role: RoleBrand, BrandID: "missing", Hash: HashToken("d")}), EINVALID, "brand_id")

	admin := &Token{Role: RoleCompanyAdmin, CompanyID: tn.company.ID, UserID: "stray", Hash: HashToken("e")}
	must(t, db.CreateToken(ctx, admin))
	if admin.BrandID != tn.brand.ID || admin.UserID != "" {
		t.Fatalf("company_admin scope: %+v", admin)
	}
	must(t, db.CreateToken(ctx, &Token{Role: RolePlatform, BrandID: "stray", Hash: HashToken("f")}))
	has, err = db.HasPlatformToken(ctx)
	must(t, err)
	if !has {
		t.Fatal("platform token not seen")
	}
	list, err := db.Tokens(ctx, TokenFilter{CompanyID: tn.company.ID})
	must(t, err)
	if len(list) != 2 {
		t.Fatalf("company tokens %d, want 2", len(list))
	}
	at := db.now()
	must(t, db.TouchToken(ctx, tk.ID, at))
	got, err = db.Token(ctx, tk.ID)
	must(t, err)
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(at) {
		t.Fatalf("touch: %+v", got.LastUsedAt)
	}
	must(t, db.TouchToken(ctx, tk.ID, at.Add(TouchUnit/2)))
	if got, _ = db.Token(ctx, tk.ID); !got.LastUsedAt.Equal(at) {
		t.Fatal("touch within TouchUnit wrote again")
	}
	must(t, db.TouchToken(ctx, tk.ID, at.Add(TouchUnit)))
	if got, _ = db.Token(ctx, tk.ID); !got.LastUsedAt.Equal(at.Add(TouchUnit)) {
		t.Fatal("touch after TouchUnit not stored")
	}
	wantCode(t, db.TouchToken(ctx, "missing", at), ENOTFOUND, "")
	must(t, db.DeleteToken(ctx, tk.ID))
	_, err = db.TokenByHash(ctx, hash)
	wantCode(t, err, ENOTFOUND, "")
	wantCode(t, db.DeleteToken(ctx, tk.ID), ENOTFOUND, "")

	// Deleting the company's users revokes their tokens; deleting the company revokes admin tokens.
	u := &Token{Role: RoleUser, UserID: tn.user.ID, Hash: HashToken("g")}
	must(t, db.CreateToken(ctx, u))
	must(t, db.DeleteUser(ctx, tn.user.ID))
	_, err = db.Token(ctx, u.ID)
	wantCode(t, err, ENOTFOUND, "")
	must(t, db.DeleteDDI(ctx, tn.ddi.ID))
	must(t, db.DeleteCompany(ctx, tn.company.ID))
	_, err = db.Token(ctx, admin.ID)
	wantCode(t, err, ENOTFOUND, "")
}

func TestRules_SnapshotFollowsCommittedWrites(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	changed, cancel := db.Subscribe()
	defer cancel()
	v0 := db.Rules().Version()
	tn := mustTenant(t, db, "1")
	select {
	case <-changed:
	default:
		t.Fatal("no change notification")
	}
	r := db.Rules()
	if r.Version() <= v0 {
		t.Fatal("version did not grow")
	}
	d, c, ok := r.DDIByNumber(tn.ddi.Number)
	if !ok || d.ID != tn.ddi.ID || c.ID != tn.company.ID {
		t.Fatalf("DDIByNumber: %v %+v %+v", ok, d, c)
	}
	u, c, ok := r.UserBySIP("PBX1.example.com", "alice1")
	if !ok || u.ID != tn.user.ID || c.ID != tn.company.ID {
		t.Fatalf("UserBySIP by brand domain: %v %+v", ok, u)
	}
	if _, _, ok := r.UserBySIP("unknown.example", "alice1"); !ok {
		t.Fatal("platform-unique sip_user not found without a brand domain")
	}
	other := mustTenant(t, db, "2")
	clash := &User{CompanyID: other.company.ID, Extension: "300", SIPUser: "alice1"}
	must(t, db.CreateUser(ctx, clash))
	r2 := db.Rules()
	if _, _, ok := r2.UserBySIP("unknown.example", "alice1"); ok {
		t.Fatal("ambiguous sip_user must match nobody without a brand domain")
	}
	if u, _, ok := r2.UserBySIP("pbx2.example.com:5060", "alice1"); !ok || u.ID != clash.ID {
		t.Fatal("brand domain must pick the brand's user")
	}
	if _, _, ok := r2.UserBySIP("pbx1.example.com", "nobody"); ok {
		t.Fatal("unknown user in a known domain")
	}
	if _, _, ok := r.UserBySIP("unknown.example", "alice1"); !ok {
		t.Fatal("an old snapshot must not change")
	}
	if u, ok := r2.UserByExtension(tn.company.ID, tn.user.Extension); !ok || u.ID != tn.user.ID {
		t.Fatal("UserByExtension")
	}
	codes := r2.OnDemandCodes()
	if len(codes) != 2 || codes[0].Code != "71" || codes[1].Code != "72" {
		t.Fatalf("codes %+v", codes)
	}
	tn.company.OnDemand = OnDemandDisabled
	must(t, db.UpdateCompany(ctx, tn.company))
	if got := db.Rules().DistinctOnDemandCodes(); len(got) != 1 || got[0] != "72" {
		t.Fatalf("disabled company still has a code: %v", got)
	}
	c2, _ := db.Rules().Company(tn.company.ID)
	*c2.AllowRecordingRemoval = false
	if c3, _ := db.Rules().Company(tn.company.ID); !c3.RemovalAllowed() {
		t.Fatal("callers can mutate the snapshot")
	}
	// A failed write publishes nothing.
	v := db.Rules().Version()
	_ = db.CreateDDI(ctx, &DDI{CompanyID: tn.company.ID, Number: tn.ddi.Number})
	if db.Rules().Version() != v {
		t.Fatal("failed write changed the snapshot")
	}
}

func TestRules_ConcurrentAdminWritesAllVisibleOnceReturned(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	tn := mustTenant(t, db, "1")
	var wg sync.WaitGroup
	numbers := make(chan string, 40)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := &DDI{CompanyID: tn.company.ID, Number: fmt.Sprintf("+3491300%04d", i)}
			if err := db.CreateDDI(ctx, d); err != nil {
				t.Error(err)
				return
			}
			// Once CreateDDI has returned, the call path sees the DDI.
			if _, _, ok := db.Rules().DDIByNumber(d.Number); !ok {
				t.Errorf("DDI %s not in the snapshot after CreateDDI returned", d.Number)
			}
			numbers <- d.Number
		}()
	}
	wg.Wait()
	close(numbers)
	r := db.Rules()
	for n := range numbers {
		if _, _, ok := r.DDIByNumber(n); !ok {
			t.Fatalf("DDI %s missing from final snapshot", n)
		}
	}
}

// TestRules_CompanyCountry: the company's own country, else the region of most of its DDIs, else
// none; a change reaches the snapshot; a lower-case code is stored upper-case.
func TestRules_CompanyCountry(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	es := mustTenant(t, db, "1") // one DDI +349112345671
	if got := db.Rules().CompanyCountry(es.company.ID); got != "ES" {
		t.Errorf("company with a +34 DDI: country %q, want ES (derived)", got)
	}
	for _, n := range []string{"+12125550100", "+12125550101"} {
		must(t, db.CreateDDI(ctx, &DDI{CompanyID: es.company.ID, Number: n, RecordCalls: RecordNone}))
	}
	if got := db.Rules().CompanyCountry(es.company.ID); got != "US" {
		t.Errorf("two +1 DDIs and one +34: country %q, want US (most DDIs)", got)
	}
	es.company.Country = "gb"
	must(t, db.UpdateCompany(ctx, es.company))
	if got := db.Rules().CompanyCountry(es.company.ID); got != "GB" {
		t.Errorf("explicit country: %q, want GB", got)
	}
	if c, _ := db.Rules().Company(es.company.ID); c.Country != "GB" {
		t.Errorf("stored country %q, want GB", c.Country)
	}
	b := &Brand{Name: "no ddis"}
	must(t, db.CreateBrand(ctx, b))
	bare := &Company{BrandID: b.ID, Name: "bare"}
	must(t, db.CreateCompany(ctx, bare))
	if got := db.Rules().CompanyCountry(bare.ID); got != "" {
		t.Errorf("company without DDIs or country: %q, want none", got)
	}
	bare.Country = "Narnia"
	wantCode(t, db.UpdateCompany(ctx, bare), EINVALID, "country")
}
