package web

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/callrec/callrec/esl"
	"github.com/callrec/callrec/store"
)

// CallController is what the API needs of the calls callrec follows (esl.Server implements it).
type CallController interface {
	LiveCalls() []esl.LiveCall
	LiveCall(id string) (esl.LiveCall, bool)
	ControlCall(ctx context.Context, id string, r esl.ControlRequest) (esl.LiveCall, error)
}

// liveCallList is the reply of GET /calls.
type liveCallList struct {
	Items []esl.LiveCall `json:"items"`
}

// callVisible reports whether the caller may see live call lc: its company is in the caller's
// tenancy, and a company user sees only the calls it is on.
func (s *Server) callVisible(p *principal, lc esl.LiveCall) bool {
	co, ok := s.DB.Rules().Company(lc.CompanyID)
	if !ok || !p.seesCompany(&co) {
		return false
	}
	return p.Role != store.RoleUser || slices.Contains(lc.UserIDs, p.UserID)
}

// listCalls is GET /calls: the live calls in the caller's tenancy, oldest first.
func (s *Server) listCalls(c *fiber.Ctx) error {
	p := caller(c)
	out := liveCallList{Items: []esl.LiveCall{}}
	if s.Calls != nil {
		for _, lc := range s.Calls.LiveCalls() {
			if s.callVisible(p, lc) {
				out.Items = append(out.Items, lc)
			}
		}
	}
	return c.JSON(out)
}

// callRecordingRequest is the body of POST /calls/{id}/recording.
type callRecordingRequest struct {
	Action string `json:"action"`
	// UserID picks whose on-demand recording start and stop act on (admins; a user token
	// always acts on its own). Empty: the call's first user.
	UserID string `json:"user_id"`
}

// controlCall is POST /calls/{id}/recording: start | stop | pause | resume. Company admins and
// above on any call of their tenancy; a company user on its own calls when its company allows
// on-demand recording. A call outside the tenancy is 404, like one that does not exist.
func (s *Server) controlCall(c *fiber.Ctx) error {
	p := caller(c)
	var req callRecordingRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	switch req.Action {
	case esl.ActionStart, esl.ActionStop, esl.ActionPause, esl.ActionResume:
	case "":
		return store.Invalid("action", "required: start, stop, pause or resume")
	default:
		return store.Invalid("action", "must be start, stop, pause or resume")
	}
	if s.Calls == nil {
		return store.NotFound("call not found")
	}
	lc, ok := s.Calls.LiveCall(c.Params("id"))
	if !ok || !s.callVisible(p, lc) {
		return store.NotFound("call not found")
	}
	r := esl.ControlRequest{Action: req.Action, UserID: req.UserID, By: "token:" + p.ID}
	if p.Role == store.RoleUser {
		if co, _ := s.DB.Rules().Company(lc.CompanyID); co.OnDemand == store.OnDemandDisabled {
			return forbidden("action", "Your company does not allow recording on demand.")
		}
		if req.UserID != "" && req.UserID != p.UserID {
			return forbidden("user_id", "A user may control only its own recording.")
		}
		r.UserID = p.UserID
	} else if req.UserID != "" && !slices.Contains(lc.UserIDs, req.UserID) {
		return store.Invalid("user_id", "that user is not on the call")
	}
	out, err := s.Calls.ControlCall(c.UserContext(), lc.ID, r)
	switch {
	case errors.Is(err, esl.ErrCallNotFound):
		return store.NotFound("call not found")
	case errors.Is(err, esl.ErrControlRefused):
		return forbidden("action", "%s", reason(err))
	case errors.Is(err, esl.ErrControlConflict):
		return store.Conflict("action", "%s", reason(err))
	case err != nil:
		return err
	}
	return c.JSON(out)
}

// reason is the part of a wrapped esl control error after the sentinel's text: the plain
// reason a tenant is shown ("nothing is recording").
func reason(err error) string {
	msg := err.Error()
	if _, after, ok := strings.Cut(msg, ": "); ok {
		return after
	}
	return msg
}
