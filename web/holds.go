package web

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/callrec/callrec/store"
)

// Legal holds (issue 15 item 4) in the API: company admins for their company, brand and
// platform admins in their tenancy; company users never. A hold is placed and released, never
// edited or deleted: the released ones stay as the record of what was held, by whom and until
// when. The store enforces them: deletion (single and bulk) answers 409 naming the hold, and the
// sweeper's retention and quota pass held recordings by.

// holdRequest is the body of POST /holds.
type holdRequest struct {
	CompanyID   string     `json:"company_id"`
	Kind        string     `json:"kind"`
	RecordingID string     `json:"recording_id"`
	CallID      string     `json:"call_id"`
	Number      string     `json:"number"`
	From        *time.Time `json:"from"` // RFC 3339
	To          *time.Time `json:"to"`
	Reason      string     `json:"reason"`
}

// listHolds is GET /holds: the holds of the caller's companies (company_id narrows, active=true
// leaves released ones out), oldest first per company.
func (s *Server) listHolds(c *fiber.Ctx) error {
	activeOnly := c.Query("active") == "true"
	return listInCompanies(s, c, "list legal holds", func(ctx context.Context, companyID string) ([]*store.Hold, error) {
		return s.DB.Holds(ctx, []string{companyID}, activeOnly)
	}, func(h *store.Hold) string { return h.ID })
}

// scopedHold loads hold id when its company is in the caller's tenancy (else ENOTFOUND), then
// requires at least company admin (403).
func (s *Server) scopedHold(c *fiber.Ctx, p *principal, id string) (*store.Hold, error) {
	h, err := s.DB.Hold(c.UserContext(), id)
	if err != nil {
		return nil, err
	}
	if _, err := s.scopedCompany(c, p, h.CompanyID); err != nil {
		return nil, store.NotFound("hold not found")
	}
	if err := requireRole(p, store.RoleCompanyAdmin, "read legal holds"); err != nil {
		return nil, err
	}
	return h, nil
}

func (s *Server) getHold(c *fiber.Ctx) error {
	h, err := s.scopedHold(c, caller(c), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(h)
}

// placeHold is POST /holds.
func (s *Server) placeHold(c *fiber.Ctx) error {
	p := caller(c)
	if err := requireRole(p, store.RoleCompanyAdmin, "place legal holds"); err != nil {
		return err
	}
	var req holdRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	company, err := s.companyOrOwn(c, p, req.CompanyID)
	if err != nil {
		return err
	}
	req.CompanyID = company
	h := &store.Hold{CompanyID: req.CompanyID, Kind: req.Kind, RecordingID: req.RecordingID, CallID: req.CallID,
		Number: req.Number, From: req.From, To: req.To, Reason: req.Reason}
	if err := s.DB.PlaceHold(c.UserContext(), h, "token:"+p.ID); err != nil {
		return err
	}
	s.auditAfter(c, auditEntry(c, store.AuditEntry{Action: store.AuditHoldPlaced, CompanyID: h.CompanyID, RecordingID: h.RecordingID,
		Target: "hold:" + h.ID, Detail: h.Kind + ": " + h.Reason}))
	s.Logger.Info().Str("hold", h.ID).Str("company_id", h.CompanyID).Str("kind", h.Kind).Str("by", h.CreatedBy).
		Str("decision", "hold_placed").Msg("legal hold placed")
	return c.Status(fiber.StatusCreated).JSON(h)
}

// releaseHold is POST /holds/{id}/release.
func (s *Server) releaseHold(c *fiber.Ctx) error {
	p := caller(c)
	h, err := s.scopedHold(c, p, c.Params("id"))
	if err != nil {
		return err
	}
	out, err := s.DB.ReleaseHold(c.UserContext(), h.ID, "token:"+p.ID)
	if err != nil {
		return err
	}
	s.auditAfter(c, auditEntry(c, store.AuditEntry{Action: store.AuditHoldReleased, CompanyID: out.CompanyID, RecordingID: out.RecordingID,
		Target: "hold:" + out.ID, Detail: out.Kind + ": " + out.Reason}))
	s.Logger.Info().Str("hold", out.ID).Str("company_id", out.CompanyID).Str("by", out.ReleasedBy).
		Str("decision", "hold_released").Msg("legal hold released")
	return c.JSON(out)
}
