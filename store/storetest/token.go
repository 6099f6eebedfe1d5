package storetest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

func tokenCases() []suiteCase {
	return []suiteCase{
		{"Tokens/CreateFillsScopeAndFinds", testTokens},
		{"Tokens/RefusedScopesAndHashes", testTokenErrors},
		{"Tokens/RevokedWithTheirScope", testTokenRevocation},
		{"Tokens/Touch", testTokenTouch},
	}
}

func newHash(t *testing.T) []byte {
	t.Helper()
	_, h, err := store.NewTokenSecret()
	must(t, err)
	return h
}

// CreateToken fills ID, CreatedAt and the scope ids a role implies (clearing those it does not
// use); TokenByHash and Tokens find it; HasPlatformToken follows the platform tokens.
func testTokens(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	tn2 := e.tenant(t, 2)
	if has, err := e.s.HasPlatformToken(e.ctx); err != nil || has {
		t.Fatalf("HasPlatformToken on an empty store = %v, %v", has, err)
	}
	tests := []struct {
		name string
		in   store.Token
		want store.Token // scope ids after CreateToken
	}{
		{"platform", store.Token{Role: store.RolePlatform, BrandID: tn.brand.ID, CompanyID: tn.company.ID},
			store.Token{}},
		{"brand", store.Token{Role: store.RoleBrand, BrandID: tn.brand.ID, UserID: tn.user.ID},
			store.Token{BrandID: tn.brand.ID}},
		{"company_admin", store.Token{Role: store.RoleCompanyAdmin, CompanyID: tn.company.ID},
			store.Token{BrandID: tn.brand.ID, CompanyID: tn.company.ID}},
		{"user", store.Token{Role: store.RoleUser, UserID: tn.user.ID},
			store.Token{BrandID: tn.brand.ID, CompanyID: tn.company.ID, UserID: tn.user.ID}},
		{"user of tenant 2", store.Token{Role: store.RoleUser, UserID: tn2.user.ID},
			store.Token{BrandID: tn2.brand.ID, CompanyID: tn2.company.ID, UserID: tn2.user.ID}},
	}
	made := map[string]*store.Token{}
	for _, tt := range tests {
		tok := tt.in
		tok.Name, tok.Hash = " "+tt.name+" ", newHash(t)
		must(t, e.s.CreateToken(e.ctx, &tok))
		if tok.ID == "" || tok.Name != tt.name || !tok.CreatedAt.Equal(e.clk.Now()) || tok.LastUsedAt != nil {
			t.Errorf("%s: CreateToken did not fill: %+v", tt.name, tok)
		}
		if tok.BrandID != tt.want.BrandID || tok.CompanyID != tt.want.CompanyID || tok.UserID != tt.want.UserID {
			t.Errorf("%s: scope brand %q company %q user %q, want %q %q %q", tt.name,
				tok.BrandID, tok.CompanyID, tok.UserID, tt.want.BrandID, tt.want.CompanyID, tt.want.UserID)
		}
		got, err := e.s.TokenByHash(e.ctx, tok.Hash)
		if err != nil || got.ID != tok.ID || got.Role != tok.Role || !bytes.Equal(got.Hash, tok.Hash) ||
			got.BrandID != tok.BrandID || got.CompanyID != tok.CompanyID || got.UserID != tok.UserID || !got.CreatedAt.Equal(tok.CreatedAt) {
			t.Errorf("%s: TokenByHash = %+v, %v; want %+v", tt.name, got, err, tok)
		}
		if got, err := e.s.Token(e.ctx, tok.ID); err != nil || got.ID != tok.ID || !bytes.Equal(got.Hash, tok.Hash) {
			t.Errorf("%s: Token = %+v, %v", tt.name, got, err)
		}
		made[tt.name] = &tok
		e.clk.Advance(time.Second)
	}
	if has, err := e.s.HasPlatformToken(e.ctx); err != nil || !has {
		t.Fatalf("HasPlatformToken after creating one = %v, %v", has, err)
	}
	_, err := e.s.TokenByHash(e.ctx, newHash(t))
	checkCode(t, "TokenByHash of an unknown hash", err, store.ENOTFOUND, "")
	_, err = e.s.TokenByHash(e.ctx, nil)
	checkCode(t, "TokenByHash of no hash", err, store.ENOTFOUND, "")

	filters := []struct {
		name string
		f    store.TokenFilter
		want []string
	}{
		{"everything", store.TokenFilter{}, []string{"platform", "brand", "company_admin", "user", "user of tenant 2"}},
		{"brand 1", store.TokenFilter{BrandID: tn.brand.ID}, []string{"brand", "company_admin", "user"}},
		{"company 1", store.TokenFilter{CompanyID: tn.company.ID}, []string{"company_admin", "user"}},
		{"user 1", store.TokenFilter{UserID: tn.user.ID}, []string{"user"}},
		{"brand 2", store.TokenFilter{BrandID: tn2.brand.ID}, []string{"user of tenant 2"}},
		{"brand 1 and company 2", store.TokenFilter{BrandID: tn.brand.ID, CompanyID: tn2.company.ID}, nil},
	}
	for _, ft := range filters {
		ts, err := e.s.Tokens(e.ctx, ft.f)
		must(t, err)
		var got, want []string
		for _, tok := range ts {
			got = append(got, tok.ID)
		}
		for _, n := range ft.want {
			want = append(want, made[n].ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("Tokens(%s) = %v, want %v (creation order)", ft.name, got, want)
		}
	}

	must(t, e.s.DeleteToken(e.ctx, made["platform"].ID))
	_, err = e.s.TokenByHash(e.ctx, made["platform"].Hash)
	checkCode(t, "TokenByHash after DeleteToken", err, store.ENOTFOUND, "")
	checkCode(t, "DeleteToken twice", e.s.DeleteToken(e.ctx, made["platform"].ID), store.ENOTFOUND, "")
	if has, err := e.s.HasPlatformToken(e.ctx); err != nil || has {
		t.Fatalf("HasPlatformToken after deleting the only one = %v, %v", has, err)
	}
}

// CreateToken refuses a scope that does not exist (naming its id field), a role it does not
// know, a hash that is not SHA-256 and a hash already stored.
func testTokenErrors(t *testing.T, e *env) {
	taken := newHash(t)
	must(t, e.s.CreateToken(e.ctx, &store.Token{Name: "first", Role: store.RolePlatform, Hash: taken}))
	tests := []struct {
		name  string
		tok   store.Token
		code  string
		field string
	}{
		{"a missing brand", store.Token{Role: store.RoleBrand, BrandID: "no-such-brand"}, store.EINVALID, "brand_id"},
		{"a missing company", store.Token{Role: store.RoleCompanyAdmin, CompanyID: "no-such-company"}, store.EINVALID, "company_id"},
		{"a missing user", store.Token{Role: store.RoleUser, UserID: "no-such-user"}, store.EINVALID, "user_id"},
		{"an unknown role", store.Token{Role: "root"}, store.EINVALID, "role"},
		{"a brand token without brand", store.Token{Role: store.RoleBrand}, store.EINVALID, "brand_id"},
		{"a short hash", store.Token{Role: store.RolePlatform, Hash: []byte("short")}, store.EINVALID, "hash"},
		{"a taken hash", store.Token{Role: store.RolePlatform, Hash: taken}, store.ECONFLICT, "hash"},
	}
	for _, tt := range tests {
		tok := tt.tok
		tok.Name = tt.name
		if tok.Hash == nil {
			tok.Hash = newHash(t)
		}
		checkCode(t, "CreateToken with "+tt.name, e.s.CreateToken(e.ctx, &tok), tt.code, tt.field)
	}
	if ts, err := e.s.Tokens(e.ctx, store.TokenFilter{}); err != nil || len(ts) != 1 {
		t.Fatalf("refused tokens were stored: %d tokens, %v", len(ts), err)
	}
}

// Deleting a brand, a company or a user revokes the tokens scoped to it, and only those.
func testTokenRevocation(t *testing.T, e *env) {
	tests := []struct {
		name   string
		role   string
		delete func(t *testing.T, b *store.Brand, c *store.Company, u *store.User)
	}{
		{"DeleteUser", store.RoleUser, func(t *testing.T, _ *store.Brand, _ *store.Company, u *store.User) {
			must(t, e.s.DeleteUser(e.ctx, u.ID))
		}},
		{"DeleteCompany", store.RoleCompanyAdmin, func(t *testing.T, _ *store.Brand, c *store.Company, u *store.User) {
			must(t, e.s.DeleteUser(e.ctx, u.ID))
			must(t, e.s.DeleteCompany(e.ctx, c.ID))
		}},
		{"DeleteBrand", store.RoleBrand, func(t *testing.T, b *store.Brand, c *store.Company, u *store.User) {
			must(t, e.s.DeleteUser(e.ctx, u.ID))
			must(t, e.s.DeleteCompany(e.ctx, c.ID))
			must(t, e.s.DeleteBrand(e.ctx, b.ID))
		}},
	}
	keep := newHash(t)
	must(t, e.s.CreateToken(e.ctx, &store.Token{Name: "platform", Role: store.RolePlatform, Hash: keep}))
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := e.tenant(t, i+1)
			h := newHash(t)
			tok := &store.Token{Name: tt.name, Role: tt.role, BrandID: tn.brand.ID, CompanyID: tn.company.ID, UserID: tn.user.ID, Hash: h}
			must(t, e.s.CreateToken(e.ctx, tok))
			must(t, e.s.DeleteDDI(e.ctx, tn.ddi.ID))
			tt.delete(t, tn.brand, tn.company, tn.user)
			_, err := e.s.TokenByHash(e.ctx, h)
			checkCode(t, "the "+tt.role+" token after "+tt.name, err, store.ENOTFOUND, "")
			_, err = e.s.Token(e.ctx, tok.ID)
			checkCode(t, "Token after "+tt.name, err, store.ENOTFOUND, "")
			if _, err := e.s.TokenByHash(e.ctx, keep); err != nil {
				t.Fatalf("%s revoked an unrelated token: %v", tt.name, err)
			}
		})
	}
}

// TouchToken stores LastUsedAt.
func testTokenTouch(t *testing.T, e *env) {
	tok := &store.Token{Name: "t", Role: store.RolePlatform, Hash: newHash(t)}
	must(t, e.s.CreateToken(e.ctx, tok))
	at := e.clk.Advance(time.Hour)
	must(t, e.s.TouchToken(e.ctx, tok.ID, at))
	got, err := e.s.Token(e.ctx, tok.ID)
	must(t, err)
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(at) {
		t.Fatalf("LastUsedAt = %v after TouchToken(%v)", got.LastUsedAt, at)
	}
	// Within TouchUnit a touch may be skipped; after it, it is stored.
	later := at.Add(2 * store.TouchUnit)
	must(t, e.s.TouchToken(e.ctx, tok.ID, later))
	if got, _ := e.s.Token(e.ctx, tok.ID); got == nil || got.LastUsedAt == nil || !got.LastUsedAt.Equal(later) {
		t.Fatalf("LastUsedAt = %v after a touch %v later, want %v", got.LastUsedAt, 2*store.TouchUnit, later)
	}
}
