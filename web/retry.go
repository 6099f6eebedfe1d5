package web

import (
	"github.com/gofiber/fiber/v2"

	"github.com/callrec/callrec/store"
)

// retryRecording queues a failed recording for encoding again with fresh attempts (POST
// /recordings/{id}/retry): for a recording that failed while the library was unusable and
// whose WAV was kept (issue 12 point 7). Company admins and above, within their tenancy (a
// recording out of scope is 404). Errors: 403 for a lower role, 404, 409 "state" when the
// recording is not failed, 400 "wav_path" when it never had a WAV.
func (s *Server) retryRecording(c *fiber.Ctx) error {
	p := caller(c)
	r, err := s.scopedRecording(c, p, c.Params("id"))
	if err != nil {
		return err
	}
	if err := requireRole(p, store.RoleCompanyAdmin, "retry recordings"); err != nil {
		return err
	}
	out, err := s.DB.RetryRecording(c.UserContext(), r.ID)
	if err != nil {
		return err
	}
	s.Logger.Info().Str("recording_id", out.ID).Str("company_id", out.CompanyID).Str("token_id", p.ID).
		Str("decision", "retry_queued").Msg("failed recording queued for encoding again")
	return c.JSON(out)
}
