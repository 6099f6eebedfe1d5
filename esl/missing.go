package esl

import (
	"context"
	"time"

	"github.com/callrec/callrec/dialplan"
	"github.com/callrec/callrec/store"
)

// Reasons of a recording.missing report (store.MissingCall.Reason).
const (
	MissingInvalidAnnouncement = "invalid_announcement" // the DDI records, but its announcement cannot be played: nothing was recorded
	MissingNotRecorded         = "not_recorded"         // the recording was due and none was kept: uuid_record refused, the row not stored, the recording abandoned
	MissingReleased            = "released_unrecorded"  // the call was released to the fallback before its recording could start
)

// reportMissing ends a decided Session (deferred in run): when its plan expected a recording —
// the DDI records the call (Decision.Records) or its announcement is invalid — and the call ends
// without one, it tells the store, which checks for a recording of the call in the same
// transaction and enqueues recording.missing for the company's webhooks (store.ReportMissing).
// A recorded party that never answered is nothing to record; a recording that starts and
// fails later is recording.failed, not missing (the store finds its row); consent declined
// records nothing on purpose. since is when the call was decided: its recordings started after.
func (s *Session) reportMissing(ctx context.Context, since time.Time) {
	if s.company == nil || s.adopted {
		return
	}
	var reason string
	switch {
	case s.plan.Decision == dialplan.DecisionInvalidAnnouncement:
		reason = MissingInvalidAnnouncement
	case !s.plan.Decision.Records(), s.consentDeclined:
		return
	case s.ddiStarted:
		reason = MissingNotRecorded
	case !s.hungUp && s.srv.lifetime().Err() == nil:
		reason = MissingReleased // apply or subscribe failed: FreeSWITCH continues with the fallback
	default:
		return // hung up before the recorded party answered, or callrec is stopping
	}
	mc := store.MissingCall{CompanyID: s.company.ID, CallID: s.info.CallUUID, Direction: string(s.info.Direction),
		Caller: s.plan.Caller, Callee: s.plan.Callee, Reason: reason, Since: since}
	if s.ddi != nil {
		mc.DDIID = s.ddi.ID
	}
	wctx, cancel := storeContext(ctx, s.srv.StoreTimeout)
	defer cancel()
	missing, err := s.srv.DB.ReportMissing(wctx, mc)
	switch {
	case err != nil:
		s.log.Error().Err(err).Str("decision", "missing_not_reported").Str("reason", reason).Msg("a call without its recording could not be reported")
	case missing:
		s.log.Warn().Str("decision", "recording_missing").Str("reason", reason).Msg("the call should have been recorded and has no recording")
	}
}
