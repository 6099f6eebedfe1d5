package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// objRoute is one route called on an object of a target company.
type objRoute struct {
	name   string
	method string
	path   func(w *world, tc *tenantCo) string // may create a fresh object to act on
	body   func(w *world, tc *tenantCo) any
	brand  bool   // the object is the brand: tenancy is the brand's
	min    string // lowest role allowed inside its tenancy
	ok     int    // status for an allowed caller
	below  int    // status inside the tenancy for a role below min (403, or 404 when the role may not even see it)
	create bool   // POST with a reference: outside the tenancy it is 400 (same as a reference that does not exist)
	mine   bool   // a company user may act on it (its own object) despite min
}

func objRoutes() []objRoute {
	seq := 0
	next := func() int { seq++; return seq }
	ctx := context.Background()
	id := func(f func(*tenantCo) string) func(*world, *tenantCo) string {
		return func(_ *world, tc *tenantCo) string { return f(tc) }
	}
	empty := func(*world, *tenantCo) any { return map[string]any{} }
	return []objRoute{
		{name: "get brand", method: "GET", path: id(func(tc *tenantCo) string { return "/brands/" + tc.brand.ID }), brand: true, min: store.RoleBrand, ok: 200, below: 403},
		{name: "patch brand", method: "PATCH", path: id(func(tc *tenantCo) string { return "/brands/" + tc.brand.ID }), body: empty, brand: true, min: store.RolePlatform, ok: 200, below: 403},
		{name: "delete brand with companies", method: "DELETE", path: id(func(tc *tenantCo) string { return "/brands/" + tc.brand.ID }), brand: true, min: store.RolePlatform, ok: 409, below: 403},

		{name: "get company", method: "GET", path: id(func(tc *tenantCo) string { return "/companies/" + tc.co.ID }), min: store.RoleUser, ok: 200},
		{name: "patch company", method: "PATCH", path: id(func(tc *tenantCo) string { return "/companies/" + tc.co.ID }), body: empty, min: store.RoleCompanyAdmin, ok: 200, below: 403},
		{name: "delete company with objects", method: "DELETE", path: id(func(tc *tenantCo) string { return "/companies/" + tc.co.ID }), min: store.RoleBrand, ok: 409, below: 403},
		{name: "delete empty company", method: "DELETE", brand: true, path: func(w *world, tc *tenantCo) string {
			co := &store.Company{BrandID: tc.brand.ID, Name: fmt.Sprintf("Empty %d", next())}
			must(w.srvTB(), w.db.CreateCompany(ctx, co))
			return "/companies/" + co.ID
		}, min: store.RoleBrand, ok: 204, below: 404},
		{name: "create company", method: "POST", path: id(func(*tenantCo) string { return "/companies" }), brand: true, create: true,
			body: func(_ *world, tc *tenantCo) any {
				return map[string]any{"brand_id": tc.brand.ID, "name": fmt.Sprintf("New %d", next())}
			},
			min: store.RoleBrand, ok: 201, below: 403},

		{name: "list data keys", method: "GET", path: id(func(tc *tenantCo) string { return "/companies/" + tc.co.ID + "/keys" }), min: store.RoleCompanyAdmin, ok: 200, below: 403},
		{name: "rotate data key", method: "POST", path: id(func(tc *tenantCo) string { return "/companies/" + tc.co.ID + "/keys/rotate" }), body: empty, min: store.RoleCompanyAdmin, ok: 201, below: 403},

		{name: "get ddi", method: "GET", path: id(func(tc *tenantCo) string { return "/ddis/" + tc.ddi.ID }), min: store.RoleCompanyAdmin, ok: 200, below: 403},
		{name: "patch ddi mode", method: "PATCH", path: id(func(tc *tenantCo) string { return "/ddis/" + tc.ddi.ID }),
			body: func(*world, *tenantCo) any { return map[string]any{"record_calls": "all"} }, min: store.RoleCompanyAdmin, ok: 200, below: 403},
		{name: "delete ddi", method: "DELETE", path: func(w *world, tc *tenantCo) string {
			d := &store.DDI{CompanyID: tc.co.ID, Number: fmt.Sprintf("+3493100%04d", next())}
			must(w.srvTB(), w.db.CreateDDI(ctx, d))
			return "/ddis/" + d.ID
		}, min: store.RoleBrand, ok: 204, below: 403},
		{name: "create ddi", method: "POST", path: id(func(*tenantCo) string { return "/ddis" }), create: true,
			body: func(_ *world, tc *tenantCo) any {
				return map[string]any{"company_id": tc.co.ID, "number": fmt.Sprintf("+3493200%04d", next())}
			}, min: store.RoleBrand, ok: 201, below: 403},

		{name: "get other user", method: "GET", path: id(func(tc *tenantCo) string { return "/users/" + tc.user2.ID }), min: store.RoleCompanyAdmin, ok: 200, below: 403},
		{name: "get own user", method: "GET", path: id(func(tc *tenantCo) string { return "/users/" + tc.user.ID }), min: store.RoleCompanyAdmin, ok: 200, below: 403, mine: true},
		{name: "patch user", method: "PATCH", path: id(func(tc *tenantCo) string { return "/users/" + tc.user2.ID }), body: empty, min: store.RoleCompanyAdmin, ok: 200, below: 403},
		{name: "delete user", method: "DELETE", path: func(w *world, tc *tenantCo) string {
			n := next()
			u := &store.User{CompanyID: tc.co.ID, Name: "Tmp", Extension: fmt.Sprintf("9%03d", n), SIPUser: fmt.Sprintf("tmp%d", n)}
			must(w.srvTB(), w.db.CreateUser(ctx, u))
			return "/users/" + u.ID
		}, min: store.RoleCompanyAdmin, ok: 204, below: 403},
		{name: "create user", method: "POST", path: id(func(*tenantCo) string { return "/users" }), create: true,
			body: func(_ *world, tc *tenantCo) any {
				n := next()
				return map[string]any{"company_id": tc.co.ID, "name": "New", "extension": fmt.Sprintf("8%03d", n), "sip_user": fmt.Sprintf("new%d", n)}
			}, min: store.RoleCompanyAdmin, ok: 201, below: 403},

		{name: "get admin token", method: "GET", path: id(func(tc *tenantCo) string { return "/tokens/" + tc.adminTokID }), min: store.RoleCompanyAdmin, ok: 200, below: 404},
		{name: "delete token", method: "DELETE", path: func(w *world, tc *tenantCo) string {
			mustToken(w.srvTB(), w.db, store.Token{Name: fmt.Sprintf("tmp%d", next()), Role: store.RoleCompanyAdmin, CompanyID: tc.co.ID})
			toks, err := w.db.Tokens(ctx, store.TokenFilter{CompanyID: tc.co.ID})
			must(w.srvTB(), err)
			return "/tokens/" + toks[len(toks)-1].ID
		}, min: store.RoleCompanyAdmin, ok: 204, below: 404},
		{name: "create company admin token", method: "POST", path: id(func(*tenantCo) string { return "/tokens" }), create: true,
			body: func(_ *world, tc *tenantCo) any {
				return map[string]any{"name": "x", "role": "company_admin", "company_id": tc.co.ID}
			}, min: store.RoleCompanyAdmin, ok: 201, below: 403},
		{name: "create user token", method: "POST", path: id(func(*tenantCo) string { return "/tokens" }), create: true,
			body: func(_ *world, tc *tenantCo) any {
				return map[string]any{"name": "x", "role": "user", "user_id": tc.user.ID}
			},
			min: store.RoleCompanyAdmin, ok: 201, below: 403},

		{name: "get ddi recording", method: "GET", path: id(func(tc *tenantCo) string { return "/recordings/" + tc.recDDI.ID }), min: store.RoleCompanyAdmin, ok: 200, below: 404},
		{name: "get own on-demand recording", method: "GET", path: id(func(tc *tenantCo) string { return "/recordings/" + tc.recOwn.ID }), min: store.RoleCompanyAdmin, ok: 200, below: 404, mine: true},
		{name: "get other user's recording", method: "GET", path: id(func(tc *tenantCo) string { return "/recordings/" + tc.recOther.ID }), min: store.RoleCompanyAdmin, ok: 200, below: 404},
		{name: "audio of ddi recording", method: "GET", path: id(func(tc *tenantCo) string { return "/recordings/" + tc.recDDI.ID + "/audio" }), min: store.RoleCompanyAdmin, ok: 200, below: 404},
		{name: "audio of own recording", method: "GET", path: id(func(tc *tenantCo) string { return "/recordings/" + tc.recOwn.ID + "/audio" }), min: store.RoleCompanyAdmin, ok: 200, below: 404, mine: true},
		{name: "archive of ddi recording", method: "GET", path: id(func(tc *tenantCo) string { return "/recordings/archive?ids=" + tc.recDDI.ID }), min: store.RoleCompanyAdmin, ok: 200, below: 404},
		{name: "archive of own recording", method: "GET", path: id(func(tc *tenantCo) string { return "/recordings/archive?ids=" + tc.recOwn.ID }), min: store.RoleCompanyAdmin, ok: 200, below: 404, mine: true},
		{name: "delete recording", method: "DELETE", path: func(w *world, tc *tenantCo) string {
			r := w.recording(w.srvTB(), tc, store.TypeOnDemand, tc.user.ID, time.Date(2025, 4, 1, 0, 0, next(), 0, time.UTC))
			return "/recordings/" + r.ID
		}, min: store.RoleCompanyAdmin, ok: 204, below: 403},

		{name: "get hold", method: "GET", path: func(w *world, tc *tenantCo) string {
			h := &store.Hold{CompanyID: tc.co.ID, Kind: store.HoldCall, CallID: fmt.Sprintf("held-%d", next()), Reason: "matrix"}
			must(w.srvTB(), w.db.PlaceHold(ctx, h, "test"))
			return "/holds/" + h.ID
		}, min: store.RoleCompanyAdmin, ok: 200, below: 403},
		{name: "release hold", method: "POST", path: func(w *world, tc *tenantCo) string {
			h := &store.Hold{CompanyID: tc.co.ID, Kind: store.HoldCall, CallID: fmt.Sprintf("held-%d", next()), Reason: "matrix"}
			must(w.srvTB(), w.db.PlaceHold(ctx, h, "test"))
			return "/holds/" + h.ID + "/release"
		}, body: empty, min: store.RoleCompanyAdmin, ok: 200, below: 403},
		{name: "place hold", method: "POST", path: id(func(*tenantCo) string { return "/holds" }), create: true,
			body: func(_ *world, tc *tenantCo) any {
				return map[string]any{"company_id": tc.co.ID, "kind": "call", "call_id": fmt.Sprintf("c-%d", next()), "reason": "matrix"}
			}, min: store.RoleCompanyAdmin, ok: 201, below: 403},
		{name: "audit log", method: "GET", path: id(func(tc *tenantCo) string { return "/audit?company_id=" + tc.co.ID }),
			create: true, min: store.RoleCompanyAdmin, ok: 200, below: 403},
		{name: "audit verification", method: "GET", path: id(func(tc *tenantCo) string { return "/audit/verify?company_id=" + tc.co.ID }),
			create: true, min: store.RoleCompanyAdmin, ok: 200, below: 403},
		{name: "recordings of a person", method: "GET", path: id(func(tc *tenantCo) string {
			return "/subjects/recordings?number=%2B34600999000&company_id=" + tc.co.ID
		}), create: true, min: store.RoleCompanyAdmin, ok: 200, below: 403},
		{name: "get webhook", method: "GET", path: webhookOf(ctx, ""), min: store.RoleCompanyAdmin, ok: 200, below: 403},
		{name: "patch webhook", method: "PATCH", path: webhookOf(ctx, ""), body: func(*world, *tenantCo) any { return map[string]any{"active": false} },
			min: store.RoleCompanyAdmin, ok: 200, below: 403},
		{name: "delete webhook", method: "DELETE", path: webhookOf(ctx, ""), min: store.RoleCompanyAdmin, ok: 204, below: 403},
		{name: "webhook deliveries", method: "GET", path: webhookOf(ctx, "/deliveries"), min: store.RoleCompanyAdmin, ok: 200, below: 403},
		{name: "test webhook", method: "POST", path: webhookOf(ctx, "/test"), min: store.RoleCompanyAdmin, ok: 202, below: 403},
		{name: "create webhook", method: "POST", path: id(func(*tenantCo) string { return "/webhooks" }), create: true,
			body: func(_ *world, tc *tenantCo) any {
				return map[string]any{"company_id": tc.co.ID, "url": "https://hooks.example.com/" + tc.key}
			}, min: store.RoleCompanyAdmin, ok: 201, below: 403},
	}
}

// webhookOf is the path of a fresh webhook of the target company, with suffix.
func webhookOf(ctx context.Context, suffix string) func(w *world, tc *tenantCo) string {
	return func(w *world, tc *tenantCo) string {
		h := &store.Webhook{CompanyID: tc.co.ID, URL: "https://hooks.example.com/" + tc.key, Active: true}
		_, err := w.db.CreateWebhook(ctx, h)
		must(w.srvTB(), err)
		return "/webhooks/" + h.ID + suffix
	}
}

// srvTB is the testing.TB fresh-object builders report to (set per test).
func (w *world) srvTB() testing.TB { return w.tb }

// expect is the status SPEC allows actor a on route rt against company tc.
func (rt objRoute) expect(a actor, tc *tenantCo) int {
	sees := a.sees(tc.key)
	if rt.brand {
		sees = a.role == store.RolePlatform || a.brand == tc.key[:1]
	}
	allowed := rank(a.role) >= rank(rt.min) || (rt.mine && a.role == store.RoleUser && a.company == tc.key)
	if rt.create {
		switch {
		case !allowed:
			return http.StatusForbidden
		case !sees:
			return http.StatusBadRequest
		}
		return rt.ok
	}
	switch {
	case !sees:
		return http.StatusNotFound
	case !allowed:
		return rt.below
	}
	return rt.ok
}

func TestIsolation_EveryRoleOfTwoBrandsAndTwoCompaniesGetsOnlyWhatSPECAllows(t *testing.T) {
	w := newWorld(t)
	w.tb = t
	for _, rt := range objRoutes() {
		for _, a := range w.actors() {
			for _, tc := range w.cos {
				path := rt.path(w, tc)
				var body any
				if rt.body != nil {
					body = rt.body(w, tc)
				}
				resp, b := newClient(t, w.srv, a.token).do(rt.method, "/api/v1"+path, body)
				want := rt.expect(a, tc)
				if resp.StatusCode != want {
					t.Errorf("%s as %s on %s: %s %s = %d, want %d: %s", rt.name, a.name, tc.key, rt.method, path, resp.StatusCode, want, b)
					continue
				}
				if want >= 400 {
					apiErr(t, b)
					if want == 404 && len(b) > 0 && (contains(b, tc.co.ID) || contains(b, tc.co.Name)) {
						t.Errorf("%s as %s on %s: the 404 reveals the object: %s", rt.name, a.name, tc.key, b)
					}
				}
			}
		}
	}
}

func contains(b []byte, s string) bool { return s != "" && json.Valid(b) && bytesContains(b, s) }

func TestIsolation_ListingsHoldExactlyTheCallersTenancy(t *testing.T) {
	w := newWorld(t)
	w.tb = t
	type item = map[string]any
	lists := []struct {
		path  string
		min   string
		owner func(it item) string // company key (or brand key for brands) of an item
		want  func(a actor) int    // how many items the caller must get
	}{
		{path: "/brands", min: store.RoleBrand, owner: w.brandOf("id"), want: func(a actor) int {
			return map[bool]int{true: 2, false: 1}[a.role == store.RolePlatform]
		}},
		{path: "/companies", min: store.RoleUser, owner: w.companyOf("id"), want: w.companyCount(1)},
		{path: "/ddis", min: store.RoleCompanyAdmin, owner: w.companyOf("company_id"), want: w.companyCount(1)},
		{path: "/users", min: store.RoleCompanyAdmin, owner: w.companyOf("company_id"), want: w.companyCount(2)},
		{path: "/recordings", min: store.RoleUser, owner: w.companyOf("company_id"), want: func(a actor) int {
			if a.role == store.RoleUser {
				return 1
			}
			return w.companyCount(3)(a)
		}},
	}
	for _, l := range lists {
		for _, a := range w.actors() {
			for _, q := range []string{"", "?company_id=" + w.co("B2").co.ID, "?brand_id=" + w.brands["B"].ID} {
				resp, b := newClient(t, w.srv, a.token).do("GET", "/api/v1"+l.path+q, nil)
				if rank(a.role) < rank(l.min) {
					if resp.StatusCode != 403 {
						t.Errorf("GET %s as %s = %d, want 403", l.path, a.name, resp.StatusCode)
					}
					continue
				}
				if resp.StatusCode != 200 {
					t.Errorf("GET %s%s as %s = %d: %s", l.path, q, a.name, resp.StatusCode, b)
					continue
				}
				var page struct{ Items []item }
				must(t, json.Unmarshal(b, &page))
				for _, it := range page.Items {
					key := l.owner(it)
					seen := a.sees(key) || (l.path == "/brands" && a.brand == key)
					if !seen {
						t.Errorf("LEAK: GET %s%s as %s returned %v of %s", l.path, q, a.name, it["id"], key)
					}
					if l.path == "/recordings" && a.role == store.RoleUser && (it["user_id"] != a.userID || it["type"] != "ondemand") {
						t.Errorf("LEAK: user %s sees recording %v of user %v type %v", a.name, it["id"], it["user_id"], it["type"])
					}
				}
				if q == "" && len(page.Items) != l.want(a) {
					t.Errorf("GET %s as %s: %d items, want %d", l.path, a.name, len(page.Items), l.want(a))
				}
			}
		}
	}
	// Tokens: nobody sees a token above its tenancy or another user's token.
	for _, a := range w.actors() {
		_, b := newClient(t, w.srv, a.token).do("GET", "/api/v1/tokens", nil)
		var page struct{ Items []store.Token }
		must(t, json.Unmarshal(b, &page))
		if len(page.Items) == 0 {
			t.Errorf("%s sees no tokens, not even its own", a.name)
		}
		for _, tk := range page.Items {
			ok := a.role == store.RolePlatform ||
				(a.role == store.RoleBrand && tk.BrandID == w.brands[a.brand].ID && tk.Role != store.RolePlatform) ||
				(a.role == store.RoleCompanyAdmin && tk.CompanyID == w.co(a.company).co.ID) ||
				(a.role == store.RoleUser && tk.UserID == a.userID)
			if !ok {
				t.Errorf("LEAK: %s sees token %s (%s)", a.name, tk.ID, tk.Role)
			}
		}
		if bytesContains(b, store.TokenPrefix) {
			t.Errorf("token listing shows a secret: %s", b)
		}
	}
}

func (w *world) brandOf(field string) func(map[string]any) string {
	return func(it map[string]any) string {
		for k, b := range w.brands {
			if b.ID == it[field] {
				return k
			}
		}
		return "?"
	}
}

func (w *world) companyOf(field string) func(map[string]any) string {
	return func(it map[string]any) string {
		for _, tc := range w.cos {
			if tc.co.ID == it[field] {
				return tc.key
			}
		}
		return "?" // an object of no known company (created by another test): nobody but platform should see it
	}
}

// companyCount is per-company items × the number of companies actor a sees.
func (w *world) companyCount(per int) func(actor) int {
	return func(a actor) int {
		n := 0
		for _, tc := range w.cos {
			if a.sees(tc.key) {
				n += per
			}
		}
		return n
	}
}
