package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"testing"

	"github.com/callrec/callrec/store"
)

// Issue 12 item 13: a body is exactly one JSON value and that value is an object. Trailing
// garbage after the object (`{…}}`), a bare `null`, arrays and scalars are 400 naming "body",
// on every route that reads a body.
func TestStrictJSON_OneObjectOnEveryBodyRoute(t *testing.T) {
	w := newWorld(t)
	a1 := w.co("A1")
	platform := newClient(t, w.srv, w.platform)
	routes := []struct{ method, path string }{
		{"POST", "/api/v1/brands"},
		{"PATCH", "/api/v1/brands/" + a1.brand.ID},
		{"POST", "/api/v1/companies"},
		{"PATCH", "/api/v1/companies/" + a1.co.ID},
		{"POST", "/api/v1/ddis"},
		{"PATCH", "/api/v1/ddis/" + a1.ddi.ID},
		{"POST", "/api/v1/users"},
		{"PATCH", "/api/v1/users/" + a1.user.ID},
		{"POST", "/api/v1/tokens"},
		{"POST", "/api/v1/recordings/archive"},
		{"POST", "/api/v1/recordings/archive/link"},
		{"POST", "/api/v1/recordings/delete"},
	}
	bodies := []struct{ name, body string }{
		{"trailing brace", `{}}`},
		{"trailing bracket", `{} ]`},
		{"second object", `{}{}`},
		{"trailing word", `{} null`},
		{"trailing comma", `{},`},
		{"null", `null`},
		{"array", `[{}]`},
		{"string", `"x"`},
		{"number", `1`},
		{"true", `true`},
	}
	for _, r := range routes {
		for _, b := range bodies {
			t.Run(r.method+" "+r.path+" "+b.name, func(t *testing.T) {
				resp, out := platform.do(r.method, r.path, b.body)
				if resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("%s %s with %q: %d %s, want 400", r.method, r.path, b.body, resp.StatusCode, out)
				}
				if e := apiErr(t, out); e.Field != "body" || e.Code != store.EINVALID {
					t.Errorf("error %+v, want code %s field body", e, store.EINVALID)
				}
			})
		}
	}
}

// protectedCase is one field of one entity, the value a PATCH tries to give it, and the roles
// allowed to make that change (SPEC §1).
type protectedCase struct {
	entity  string
	field   string
	value   any
	allowed map[string]bool // role → may change it
}

// Issue 12 item 4: every protected field of every entity, PATCHed by every role, changes only for
// the roles allowed to change it. The company's allow_recording_removal was the hole: `upd := *old`
// shared the *bool, the decoder wrote through it into old, and the lock compared the new value
// with itself, so a company admin turned removal on.
func TestPatch_EveryProtectedFieldPerRole(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	a1, a2, bB := w.co("A1"), w.co("A2"), w.brands["B"]
	// Baselines, restored before every case. Constructed afresh each time: nothing shared.
	baseCompany := func() *store.Company {
		f := false
		return &store.Company{ID: a1.co.ID, BrandID: a1.brand.ID, Name: "Company A1", OnDemand: store.OnDemandKey,
			OnDemandCode: "7", AllowRecordingRemoval: &f, RetentionDays: 10, QuotaMB: 50}
	}
	baseDDI := func() *store.DDI {
		return &store.DDI{ID: a1.ddi.ID, CompanyID: a1.co.ID, Number: a1.ddi.Number, RecordCalls: store.RecordAll}
	}
	baseUser := func() *store.User {
		return &store.User{ID: a1.user.ID, CompanyID: a1.co.ID, Name: "Alice A1", Extension: "101", SIPUser: "aliceA1"}
	}
	baseBrand := func() *store.Brand {
		return &store.Brand{ID: a1.brand.ID, Name: "Brand A", SIPDomain: "pbxA.example.com"}
	}
	restore := func(t *testing.T) {
		t.Helper()
		must(t, w.db.UpdateBrand(ctx, baseBrand()))
		must(t, w.db.UpdateCompany(ctx, baseCompany()))
		must(t, w.db.UpdateDDI(ctx, baseDDI()))
		must(t, w.db.UpdateUser(ctx, baseUser()))
	}
	nobody := map[string]bool{}
	platformOnly := map[string]bool{store.RolePlatform: true}
	brandUp := map[string]bool{store.RolePlatform: true, store.RoleBrand: true}
	adminUp := map[string]bool{store.RolePlatform: true, store.RoleBrand: true, store.RoleCompanyAdmin: true}
	cases := []protectedCase{
		{"brands", "name", "Brand Z", platformOnly},
		{"brands", "sip_domain", "pbxz.example.com", platformOnly},

		{"companies", "brand_id", bB.ID, nobody}, // the store refuses a move to another brand
		{"companies", "on_demand", store.OnDemandKeyDTMF, brandUp},
		{"companies", "on_demand_code", "8", brandUp},
		{"companies", "allow_recording_removal", true, brandUp},
		{"companies", "retention_days", 30, brandUp},
		{"companies", "quota_mb", 100, brandUp},
		{"companies", "name", "Company Z", adminUp},
		{"companies", "stereo", true, adminUp},
		{"companies", "country", "US", adminUp},

		{"ddis", "company_id", a2.co.ID, brandUp},
		{"ddis", "number", "+34911999888", brandUp},
		{"ddis", "record_calls", store.RecordInbound, adminUp},
		{"ddis", "announcement", "tone_stream://%(200,0,800);loops=1", adminUp},

		{"users", "company_id", a2.co.ID, nobody}, // the store refuses a move to another company
		{"users", "name", "Zed", adminUp},
		{"users", "extension", "199", adminUp},
		{"users", "sip_user", "zedA1", adminUp},
		{"users", "email", "zed@example.com", adminUp},
	}
	actors := []struct {
		role, token string
	}{
		{store.RolePlatform, w.platform},
		{store.RoleBrand, w.brandTok["A"]},
		{store.RoleCompanyAdmin, a1.adminTok},
		{store.RoleUser, a1.userTok},
	}
	ids := map[string]string{"brands": a1.brand.ID, "companies": a1.co.ID, "ddis": a1.ddi.ID, "users": a1.user.ID}
	for _, tc := range cases {
		for _, a := range actors {
			t.Run(fmt.Sprintf("%s.%s by %s", tc.entity, tc.field, a.role), func(t *testing.T) {
				restore(t)
				before := storedField(t, w.db, tc.entity, ids[tc.entity], tc.field)
				if reflect.DeepEqual(before, normJSON(t, tc.value)) {
					t.Fatalf("baseline already holds %v: the case proves nothing", tc.value)
				}
				resp, body := newClient(t, w.srv, a.token).do("PATCH", "/api/v1/"+tc.entity+"/"+ids[tc.entity], map[string]any{tc.field: tc.value})
				after := storedField(t, w.db, tc.entity, ids[tc.entity], tc.field)
				changed := !reflect.DeepEqual(before, after)
				switch {
				case tc.allowed[a.role] && (resp.StatusCode != 200 || !changed):
					t.Errorf("allowed: %d %s; stored %v → %v", resp.StatusCode, body, before, after)
				case !tc.allowed[a.role] && changed:
					t.Errorf("ESCALATION: %s changed %s.%s %v → %v (reply %d %s)", a.role, tc.entity, tc.field, before, after, resp.StatusCode, body)
				case !tc.allowed[a.role] && resp.StatusCode < 400:
					t.Errorf("refused change answered %d %s", resp.StatusCode, body)
				}
			})
		}
	}
	restore(t)
}

// storedField reads field (its JSON name) of the stored entity, through JSON so that pointers
// compare by value.
func storedField(t *testing.T, db *store.DB, entity, id, field string) any {
	t.Helper()
	ctx := context.Background()
	var v any
	var err error
	switch entity {
	case "brands":
		v, err = db.Brand(ctx, id)
	case "companies":
		v, err = db.Company(ctx, id)
	case "ddis":
		v, err = db.DDI(ctx, id)
	case "users":
		v, err = db.User(ctx, id)
	}
	must(t, err)
	b, err := json.Marshal(v)
	must(t, err)
	var m map[string]any
	must(t, json.Unmarshal(b, &m))
	return m[field]
}

func normJSON(t *testing.T, v any) any {
	b, err := json.Marshal(v)
	must(t, err)
	var out any
	must(t, json.Unmarshal(b, &out))
	return out
}

// patched copies through JSON: an entity field JSON does not carry (`json:"-"`, unexported)
// would be lost on every PATCH. Every PATCHable entity must round-trip whole, and the copy must
// share no pointer with the original.
func TestPatched_RoundTripIsLossless(t *testing.T) {
	yes := true
	for _, v := range []any{
		&store.Brand{ID: "b", Name: "n", SIPDomain: "d.example.com"},
		&store.Company{ID: "c", BrandID: "b", Name: "n", OnDemand: "key", OnDemandCode: "7", MaskCode: "8", AllowRecordingRemoval: &yes,
			Stereo: true, RetentionDays: 1, QuotaMB: 2, Country: "ES", EncryptAtRest: true},
		&store.DDI{ID: "d", CompanyID: "c", Number: "+34911234567", RecordCalls: "all", Announcement: "a", Consent: "press_1"},
		&store.User{ID: "u", CompanyID: "c", Name: "n", Extension: "101", SIPUser: "s", Email: "e@example.com"},
	} {
		typ := reflect.TypeOf(v).Elem()
		for i := range typ.NumField() {
			f := typ.Field(i)
			if !f.IsExported() || f.Tag.Get("json") == "-" {
				t.Errorf("%s.%s is not carried by JSON: PATCH through patched would drop it", typ.Name(), f.Name)
			}
			if reflect.ValueOf(v).Elem().Field(i).IsZero() {
				t.Errorf("%s.%s is zero in this test's sample: give it a value so the round trip is checked", typ.Name(), f.Name)
			}
		}
		b, err := json.Marshal(v)
		must(t, err)
		cp := reflect.New(typ)
		must(t, json.Unmarshal(b, cp.Interface()))
		if !reflect.DeepEqual(cp.Interface(), v) {
			t.Errorf("%s round trip: %+v, want %+v", typ.Name(), cp.Elem().Interface(), v)
		}
	}
}
