package esl

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/callrec/callrec/store"
)

// Masking (issue 15 item 1, PCI DSS): a user of a key_dtmf company with a mask code types
// "*"+code and every recording of the call becomes silence until the code is typed again.
// `uuid_record <leg> mask <path>` sets SMBF_MASK on that media bug, and the record callback then
// writes zeroed frames of the same length (switch_ivr_async.c switch_ivr_record_session_mask
// ~1889, record_callback ~1399: null_data), so the file keeps the call's timeline and a listener
// hears silence where the card number was read. `unmask` clears the flag. The spans are stored
// on the row at every change, so a restart of callrec mid-call keeps them and knows the call is
// still masked (FreeSWITCH keeps the flag on the bug meanwhile).

// toggleMask masks every recording of the call, or unmasks them when the call is masked. leg is
// the user leg whose digits asked for it. A call with nothing recording is left as it is.
func (s *Session) toggleMask(ctx context.Context, leg *legInfo) {
	if leg.user == nil || leg.gone {
		s.log.Info().Str("decision", "mask_refused").Msg("mask code from an unidentified or departed leg")
		return
	}
	on := !s.masked
	n := s.setCallMask(ctx, on, leg.user.ID)
	if n == 0 {
		s.log.Info().Str("decision", "mask_refused").Str("user", leg.user.ID).Msg("mask code typed with nothing recording")
		return
	}
	decision := "mask_off"
	if on {
		decision = "mask_on"
	}
	s.log.Info().Str("decision", decision).Str("user", leg.user.ID).Int("recordings", n).Msg("recordings masked or unmasked")
	s.tone(ctx, leg.uuid)
}

// setCallMask masks (on) or unmasks every running recording of the call for by, and returns
// how many FreeSWITCH took; the call counts as masked once one was.
func (s *Session) setCallMask(ctx context.Context, on bool, by string) int {
	n := 0
	for _, r := range s.recs {
		if r.stopping || r.unbooked {
			continue
		}
		if s.setMask(ctx, r, on, by) {
			n++
		}
	}
	if n > 0 {
		s.masked, s.maskedBy = on, by
	}
	return n
}

// setMask masks or unmasks one recording in FreeSWITCH and records the span on its row. It
// reports whether FreeSWITCH took it.
func (s *Session) setMask(ctx context.Context, r *activeRec, on bool, by string) bool {
	action := "unmask"
	if on {
		action = "mask"
	}
	if _, err := s.cmd.api(ctx, "uuid_record", r.leg, action, r.path); err != nil {
		s.log.Warn().Err(err).Str("recording", r.id).Str("decision", action+"_failed").Msg("uuid_record " + action + " failed")
		return false
	}
	at := time.Since(r.startedAt).Milliseconds()
	if on {
		r.masks = append(r.masks, store.MaskSpan{OffsetMS: max(at, 0), Open: true, By: by})
	} else {
		closeMask(r.masks, at)
	}
	s.storeMasks(ctx, r)
	return true
}

// closeMask ends the open span of masks, if any, at offset at (ms from the recording's start).
func closeMask(masks []store.MaskSpan, at int64) bool {
	if n := len(masks); n > 0 && masks[n-1].Open {
		masks[n-1].Open = false
		masks[n-1].LengthMS = max(at-masks[n-1].OffsetMS, 0)
		return true
	}
	return false
}

// storeMasks writes r's spans to its row in the background: the call's path never waits on
// the disk for it. The writes of one recording run in order (each waits for the one before and
// for the row's own commit, store.StartRecording), and onRecordStop waits for the last before it
// finishes the row (waitMasks), so no span is written after the row has stopped. A failure is
// logged: the file is masked all the same.
func (s *Session) storeMasks(ctx context.Context, r *activeRec) {
	prev, commit, masks := r.masksWritten, r.stored, slices.Clone(r.masks)
	done := make(chan struct{})
	r.masksWritten = done
	log, db, timeout := s.log, s.srv.DB, s.srv.StoreTimeout
	go func() {
		defer close(done)
		if prev != nil {
			<-prev
		}
		if commit != nil {
			// A row refused for good is never stored: rowStored tells that on the call's own
			// goroutine. A pending one (store.ErrCommitPending) may be in by now: try.
			if err := commit(); err != nil && !errors.Is(err, store.ErrCommitPending) {
				return
			}
		}
		wctx, cancel := storeContext(ctx, timeout)
		defer cancel()
		if err := db.SetRecordingMasks(wctx, r.id, masks); err != nil {
			log.Error().Err(err).Str("recording", r.id).Msg("masked spans not stored")
		}
	}()
}

// waitMasks waits for r's last span write (storeMasks): the caller is about to finish the row.
func (r *activeRec) waitMasks() {
	if r.masksWritten != nil {
		<-r.masksWritten
	}
}

// maskNew masks a recording that started while the call is masked: no audio of a masked call
// reaches any file.
func (s *Session) maskNew(ctx context.Context, r *activeRec) {
	if s.masked {
		s.setMask(ctx, r, true, s.maskedBy)
	}
}

// endMask closes r's open span when its recording stops (FreeSWITCH's mask ends with the bug).
func (s *Session) endMask(ctx context.Context, r *activeRec, durationMS int64) {
	if closeMask(r.masks, durationMS) {
		s.storeMasks(ctx, r)
	}
}
