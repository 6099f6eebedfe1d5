package esl

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/callrec/callrec/dialplan"
	"github.com/callrec/callrec/store"
)

// Live calls (issue 15 item 2): the API lists the calls callrec follows and drives their
// recording (start, stop, pause, resume), so a CRM or a softphone button can do what the Record
// key and the codes do. Each Session publishes a snapshot of itself after every event and
// request it handles (publish): listing reads snapshots and never waits for a busy call; a
// control request runs on the call's own goroutine, like every other change to a call.

// LiveCall is a snapshot of one call callrec follows. ID is the controlled leg's uuid: the
// id of POST /calls/{id}/recording.
type LiveCall struct {
	ID         string          `json:"id"`
	CompanyID  string          `json:"company_id"`
	Direction  string          `json:"direction"`
	Caller     string          `json:"caller"`
	Callee     string          `json:"callee"`
	DDIID      string          `json:"ddi_id,omitempty"`
	UserIDs    []string        `json:"user_ids"` // the platform users on the call's legs
	StartedAt  time.Time       `json:"started_at"`
	Masked     bool            `json:"masked"` // the recordings are paused (silence, timeline kept)
	Recordings []LiveRecording `json:"recordings"`
}

// LiveRecording is a recording running on a live call.
type LiveRecording struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Trigger   string    `json:"trigger"`
	UserID    string    `json:"user_id,omitempty"`
	StartedAt time.Time `json:"started_at"`
}

// The control actions of POST /calls/{id}/recording.
const (
	ActionStart  = "start"  // start an on-demand recording of the user (trigger api)
	ActionStop   = "stop"   // stop the user's on-demand recordings (never a DDI recording)
	ActionPause  = "pause"  // mask every recording of the call
	ActionResume = "resume" // unmask them
)

// ControlRequest is one control of a live call's recording.
type ControlRequest struct {
	Action string
	// UserID is whose on-demand recording start and stop act on: a user token's own user; an
	// admin may name one of the call's users, or leave it empty for the call's first user.
	UserID string
	// By says who asked, for the row's masked spans and the log (e.g. "token:<id>").
	By string
}

// Errors of ControlCall: ErrCallNotFound when no such call is followed (or it just ended),
// ErrControlRefused (wrapped with the reason) when the company's settings forbid the action,
// ErrControlConflict (wrapped) when it does not apply to the call as it is now.
var (
	ErrCallNotFound    = errors.New("no such live call")
	ErrControlRefused  = errors.New("not allowed for this call")
	ErrControlConflict = errors.New("does not apply to the call now")
)

// LiveCalls returns a snapshot of every call followed now, oldest first. Anyone may call it; the
// caller filters by tenancy.
func (s *Server) LiveCalls() []LiveCall {
	seen := map[*Session]bool{}
	var out []LiveCall
	s.live.Range(func(_, v any) bool {
		sess := v.(*Session)
		if seen[sess] {
			return true
		}
		seen[sess] = true
		if c := sess.snap.Load(); c != nil {
			out = append(out, *c)
		}
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].StartedAt.Before(out[j].StartedAt) })
	return out
}

// LiveCall returns the snapshot of the call whose controlled leg is id.
func (s *Server) LiveCall(id string) (LiveCall, bool) {
	sess := s.sessionOf(id)
	if sess == nil || sess.info.UUID != id {
		return LiveCall{}, false
	}
	c := sess.snap.Load()
	if c == nil {
		return LiveCall{}, false
	}
	return *c, true
}

// ControlCall runs r on the call whose controlled leg is id, on the call's goroutine, and
// returns the call as it then is. The caller has checked the tenancy (LiveCall). Errors:
// ErrCallNotFound, ErrControlRefused, ErrControlConflict (wrapped with the reason), or the
// context's error.
func (s *Server) ControlCall(ctx context.Context, id string, r ControlRequest) (LiveCall, error) {
	sess := s.sessionOf(id)
	if sess == nil || sess.info.UUID != id {
		return LiveCall{}, ErrCallNotFound
	}
	type result struct {
		call LiveCall
		err  error
	}
	res, _ := sess.ask(ctx, func(ctx context.Context) any {
		err := sess.control(ctx, r)
		sess.publish()
		c := sess.snap.Load()
		if c == nil {
			return result{err: ErrCallNotFound}
		}
		return result{call: *c, err: err}
	}).(result)
	if res.call.ID == "" && res.err == nil {
		if err := ctx.Err(); err != nil {
			return LiveCall{}, err
		}
		return LiveCall{}, ErrCallNotFound // the Session ended or did not answer
	}
	return res.call, res.err
}

// control applies r to the call (on the Session's goroutine).
func (s *Session) control(ctx context.Context, r ControlRequest) error {
	if s.company == nil || s.hungUp {
		return ErrCallNotFound
	}
	switch r.Action {
	case ActionPause, ActionResume:
		on := r.Action == ActionPause
		if s.masked == on {
			return fmt.Errorf("%w: the recordings are already %sd", ErrControlConflict, r.Action)
		}
		if n := s.setCallMask(ctx, on, r.By); n == 0 {
			return fmt.Errorf("%w: nothing is recording", ErrControlConflict)
		}
		s.log.Info().Str("decision", "mask_"+map[bool]string{true: "on", false: "off"}[on]).Str("by", r.By).Msg("recordings masked or unmasked through the API")
		return nil
	case ActionStart, ActionStop:
	default:
		return fmt.Errorf("%w: unknown action %q", ErrControlConflict, r.Action)
	}
	if s.plan.OnDemand.Mode == dialplan.OnDemandDisabled {
		return fmt.Errorf("%w: on-demand recording is disabled for this company", ErrControlRefused)
	}
	leg := s.userLeg(r.UserID)
	if leg == nil {
		return fmt.Errorf("%w: that user is not on the call", ErrControlConflict)
	}
	running := s.onDemandOf(leg)
	if r.Action == ActionStop {
		if len(running) == 0 {
			return fmt.Errorf("%w: the user is not recording", ErrControlConflict)
		}
		for _, rec := range running {
			s.stopRecording(ctx, rec, "stopped_through_api")
		}
		s.tone(ctx, leg.uuid)
		return nil
	}
	if len(running) > 0 {
		return fmt.Errorf("%w: the user is already recording", ErrControlConflict)
	}
	rec := &store.Recording{Type: store.TypeOnDemand, Trigger: store.TriggerAPI, UserID: leg.user.ID, Recorder: leg.user.Extension}
	if s.startRecording(ctx, leg.uuid, rec, leg.uuid) == nil {
		return fmt.Errorf("%w: FreeSWITCH did not start the recording", ErrControlConflict)
	}
	s.tone(ctx, leg.uuid)
	return nil
}

// userLeg is the live leg of user id, or with id empty the first live user leg.
func (s *Session) userLeg(id string) *legInfo {
	var first *legInfo
	for _, l := range s.legs {
		if l.gone || l.user == nil {
			continue
		}
		if l.user.ID == id {
			return l
		}
		if first == nil || l.uuid < first.uuid {
			first = l
		}
	}
	if id == "" {
		return first
	}
	return nil
}

// onDemandOf are the running on-demand recordings the user of leg asked for, by any trigger.
func (s *Session) onDemandOf(leg *legInfo) []*activeRec {
	var out []*activeRec
	for _, r := range s.recs {
		if r.typ == store.TypeOnDemand && r.requester == leg.uuid && !r.stopping {
			out = append(out, r)
		}
	}
	return out
}

// publish stores a snapshot of the call for LiveCalls. The Session's goroutine calls it after
// each event and request it handles; a call without a company (not for callrec to record) is
// not published, and a call whose controlled leg hung up is withdrawn.
func (s *Session) publish() {
	if s.company == nil {
		return
	}
	if s.hungUp { // the call is over; its recordings only drain
		s.snap.Store(nil)
		return
	}
	c := &LiveCall{ID: s.info.UUID, CompanyID: s.company.ID, Direction: string(s.info.Direction),
		Caller: s.plan.Caller, Callee: s.plan.Callee, Masked: s.masked, StartedAt: s.startedAt,
		UserIDs: []string{}, Recordings: []LiveRecording{}}
	if s.ddi != nil {
		c.DDIID = s.ddi.ID
	}
	for _, l := range s.legs {
		if l.user != nil && !l.gone {
			c.UserIDs = append(c.UserIDs, l.user.ID)
		}
	}
	sort.Strings(c.UserIDs)
	for _, r := range s.recs {
		if r.stopping || r.unbooked {
			continue
		}
		lr := LiveRecording{ID: r.id, Type: r.typ, Trigger: r.trigger, StartedAt: r.startedAt}
		if l := s.legs[r.requester]; l != nil && l.user != nil {
			lr.UserID = l.user.ID
		}
		c.Recordings = append(c.Recordings, lr)
	}
	sort.Slice(c.Recordings, func(i, j int) bool { return c.Recordings[i].StartedAt.Before(c.Recordings[j].StartedAt) })
	s.snap.Store(c)
}
