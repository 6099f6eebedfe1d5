package web

import (
	"context"
	"encoding/base64"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/callrec/callrec/store"
)

// listReply is the shape of every listing: one page of items and the cursor of the next page
// ("" when there is none), SPEC §4.1.
type listReply[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// pageParams reads `limit` (1..store.MaxListLimit, default store.DefaultListLimit) and `cursor`.
func pageParams(c *fiber.Ctx) (int, string, error) {
	limit := store.DefaultListLimit
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxListLimit {
			return 0, "", store.Invalid("limit", "limit must be an integer from 1 to %d", store.MaxListLimit)
		}
		limit = n
	}
	return limit, c.Query("cursor"), nil
}

// pageOf returns one page of items (sorted by id, which sorts by creation time) after the
// position in cursor. Cursors are opaque: base64url of the last id served.
func pageOf[T any](c *fiber.Ctx, items []T, id func(T) string) error {
	limit, cur, err := pageParams(c)
	if err != nil {
		return err
	}
	after := ""
	if cur != "" {
		b, err := base64.RawURLEncoding.DecodeString(cur)
		if err != nil || len(b) == 0 {
			return store.Invalid("cursor", "cursor is not valid")
		}
		after = string(b)
	}
	out := make([]T, 0, min(limit, len(items)))
	next := ""
	for _, it := range items {
		if after != "" && id(it) <= after {
			continue
		}
		if len(out) == limit {
			next = base64.RawURLEncoding.EncodeToString([]byte(id(out[len(out)-1])))
			break
		}
		out = append(out, it)
	}
	return c.JSON(listReply[T]{Items: out, NextCursor: next})
}

// ---- me ----

// me answers the caller's own token (role and scope), for the web page.
func (s *Server) me(c *fiber.Ctx) error {
	return c.JSON(caller(c).Token)
}

// ---- brands ----

func (s *Server) listBrands(c *fiber.Ctx) error {
	p := caller(c)
	if err := requireRole(p, store.RoleBrand, "list brands"); err != nil {
		return err
	}
	all, err := s.DB.Brands(c.UserContext())
	if err != nil {
		return err
	}
	var out []*store.Brand
	for _, b := range all {
		if p.seesBrand(b.ID) {
			out = append(out, b)
		}
	}
	return pageOf(c, out, func(b *store.Brand) string { return b.ID })
}

// scopedBrand loads brand id for a caller of at least brand role; other brands are ENOTFOUND.
func (s *Server) scopedBrand(c *fiber.Ctx, p *principal, id string) (*store.Brand, error) {
	if !p.seesBrand(id) {
		return nil, store.NotFound("brand not found")
	}
	if err := requireRole(p, store.RoleBrand, "read brands"); err != nil {
		return nil, err
	}
	return s.DB.Brand(c.UserContext(), id)
}

func (s *Server) getBrand(c *fiber.Ctx) error {
	b, err := s.scopedBrand(c, caller(c), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(b)
}

func (s *Server) createBrand(c *fiber.Ctx) error {
	if err := requireRole(caller(c), store.RolePlatform, "create brands"); err != nil {
		return err
	}
	var b store.Brand
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if err := s.DB.CreateBrand(c.UserContext(), &b); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(b)
}

func (s *Server) updateBrand(c *fiber.Ctx) error {
	p := caller(c)
	b, err := s.scopedBrand(c, p, c.Params("id"))
	if err != nil {
		return err
	}
	if err := requireRole(p, store.RolePlatform, "change brands"); err != nil {
		return err
	}
	upd, err := patched(c, b)
	if err != nil {
		return err
	}
	upd.ID = b.ID
	if err := s.DB.UpdateBrand(c.UserContext(), upd); err != nil {
		return err
	}
	return c.JSON(upd)
}

func (s *Server) deleteBrand(c *fiber.Ctx) error {
	p := caller(c)
	b, err := s.scopedBrand(c, p, c.Params("id"))
	if err != nil {
		return err
	}
	if err := requireRole(p, store.RolePlatform, "delete brands"); err != nil {
		return err
	}
	if err := s.DB.DeleteBrand(c.UserContext(), b.ID); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// ---- companies ----

func (s *Server) listCompanies(c *fiber.Ctx) error {
	p := caller(c)
	brandID := c.Query("brand_id")
	if p.Role == store.RoleBrand {
		if brandID != "" && brandID != p.BrandID {
			return pageOf(c, []*store.Company{}, func(co *store.Company) string { return co.ID })
		}
		brandID = p.BrandID
	}
	all, err := s.DB.Companies(c.UserContext(), brandID)
	if err != nil {
		return err
	}
	out := []*store.Company{}
	for _, co := range all {
		if p.seesCompany(co) {
			out = append(out, co)
		}
	}
	return pageOf(c, out, func(co *store.Company) string { return co.ID })
}

func (s *Server) getCompany(c *fiber.Ctx) error {
	co, err := s.scopedCompany(c, caller(c), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(co)
}

// checkBrandRef checks a brand id given in a body: outside the caller's tenancy it is the same
// EINVALID "brand_id" the store gives for a brand that does not exist.
func checkBrandRef(p *principal, brandID string) error {
	if brandID != "" && !p.seesBrand(brandID) {
		return store.Invalid("brand_id", "no such brand")
	}
	return nil
}

func (s *Server) createCompany(c *fiber.Ctx) error {
	p := caller(c)
	if err := requireRole(p, store.RoleBrand, "create companies"); err != nil {
		return err
	}
	var co store.Company
	if err := decodeJSON(c, &co); err != nil {
		return err
	}
	if co.BrandID == "" && p.Role == store.RoleBrand {
		co.BrandID = p.BrandID
	}
	if err := checkBrandRef(p, co.BrandID); err != nil {
		return err
	}
	if err := s.DB.CreateCompany(c.UserContext(), &co); err != nil {
		return err
	}
	s.auditAfter(c, auditEntry(c, store.AuditEntry{Action: store.AuditSettingChange, CompanyID: co.ID, Target: "company:" + co.ID, Detail: "created"}))
	return c.Status(fiber.StatusCreated).JSON(co)
}

// companyAdminLocked are the company fields only brand or platform admins may change: the
// on-demand setting (SPEC §1) and the reseller's policy (ownership, removal, retention, quota).
var companyAdminLocked = []struct {
	field string
	same  func(a, b *store.Company) bool
}{
	{"brand_id", func(a, b *store.Company) bool { return a.BrandID == b.BrandID }},
	{"on_demand", func(a, b *store.Company) bool { return a.OnDemand == b.OnDemand }},
	{"on_demand_code", func(a, b *store.Company) bool { return a.OnDemandCode == b.OnDemandCode }},
	{"mask_code", func(a, b *store.Company) bool { return a.MaskCode == b.MaskCode }},
	{"encrypt_at_rest", func(a, b *store.Company) bool { return a.EncryptAtRest == b.EncryptAtRest }},
	{"allow_recording_removal", func(a, b *store.Company) bool { return a.RemovalAllowed() == b.RemovalAllowed() }},
	{"retention_days", func(a, b *store.Company) bool { return a.RetentionDays == b.RetentionDays }},
	{"quota_mb", func(a, b *store.Company) bool { return a.QuotaMB == b.QuotaMB }},
}

func (s *Server) updateCompany(c *fiber.Ctx) error {
	p := caller(c)
	old, err := s.scopedCompany(c, p, c.Params("id"))
	if err != nil {
		return err
	}
	if err := requireRole(p, store.RoleCompanyAdmin, "change companies"); err != nil {
		return err
	}
	upd, err := patched(c, old)
	if err != nil {
		return err
	}
	upd.ID = old.ID
	if !p.atLeast(store.RoleBrand) {
		for _, l := range companyAdminLocked {
			if !l.same(old, upd) {
				return forbidden(l.field, "Only a brand or platform admin may change %s.", l.field)
			}
		}
	}
	if err := checkBrandRef(p, upd.BrandID); err != nil {
		return err
	}
	if err := s.DB.UpdateCompany(c.UserContext(), upd); err != nil {
		return err
	}
	s.auditAfter(c, auditEntry(c, store.AuditEntry{Action: store.AuditSettingChange, CompanyID: upd.ID, Target: "company:" + upd.ID, Detail: changedFields(old, upd)}))
	return c.JSON(upd)
}

func (s *Server) deleteCompany(c *fiber.Ctx) error {
	p := caller(c)
	co, err := s.scopedCompany(c, p, c.Params("id"))
	if err != nil {
		return err
	}
	if err := requireRole(p, store.RoleBrand, "delete companies"); err != nil {
		return err
	}
	if err := s.DB.DeleteCompany(c.UserContext(), co.ID); err != nil {
		return err
	}
	s.auditAfter(c, auditEntry(c, store.AuditEntry{Action: store.AuditSettingChange, CompanyID: co.ID, Target: "company:" + co.ID, Detail: "deleted"}))
	return c.SendStatus(fiber.StatusNoContent)
}

// ---- DDIs ----

// companiesInScope returns the ids of the companies a brand+ caller sees, narrowed to companyID
// when given (a company outside the scope gives an empty set).
func (s *Server) companiesInScope(c *fiber.Ctx, p *principal, companyID string) ([]string, error) {
	if !p.atLeast(store.RoleBrand) {
		if companyID != "" && companyID != p.CompanyID {
			return nil, nil
		}
		return []string{p.CompanyID}, nil
	}
	if companyID != "" {
		co, err := s.DB.Company(c.UserContext(), companyID)
		if err != nil || !p.seesCompany(co) {
			if err != nil && store.ErrorCode(err) != store.ENOTFOUND {
				return nil, err
			}
			return nil, nil
		}
		return []string{co.ID}, nil
	}
	if p.isPlatform() {
		return []string{""}, nil // "" = every company
	}
	cos, err := s.DB.Companies(c.UserContext(), p.BrandID)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(cos))
	for i, co := range cos {
		ids[i] = co.ID
	}
	return ids, nil
}

func (s *Server) listDDIs(c *fiber.Ctx) error {
	return listInCompanies(s, c, "list DDIs", s.DB.DDIs, func(d *store.DDI) string { return d.ID })
}

// listInCompanies answers a list of what load returns for every company in the caller's scope
// (company admin and above; ?company_id narrows it), ordered by id and paged.
func listInCompanies[T any](s *Server, c *fiber.Ctx, what string, load func(context.Context, string) ([]*T, error), id func(*T) string) error {
	p := caller(c)
	if err := requireRole(p, store.RoleCompanyAdmin, what); err != nil {
		return err
	}
	ids, err := s.companiesInScope(c, p, c.Query("company_id"))
	if err != nil {
		return err
	}
	out := []*T{}
	for _, companyID := range ids {
		items, err := load(c.UserContext(), companyID)
		if err != nil {
			return err
		}
		out = append(out, items...)
	}
	sortByID(out, id)
	return pageOf(c, out, id)
}

// scopedDDI loads DDI id if its company is in the caller's tenancy (else ENOTFOUND), then
// requires at least company admin (403).
func (s *Server) scopedDDI(c *fiber.Ctx, p *principal, id string) (*store.DDI, error) {
	d, err := s.DB.DDI(c.UserContext(), id)
	if err != nil {
		return nil, err
	}
	if _, err := s.scopedCompany(c, p, d.CompanyID); err != nil {
		return nil, store.NotFound("DDI not found")
	}
	if err := requireRole(p, store.RoleCompanyAdmin, "read DDIs"); err != nil {
		return nil, err
	}
	return d, nil
}

func (s *Server) getDDI(c *fiber.Ctx) error {
	d, err := s.scopedDDI(c, caller(c), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(d)
}

func (s *Server) createDDI(c *fiber.Ctx) error {
	p := caller(c)
	if err := requireRole(p, store.RoleBrand, "create DDIs"); err != nil {
		return err
	}
	var d store.DDI
	if err := decodeJSON(c, &d); err != nil {
		return err
	}
	if _, err := s.refCompany(c, p, d.CompanyID); err != nil {
		return err
	}
	if err := s.DB.CreateDDI(c.UserContext(), &d); err != nil {
		return err
	}
	s.auditAfter(c, auditEntry(c, store.AuditEntry{Action: store.AuditSettingChange, CompanyID: d.CompanyID, Target: "ddi:" + d.ID, Detail: "created " + d.Number}))
	return c.Status(fiber.StatusCreated).JSON(d)
}

func (s *Server) updateDDI(c *fiber.Ctx) error {
	p := caller(c)
	old, err := s.scopedDDI(c, p, c.Params("id"))
	if err != nil {
		return err
	}
	upd, err := patched(c, old)
	if err != nil {
		return err
	}
	upd.ID = old.ID
	if !p.atLeast(store.RoleBrand) {
		if upd.CompanyID != old.CompanyID {
			return forbidden("company_id", "Only a brand or platform admin may move a DDI.")
		}
		if upd.Number != old.Number {
			if n, err := store.NormalizeNumber(upd.Number, ""); err != nil || n != old.Number {
				return forbidden("number", "Only a brand or platform admin may change a DDI's number.")
			}
		}
	}
	if upd.CompanyID != old.CompanyID {
		if _, err := s.refCompany(c, p, upd.CompanyID); err != nil {
			return err
		}
	}
	if err := s.DB.UpdateDDI(c.UserContext(), upd); err != nil {
		return err
	}
	s.auditAfter(c, auditEntry(c, store.AuditEntry{Action: store.AuditSettingChange, CompanyID: upd.CompanyID, Target: "ddi:" + upd.ID, Detail: changedFields(old, upd)}))
	return c.JSON(upd)
}

func (s *Server) deleteDDI(c *fiber.Ctx) error {
	p := caller(c)
	d, err := s.scopedDDI(c, p, c.Params("id"))
	if err != nil {
		return err
	}
	if err := requireRole(p, store.RoleBrand, "delete DDIs"); err != nil {
		return err
	}
	if err := s.DB.DeleteDDI(c.UserContext(), d.ID); err != nil {
		return err
	}
	s.auditAfter(c, auditEntry(c, store.AuditEntry{Action: store.AuditSettingChange, CompanyID: d.CompanyID, Target: "ddi:" + d.ID, Detail: "deleted " + d.Number}))
	return c.SendStatus(fiber.StatusNoContent)
}

// ---- users ----

func (s *Server) listUsers(c *fiber.Ctx) error {
	return listInCompanies(s, c, "list users", s.DB.Users, func(u *store.User) string { return u.ID })
}

// scopedUser loads user id if its company is in the caller's tenancy (else ENOTFOUND). A company
// user sees only itself.
func (s *Server) scopedUser(c *fiber.Ctx, p *principal, id string) (*store.User, error) {
	u, err := s.DB.User(c.UserContext(), id)
	if err != nil {
		return nil, err
	}
	if _, err := s.scopedCompany(c, p, u.CompanyID); err != nil {
		return nil, store.NotFound("user not found")
	}
	if p.Role == store.RoleUser && u.ID != p.UserID {
		return nil, forbidden("", "Your role may not read other users.")
	}
	return u, nil
}

func (s *Server) getUser(c *fiber.Ctx) error {
	u, err := s.scopedUser(c, caller(c), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(u)
}

func (s *Server) createUser(c *fiber.Ctx) error {
	p := caller(c)
	if err := requireRole(p, store.RoleCompanyAdmin, "create users"); err != nil {
		return err
	}
	var u store.User
	if err := decodeJSON(c, &u); err != nil {
		return err
	}
	company, err := s.companyOrOwn(c, p, u.CompanyID)
	if err != nil {
		return err
	}
	u.CompanyID = company
	if err := s.DB.CreateUser(c.UserContext(), &u); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(u)
}

func (s *Server) updateUser(c *fiber.Ctx) error {
	p := caller(c)
	old, err := s.scopedUser(c, p, c.Params("id"))
	if err != nil {
		return err
	}
	if err := requireRole(p, store.RoleCompanyAdmin, "change users"); err != nil {
		return err
	}
	upd, err := patched(c, old)
	if err != nil {
		return err
	}
	upd.ID = old.ID
	if upd.CompanyID != old.CompanyID {
		if _, err := s.refCompany(c, p, upd.CompanyID); err != nil {
			return err
		}
	}
	if err := s.DB.UpdateUser(c.UserContext(), upd); err != nil {
		return err
	}
	return c.JSON(upd)
}

func (s *Server) deleteUser(c *fiber.Ctx) error {
	p := caller(c)
	u, err := s.scopedUser(c, p, c.Params("id"))
	if err != nil {
		return err
	}
	if err := requireRole(p, store.RoleCompanyAdmin, "delete users"); err != nil {
		return err
	}
	if err := s.DB.DeleteUser(c.UserContext(), u.ID); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// ---- tokens ----

// tokenVisible reports whether token t lies in the caller's tenancy.
func (p *principal) tokenVisible(t *store.Token) bool {
	switch p.Role {
	case store.RolePlatform:
		return true
	case store.RoleBrand:
		return t.BrandID == p.BrandID && t.Role != store.RolePlatform
	case store.RoleCompanyAdmin:
		return t.CompanyID == p.CompanyID && (t.Role == store.RoleCompanyAdmin || t.Role == store.RoleUser)
	default:
		return t.UserID == p.UserID && t.Role == store.RoleUser
	}
}

func (s *Server) listTokens(c *fiber.Ctx) error {
	p := caller(c)
	var f store.TokenFilter
	switch p.Role {
	case store.RoleBrand:
		f.BrandID = p.BrandID
	case store.RoleCompanyAdmin:
		f.CompanyID = p.CompanyID
	case store.RoleUser:
		f.UserID = p.UserID
	}
	all, err := s.DB.Tokens(c.UserContext(), f)
	if err != nil {
		return err
	}
	out := []*store.Token{}
	for _, t := range all {
		if p.tokenVisible(t) {
			out = append(out, t)
		}
	}
	return pageOf(c, out, func(t *store.Token) string { return t.ID })
}

func (s *Server) scopedToken(c *fiber.Ctx, p *principal, id string) (*store.Token, error) {
	t, err := s.DB.Token(c.UserContext(), id)
	if err != nil {
		return nil, err
	}
	if !p.tokenVisible(t) {
		return nil, store.NotFound("token not found")
	}
	return t, nil
}

func (s *Server) getToken(c *fiber.Ctx) error {
	t, err := s.scopedToken(c, caller(c), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(t)
}

// createdToken is the reply to POST /tokens: the token and, this once, its secret.
type createdToken struct {
	*store.Token
	Secret string `json:"secret"`
}

// tokenRequest is the body of POST /tokens.
type tokenRequest struct {
	Name      string `json:"name"`
	Role      string `json:"role"`
	BrandID   string `json:"brand_id"`
	CompanyID string `json:"company_id"`
	UserID    string `json:"user_id"`
}

// checkGrant verifies the caller may grant role r with the given scope: never a role above its
// own, and only inside its tenancy (an id outside it is the "no such" EINVALID the store gives).
func (s *Server) checkGrant(c *fiber.Ctx, p *principal, r *tokenRequest) error {
	if roleRank(r.Role) == 0 {
		return store.Invalid("role", "role must be platform, brand, company_admin or user")
	}
	if roleRank(r.Role) > roleRank(p.Role) {
		return forbidden("role", "You may not grant a role above your own.")
	}
	switch r.Role {
	case store.RoleBrand:
		if r.BrandID == "" && p.Role == store.RoleBrand {
			r.BrandID = p.BrandID
		}
		return checkBrandRef(p, r.BrandID)
	case store.RoleCompanyAdmin:
		if r.CompanyID == "" && p.Role == store.RoleCompanyAdmin {
			r.CompanyID = p.CompanyID
		}
		_, err := s.refCompany(c, p, r.CompanyID)
		return err
	case store.RoleUser:
		if r.UserID == "" {
			return store.Invalid("user_id", "user_id is required")
		}
		u, err := s.DB.User(c.UserContext(), r.UserID)
		if err == nil {
			_, err = s.refCompany(c, p, u.CompanyID)
		}
		if err != nil {
			if code := store.ErrorCode(err); code == store.ENOTFOUND || code == store.EINVALID {
				return store.Invalid("user_id", "no such user")
			}
			return err
		}
	}
	return nil
}

func (s *Server) createToken(c *fiber.Ctx) error {
	p := caller(c)
	if err := requireRole(p, store.RoleCompanyAdmin, "create tokens"); err != nil {
		return err
	}
	var r tokenRequest
	if err := decodeJSON(c, &r); err != nil {
		return err
	}
	if err := s.checkGrant(c, p, &r); err != nil {
		return err
	}
	secret, hash, err := store.NewTokenSecret()
	if err != nil {
		return err
	}
	t := &store.Token{Name: r.Name, Role: r.Role, BrandID: r.BrandID, CompanyID: r.CompanyID, UserID: r.UserID, Hash: hash}
	if err := s.DB.CreateToken(c.UserContext(), t); err != nil {
		return err
	}
	s.auditAfter(c, auditEntry(c, store.AuditEntry{Action: store.AuditTokenCreated, BrandID: t.BrandID, CompanyID: tokenCompany(s, c, t), Target: "token:" + t.ID, Detail: "role " + t.Role}))
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(fiber.StatusCreated).JSON(createdToken{Token: t, Secret: secret})
}

func (s *Server) deleteToken(c *fiber.Ctx) error {
	t, err := s.scopedToken(c, caller(c), c.Params("id"))
	if err != nil {
		return err
	}
	if err := s.DB.DeleteToken(c.UserContext(), t.ID); err != nil {
		return err
	}
	s.auditAfter(c, auditEntry(c, store.AuditEntry{Action: store.AuditTokenRevoked, BrandID: t.BrandID, CompanyID: tokenCompany(s, c, t), Target: "token:" + t.ID, Detail: "role " + t.Role}))
	return c.SendStatus(fiber.StatusNoContent)
}

// tokenCompany is the company whose audit chain a token's creation or revocation goes to: its
// own, or its user's ("" for brand and platform tokens, which go to the brand's or platform's).
func tokenCompany(s *Server, c *fiber.Ctx, t *store.Token) string {
	if t.CompanyID != "" || t.UserID == "" {
		return t.CompanyID
	}
	if u, err := s.DB.User(c.UserContext(), t.UserID); err == nil {
		return u.CompanyID
	}
	return ""
}
