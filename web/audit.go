package web

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/callrec/callrec/store"
)

// The audit log in the API (store/audit.go): every handler that plays, downloads, archives or
// deletes a recording, changes a recording setting or a token, places or releases a hold, or
// answers a request by person appends its entry with the caller's token, role and address. A
// play or download that cannot be audited is not served (500); a deletion that succeeded and
// then could not be audited is logged at error level. GET /audit reads a tenancy's chain and
// GET /audit/verify checks it whole.

// auditEntry fills e with the caller of c (token, role, address) and returns it.
func auditEntry(c *fiber.Ctx, e store.AuditEntry) *store.AuditEntry {
	if p := caller(c); p != nil {
		e.TokenID, e.Role = p.ID, p.Role
	}
	e.Address = c.IP()
	return &e
}

// audit appends entries made by auditEntry. Errors: the store's.
func (s *Server) audit(c *fiber.Ctx, entries ...*store.AuditEntry) error {
	return s.DB.AppendAudit(c.UserContext(), entries...)
}

// auditAfter appends an entry for something already done: a failure is logged, not answered.
func (s *Server) auditAfter(c *fiber.Ctx, e *store.AuditEntry) {
	if err := s.audit(c, e); err != nil {
		s.Logger.Error().Err(err).Str("action", e.Action).Str("recording_id", e.RecordingID).Str("target", e.Target).
			Msg("audit entry not written")
	}
}

// changedFields names the JSON fields that differ between old and new (a setting change's
// detail): values are not written, only names.
func changedFields(old, new any) string {
	a, b := map[string]any{}, map[string]any{}
	ja, _ := json.Marshal(old)
	jb, _ := json.Marshal(new)
	_ = json.Unmarshal(ja, &a)
	_ = json.Unmarshal(jb, &b)
	var out []string
	for k, v := range b {
		if w, ok := a[k]; !ok || !jsonEqual(v, w) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	if len(out) == 0 {
		return "no change"
	}
	return "changed: " + strings.Join(out, ", ")
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// auditPlayback reports whether an audio request starts a playback or a download (no Range, or
// one from byte 0): seeking and the browser's further ranges of the same playback are not
// entries of their own.
func auditPlayback(rangeHeader string) bool {
	return rangeHeader == "" || strings.HasPrefix(strings.TrimSpace(rangeHeader), "bytes=0-")
}

// auditChainOf is the chain GET /audit and /audit/verify read for the caller: company_id names a
// company of its tenancy (a company admin's own when left out); brand and platform admins
// without one read their brand's chain, the platform admin the platform's (brand_id picks a
// brand's). Errors: EFORBIDDEN below company admin, EINVALID "company_id"/"brand_id" outside.
func (s *Server) auditChainOf(c *fiber.Ctx, p *principal) (string, error) {
	if err := requireRole(p, store.RoleCompanyAdmin, "read the audit log"); err != nil {
		return "", err
	}
	companyID, brandID := c.Query("company_id"), c.Query("brand_id")
	if companyID == "" && p.Role == store.RoleCompanyAdmin {
		companyID = p.CompanyID
	}
	if companyID != "" {
		if _, err := s.refCompany(c, p, companyID); err != nil {
			return "", err
		}
		return store.AuditChain("", companyID), nil
	}
	if brandID == "" && p.Role == store.RoleBrand {
		brandID = p.BrandID
	}
	if brandID != "" {
		if !p.seesBrand(brandID) {
			return "", store.Invalid("brand_id", "no such brand")
		}
		return store.AuditChain(brandID, ""), nil
	}
	return store.AuditChain("", ""), nil // the platform's: only a platform admin gets here
}

// auditReply is a page of GET /audit.
type auditReply struct {
	Items      []*store.AuditEntry `json:"items"`
	NextCursor string              `json:"next_cursor"`
}

// listAudit is GET /audit: the chain's entries, newest first, by cursor pages.
func (s *Server) listAudit(c *fiber.Ctx) error {
	p := caller(c)
	chain, err := s.auditChainOf(c, p)
	if err != nil {
		return err
	}
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	var before uint64
	if cursor != "" {
		if before, err = strconv.ParseUint(cursor, 10, 64); err != nil || before == 0 {
			return store.Invalid("cursor", "not a cursor of this listing")
		}
	}
	items, next, err := s.DB.AuditPage(c.UserContext(), chain, before, limit)
	if err != nil {
		return err
	}
	reply := auditReply{Items: items, NextCursor: ""}
	if reply.Items == nil {
		reply.Items = []*store.AuditEntry{}
	}
	if next != 0 {
		reply.NextCursor = strconv.FormatUint(next, 10)
	}
	return c.JSON(reply)
}

// verifyAudit is GET /audit/verify: the chain checked from its first entry to its head.
func (s *Server) verifyAudit(c *fiber.Ctx) error {
	chain, err := s.auditChainOf(c, caller(c))
	if err != nil {
		return err
	}
	v, err := s.DB.VerifyAudit(c.UserContext(), chain)
	if err != nil {
		return err
	}
	return c.JSON(v)
}
