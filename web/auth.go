package web

import (
	"crypto/subtle"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/requestid"

	"github.com/callrec/callrec/store"
)

// localsPrincipal is the fiber.Ctx Locals key of the authenticated caller.
const localsPrincipal = "callrec.principal"

// principal is the authenticated caller: its token and the scope that token grants.
type principal struct {
	store.Token
}

// authenticate resolves the Bearer token: the secret is hashed, looked up by hash and the stored
// hash compared in constant time. Unknown, malformed or revoked tokens are 401.
func (s *Server) authenticate(c *fiber.Ctx) error {
	h := c.Get(fiber.HeaderAuthorization)
	if h == "" && signedPath(c) {
		if p, ok, err := s.signedPrincipal(c); ok {
			if err != nil {
				return err
			}
			c.Locals(localsPrincipal, p)
			return c.Next()
		}
	}
	scheme, secret, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="callrec"`)
		return errUnauthorized("A Bearer token is required.")
	}
	secret = strings.TrimSpace(secret)
	hash := store.HashToken(secret)
	tok, err := s.DB.TokenByHash(c.UserContext(), hash)
	if err != nil {
		if store.ErrorCode(err) == store.ENOTFOUND {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="callrec", error="invalid_token"`)
			return errUnauthorized("The token is not valid.")
		}
		return err
	}
	if subtle.ConstantTimeCompare(tok.Hash, hash) != 1 {
		return errUnauthorized("The token is not valid.")
	}
	c.Locals(localsPrincipal, &principal{Token: *tok})
	s.touch(c, tok.ID)
	return c.Next()
}

// signedPath reports whether the request may be authenticated by a signed link instead of a
// token: a GET of a recording's audio or of an archive link's ZIP (link.go).
func signedPath(c *fiber.Ctx) bool {
	p := c.Path()
	return c.Method() == fiber.MethodGet &&
		(strings.HasSuffix(p, "/audio") || strings.HasPrefix(p, "/api/v1/recordings/archive/"))
}

// touchEvery is how stale a token's last_used_at may get: TouchToken is a batched write that
// waits for its batch, so it runs at most once per token per interval, not on every request.
const touchEvery = time.Minute

// touch records the token's use when the last record is older than touchEvery.
func (s *Server) touch(c *fiber.Ctx, tokenID string) {
	now := time.Now()
	s.touchMu.Lock()
	if s.touched == nil {
		s.touched = map[string]time.Time{}
	}
	last, ok := s.touched[tokenID]
	if ok && now.Sub(last) < touchEvery {
		s.touchMu.Unlock()
		return
	}
	s.touched[tokenID] = now
	if len(s.touched) > 100000 { // revoked tokens linger; forget them all now and then
		clear(s.touched)
	}
	s.touchMu.Unlock()
	if err := s.DB.TouchToken(c.UserContext(), tokenID, now); err != nil && store.ErrorCode(err) != store.ENOTFOUND {
		s.Logger.Warn().Err(err).Str("token_id", tokenID).Msg("token last-use not recorded")
	}
}

// caller returns the principal set by authenticate; handlers behind it may rely on it.
func caller(c *fiber.Ctx) *principal {
	p, _ := c.Locals(localsPrincipal).(*principal)
	return p
}

// requestID returns the id the requestid middleware gave the request ("" before it ran).
func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals(requestid.ConfigDefault.ContextKey).(string)
	return id
}

// isPlatform reports whether the caller is a platform admin.
func (p *principal) isPlatform() bool { return p.Role == store.RolePlatform }

// isAdminOver reports whether the caller administers brand-level objects of brandID.
func (p *principal) seesBrand(brandID string) bool {
	switch p.Role {
	case store.RolePlatform:
		return true
	default:
		return brandID != "" && brandID == p.BrandID
	}
}

// seesCompany reports whether company c lies inside the caller's tenancy (any role).
func (p *principal) seesCompany(c *store.Company) bool {
	switch p.Role {
	case store.RolePlatform:
		return true
	case store.RoleBrand:
		return c.BrandID == p.BrandID
	default:
		return c.ID == p.CompanyID
	}
}

// atLeast reports whether the caller's role is role or higher
// (platform > brand > company_admin > user).
func (p *principal) atLeast(role string) bool {
	return roleRank(p.Role) >= roleRank(role)
}

func roleRank(role string) int {
	switch role {
	case store.RolePlatform:
		return 4
	case store.RoleBrand:
		return 3
	case store.RoleCompanyAdmin:
		return 2
	case store.RoleUser:
		return 1
	}
	return 0
}

// scopedCompany loads company id and checks the caller sees it: a company outside the tenancy
// is ENOTFOUND, exactly like one that does not exist.
func (s *Server) scopedCompany(c *fiber.Ctx, p *principal, id string) (*store.Company, error) {
	co, err := s.DB.Company(c.UserContext(), id)
	if err != nil {
		return nil, err
	}
	if !p.seesCompany(co) {
		return nil, store.NotFound("company not found")
	}
	return co, nil
}

// refCompany resolves a company id given in a request body: outside the tenancy it is the same
// EINVALID error as an id that does not exist (the store's own answer), so nothing leaks.
func (s *Server) refCompany(c *fiber.Ctx, p *principal, id string) (*store.Company, error) {
	if id == "" {
		return nil, store.Invalid("company_id", "company_id is required")
	}
	co, err := s.DB.Company(c.UserContext(), id)
	if err != nil || !p.seesCompany(co) {
		if err != nil && store.ErrorCode(err) != store.ENOTFOUND {
			return nil, err
		}
		return nil, store.Invalid("company_id", "no such company")
	}
	return co, nil
}

// companyOrOwn is refCompany for a create's company_id, which a company admin may leave out
// (its own company is meant): the id to use, or refCompany's error.
func (s *Server) companyOrOwn(c *fiber.Ctx, p *principal, id string) (string, error) {
	if id == "" && p.Role == store.RoleCompanyAdmin {
		id = p.CompanyID
	}
	if _, err := s.refCompany(c, p, id); err != nil {
		return "", err
	}
	return id, nil
}

// requireRole answers 403 unless the caller has at least role.
func requireRole(p *principal, role, what string) error {
	if !p.atLeast(role) {
		return forbidden("", "Your role may not %s.", what)
	}
	return nil
}
