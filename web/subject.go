package web

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/gofiber/fiber/v2"

	"github.com/callrec/callrec/store"
)

// Requests by person (issue 15 item 5, GDPR art. 15 access and art. 17 erasure): every
// recording of a company that involves one phone number (caller, callee or recorder, exactly),
// listed, exported as one ZIP with its signed manifest (the archive link), or erased — rows,
// files and index entries, as a delete does. A legal hold wins over erasure: a held recording
// is refused with 409 naming the hold. Company admins for their company, brand and platform
// admins for a company they name. The log keeps what was done, never the number itself (a
// SHA-256 prefix instead) and no audio.

// subjectRequest is the body of POST /subjects/archive/link and /subjects/erase.
type subjectRequest struct {
	Number    string `json:"number"`
	CompanyID string `json:"company_id"`
	DryRun    bool   `json:"dry_run"`
	// IDs (erase only, optional) narrows the erasure to these of the person's recordings: the
	// ones a dry run listed, so a recording that arrived since is never erased unseen.
	IDs []string `json:"ids"`
}

// subjectReply is the answer of GET /subjects/recordings.
type subjectReply struct {
	Number string             `json:"number"` // E.164
	Items  []*store.Recording `json:"items"`
}

// subjectErasure is the answer of POST /subjects/erase.
type subjectErasure struct {
	Number  string        `json:"number"`
	Erased  []string      `json:"erased"`
	Refused []bulkRefusal `json:"refused"` // held (409 naming the hold), running (409), removal not allowed (403)
	DryRun  bool          `json:"dry_run,omitempty"`
}

// subjectRecordings resolves the caller's company (its own for a company admin, companyID for
// brand and platform admins: required, inside the tenancy) and the number, and returns the
// number in E.164 and the company's recordings involving it.
func (s *Server) subjectRecordings(c *fiber.Ctx, p *principal, number, companyID string) (string, []*store.Recording, error) {
	if err := requireRole(p, store.RoleCompanyAdmin, "look recordings up by person"); err != nil {
		return "", nil, err
	}
	company, err := s.companyOrOwn(c, p, companyID)
	if err != nil {
		return "", nil, err
	}
	companyID = company
	if number == "" {
		return "", nil, store.Invalid("number", "required: the person's phone number")
	}
	n, err := s.DB.SubjectNumber(c.UserContext(), companyID, number)
	if err != nil {
		return "", nil, err
	}
	recs, err := s.DB.RecordingsOfNumber(c.UserContext(), companyID, n)
	return n, recs, err
}

// subjectList is GET /subjects/recordings?number=…[&company_id=…].
func (s *Server) subjectList(c *fiber.Ctx) error {
	p := caller(c)
	n, recs, err := s.subjectRecordings(c, p, c.Query("number"), c.Query("company_id"))
	if err != nil {
		return err
	}
	if recs == nil {
		recs = []*store.Recording{}
	}
	s.auditAfter(c, auditEntry(c, store.AuditEntry{Action: store.AuditSubjectListed, CompanyID: cmp.Or(c.Query("company_id"), p.CompanyID),
		Detail: fmt.Sprintf("number sha256 %s: %d recordings", numberHash(n), len(recs))}))
	s.Logger.Info().Str("token_id", p.ID).Str("number_sha256", numberHash(n)).Int("recordings", len(recs)).
		Str("decision", "subject_listed").Msg("recordings of a person listed")
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(subjectReply{Number: n, Items: recs})
}

// subjectArchiveLink is POST /subjects/archive/link: the signed archive link (as POST
// /recordings/archive/link) of every ready recording of the person.
func (s *Server) subjectArchiveLink(c *fiber.Ctx) error {
	p := caller(c)
	var req subjectRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	n, recs, err := s.subjectRecordings(c, p, req.Number, req.CompanyID)
	if err != nil {
		return err
	}
	s.auditAfter(c, auditEntry(c, store.AuditEntry{Action: store.AuditSubjectExported, CompanyID: cmp.Or(req.CompanyID, p.CompanyID),
		Detail: fmt.Sprintf("number sha256 %s: %d recordings", numberHash(n), len(recs))}))
	s.Logger.Info().Str("token_id", p.ID).Str("number_sha256", numberHash(n)).Int("recordings", len(recs)).
		Str("decision", "subject_exported").Msg("recordings of a person exported")
	return s.issueArchiveLink(c, p, recs)
}

// subjectErase is POST /subjects/erase: every recording of the person is deleted as DELETE
// /recordings/{id} would, or refused with that call's answer (a hold: 409 naming it).
func (s *Server) subjectErase(c *fiber.Ctx) error {
	p := caller(c)
	var req subjectRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	n, recs, err := s.subjectRecordings(c, p, req.Number, req.CompanyID)
	if err != nil {
		return err
	}
	reply := subjectErasure{Number: n, Erased: []string{}, Refused: []bulkRefusal{}, DryRun: req.DryRun}
	if req.IDs != nil {
		ids, err := s.uniqueIDs(req.IDs)
		if err != nil {
			return err
		}
		keep := map[string]bool{}
		for _, id := range ids {
			keep[id] = true
		}
		recs = slices.DeleteFunc(recs, func(r *store.Recording) bool { return !keep[r.ID] })
	}
	erased, err := s.deleteEach(c, p, recs, req.DryRun, store.AuditErase, func(id string, err error) {
		reply.Refused = append(reply.Refused, refusalOf(id, err))
	})
	if err != nil {
		return err
	}
	reply.Erased = erased
	s.Logger.Info().Str("token_id", p.ID).Str("number_sha256", numberHash(n)).Int("erased", len(reply.Erased)).
		Int("refused", len(reply.Refused)).Bool("dry_run", req.DryRun).Str("decision", "subject_erased").
		Msg("recordings of a person erased")
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(reply)
}

// numberHash names a person's number in the log without writing it down.
func numberHash(n string) string {
	sum := sha256.Sum256([]byte(n))
	return hex.EncodeToString(sum[:8])
}
