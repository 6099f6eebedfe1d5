package web

import (
	"bufio"
	"context"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/callrec/callrec/store"
)

// sortByID sorts items by their id (ids sort by creation time).
func sortByID[T any](items []T, id func(T) string) {
	slices.SortFunc(items, func(a, b T) int { return strings.Compare(id(a), id(b)) })
}

// recordingsReply is the listing of GET /recordings.
type recordingsReply struct {
	Items      []*store.Recording `json:"items"`
	NextCursor string             `json:"next_cursor"`
}

// recordingFilter builds the store filter from SPEC §4.1's query parameters and narrows it to
// the caller's tenancy. ok is false when the caller's own filter already excludes its whole
// tenancy (e.g. another company's id), which answers an empty page, never another tenant's rows.
// get reads one parameter by name ("" when absent): c.Query for the listing, the body's filter
// object for POST /recordings/archive. Paging (limit, cursor) is the caller's.
func recordingFilter(get func(string) string, p *principal) (f store.RecordingFilter, ok bool, err error) {
	for _, q := range []struct {
		name string
		dst  **time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := get(q.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return f, false, store.Invalid(q.name, "%s must be an RFC 3339 time", q.name)
			}
			*q.dst = &t
		}
	}
	f.Type, f.Trigger, f.State = get("type"), get("trigger"), get("state")
	f.Caller, f.Callee = get("caller"), get("callee")
	if f.Number = get("number"); f.Number != "" {
		if err := store.CheckNumberQuery(f.Number); err != nil {
			return f, false, err
		}
	}
	f.DDIID, f.UserID = get("ddi_id"), get("user_id")
	f.CompanyID = get("company_id")
	if v := get("min_duration_ms"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return f, false, store.Invalid("min_duration_ms", "min_duration_ms must be a non-negative integer")
		}
		f.MinDurationMS = n
	}
	switch p.Role {
	case store.RolePlatform:
	case store.RoleBrand:
		f.BrandID = p.BrandID
	default:
		if f.CompanyID != "" && f.CompanyID != p.CompanyID {
			return f, false, nil
		}
		f.CompanyID = p.CompanyID
	}
	if p.Role == store.RoleUser {
		// SPEC §1: a company user sees only the on-demand recordings it requested.
		if (f.UserID != "" && f.UserID != p.UserID) || (f.Type != "" && f.Type != store.TypeOnDemand) {
			return f, false, nil
		}
		f.UserID, f.Type = p.UserID, store.TypeOnDemand
	}
	return f, true, nil
}

func (s *Server) listRecordings(c *fiber.Ctx) error {
	p := caller(c)
	f, ok, err := recordingFilter(func(k string) string { return c.Query(k) }, p)
	if err != nil {
		return err
	}
	limit, cur, err := pageParams(c)
	if err != nil {
		return err
	}
	f.Limit, f.Cursor = limit, store.Cursor(cur)
	reply := recordingsReply{Items: []*store.Recording{}}
	if ok {
		recs, next, err := s.DB.ListRecordings(c.UserContext(), f)
		if err != nil {
			return err
		}
		for _, r := range recs {
			// The store filters by brand/company already; this second check keeps a store bug
			// from ever becoming a leak.
			if s.recordingVisible(p, r) {
				reply.Items = append(reply.Items, r)
			}
		}
		reply.NextCursor = string(next)
	}
	return c.JSON(reply)
}

// recordingVisible reports whether recording r lies in the caller's tenancy: its company is
// seen by the caller, and for a company user it is an on-demand recording the user requested.
func (s *Server) recordingVisible(p *principal, r *store.Recording) bool {
	co, ok := s.DB.Rules().Company(r.CompanyID)
	if !ok || !p.seesCompany(&co) {
		return false
	}
	if p.Role == store.RoleUser {
		return r.Type == store.TypeOnDemand && r.UserID != "" && r.UserID == p.UserID
	}
	return true
}

// scopedRecording loads recording id for the caller; outside its tenancy it is ENOTFOUND.
func (s *Server) scopedRecording(c *fiber.Ctx, p *principal, id string) (*store.Recording, error) {
	r, err := s.DB.Recording(c.UserContext(), id)
	if err != nil {
		return nil, err
	}
	if !s.recordingVisible(p, r) {
		return nil, store.NotFound("recording not found")
	}
	return r, nil
}

func (s *Server) getRecording(c *fiber.Ctx) error {
	r, err := s.scopedRecording(c, caller(c), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(r)
}

// deleteRecording removes a recording: row, index entries and queued job in one store
// transaction, then its files. Company admins (and the brand and platform above them) only,
// and only when the company allows removal (SPEC §1).
func (s *Server) deleteRecording(c *fiber.Ctx) error {
	p := caller(c)
	r, err := s.scopedRecording(c, p, c.Params("id"))
	if err != nil {
		return err
	}
	if err := requireRole(p, store.RoleCompanyAdmin, "delete recordings"); err != nil {
		return err
	}
	if err := s.checkDeletable(c.UserContext(), r); err != nil {
		return err
	}
	if err := s.removeRecording(c, p, r, store.AuditDelete); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// checkDeletable says whether recording r (already scoped to a caller whose role may delete)
// may be removed: EFORBIDDEN when its company does not allow removal, ECONFLICT while it is
// still being recorded or while a legal hold covers it (the store refuses that deletion too;
// checking here lets a dry run say so). Callers: the single and the bulk delete, the erasure.
func (s *Server) checkDeletable(ctx context.Context, r *store.Recording) error {
	co, err := s.DB.Company(ctx, r.CompanyID)
	if err != nil {
		return err
	}
	if !co.RemovalAllowed() {
		return forbidden("allow_recording_removal", "This company does not allow recordings to be removed.")
	}
	if r.State == store.StateRecording {
		// FreeSWITCH is still writing the WAV: deleting the row now would leave that audio in the
		// spool with no row, unlisted and never swept.
		return store.Conflict("state", "The recording is still running; delete it once it has stopped.")
	}
	h, err := s.DB.HoldOn(ctx, r)
	if err != nil {
		return err
	}
	if h != nil {
		return store.HeldConflict(h)
	}
	return nil
}

// deleteEach deletes recs as DELETE /recordings/{id} would (checkDeletable, removeRecording with
// action for the audit log), or with dryRun only checks them, and answers the ids deleted and
// the refusals with that call's status (403, 404, 409). refuse collects one refusal. Only a
// store failure is an error. Callers: the bulk delete and the erasure by person.
func (s *Server) deleteEach(c *fiber.Ctx, p *principal, recs []*store.Recording, dryRun bool, action string,
	refuse func(id string, err error)) ([]string, error) {
	deleted := []string{}
	for _, r := range recs {
		err := s.checkDeletable(c.UserContext(), r)
		if err == nil && !dryRun {
			err = s.removeRecording(c, p, r, action)
		}
		switch code := store.ErrorCode(err); {
		case err == nil:
			deleted = append(deleted, r.ID)
		case code == store.EFORBIDDEN || code == store.ECONFLICT || code == store.ENOTFOUND:
			refuse(r.ID, err)
		default:
			return nil, err
		}
	}
	return deleted, nil
}

// refusalOf is err as the refusal of recording id in a bulk answer.
func refusalOf(id string, err error) bulkRefusal {
	status, d := errorStatus(err)
	return bulkRefusal{ID: id, Status: status, Code: d.Code, Message: d.Message}
}

// removeRecording deletes r (checked by checkDeletable) from the store, then its files through
// RemoveFiles (a file that cannot be removed is logged, not an error: the row is gone). Errors:
// the store's (ENOTFOUND when it went meanwhile).
func (s *Server) removeRecording(c *fiber.Ctx, p *principal, r *store.Recording, action string) error {
	ctx := c.UserContext()
	// The audit entry is stored with the deletion, in its transaction: never one without the other.
	del, err := s.DB.DeleteRecordingAudited(ctx, r.ID, func(old *store.Recording) *store.AuditEntry {
		return auditEntry(c, store.AuditEntry{Action: action, CompanyID: old.CompanyID, RecordingID: old.ID,
			Detail: "started " + old.StartedAt.UTC().Format(time.RFC3339) + ", " + old.Type + ", " + old.State})
	})
	if err != nil {
		return err
	}
	if s.RemoveFiles == nil {
		s.Logger.Error().Str("recording_id", del.ID).Msg("recording files not removed: no RemoveFiles configured")
	} else if err := s.RemoveFiles(ctx, del); err != nil {
		s.Logger.Error().Err(err).Str("recording_id", del.ID).Msg("recording file not removed")
	}
	s.Logger.Info().Str("recording_id", del.ID).Str("company_id", del.CompanyID).Str("token_id", p.ID).
		Msg("recording deleted")
	return nil
}

// bulkDeleteRequest is the body of POST /recordings/delete: exactly one of ids and filter (the
// shapes and bounds of POST /recordings/archive). DryRun answers what would be deleted and
// refused without deleting: the page asks it first for a filter, shows the exact count, then
// deletes the ids it was shown (so a recording arriving meanwhile is never deleted unseen).
type bulkDeleteRequest struct {
	IDs    []string       `json:"ids"`
	Filter map[string]any `json:"filter"`
	DryRun bool           `json:"dry_run"`
}

// bulkDeleteReply is the answer of POST /recordings/delete.
type bulkDeleteReply struct {
	Deleted []string      `json:"deleted"`
	Refused []bulkRefusal `json:"refused"`
	DryRun  bool          `json:"dry_run,omitempty"`
}

// bulkRefusal is one recording not deleted and why, with the status and error a single DELETE
// of it would have answered (404 outside the tenancy, with the same body as a missing one).
type bulkRefusal struct {
	ID      string `json:"id"`
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// deleteRecordings is POST /recordings/delete: every selected recording is deleted as DELETE
// /recordings/{id} would (checkDeletable, removeRecording) or refused with that call's answer.
// A role below company admin is 403 for the whole request; a bad body or a filter over
// ArchiveLimit is 400; only a store failure is an error reply once the work has begun.
func (s *Server) deleteRecordings(c *fiber.Ctx) error {
	p := caller(c)
	if err := requireRole(p, store.RoleCompanyAdmin, "delete recordings"); err != nil {
		return err
	}
	var req bulkDeleteRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	reply := bulkDeleteReply{Deleted: []string{}, Refused: []bulkRefusal{}, DryRun: req.DryRun}
	refuse := func(id string, err error) {
		r := refusalOf(id, err)
		reply.Refused = append(reply.Refused, r)
		s.Logger.Info().Str("recording_id", id).Str("token_id", p.ID).Int("status", r.Status).
			Str("reason", r.Message).Msg("recording not deleted")
	}
	var recs []*store.Recording
	switch {
	case req.Filter != nil && len(req.IDs) == 0:
		var err error
		if recs, err = s.filterRecordings(c, p, req.Filter, false); err != nil {
			return err
		}
	case req.Filter != nil:
		return store.Invalid("body", "give ids or filter, not both")
	case len(req.IDs) == 0:
		return store.Invalid("body", "give ids (recording ids) or filter (the listing's filters)")
	default:
		ids, err := s.uniqueIDs(req.IDs)
		if err != nil {
			return err
		}
		for _, id := range ids {
			r, err := s.scopedRecording(c, p, id)
			switch {
			case store.ErrorCode(err) == store.ENOTFOUND:
				refuse(id, err)
			case err != nil:
				return err
			default:
				recs = append(recs, r)
			}
		}
	}
	deleted, err := s.deleteEach(c, p, recs, req.DryRun, store.AuditDelete, refuse)
	if err != nil {
		return err
	}
	reply.Deleted = deleted
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(reply)
}

// backup streams a consistent copy of the store (platform admins only), for operators whose
// `callrec backup` finds the file locked by the running server.
func (s *Server) backup(c *fiber.Ctx) error {
	if err := requireRole(caller(c), store.RolePlatform, "download backups"); err != nil {
		return err
	}
	db, ok := s.DB.(interface {
		Backup(ctx context.Context, w io.Writer) (int64, error)
	})
	if !ok { // PostgreSQL: the database's own tools (pg_dump, base backups) back it up
		return store.Errorf(store.EFORBIDDEN, "this callrec's store is PostgreSQL: back it up with pg_dump or the database's base backups, not /backup")
	}
	c.Set(fiber.HeaderContentType, "application/octet-stream")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="callrec-`+time.Now().UTC().Format("20060102T150405Z")+`.db"`)
	c.Set(fiber.HeaderCacheControl, "no-store")
	log := s.Logger
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		if _, err := db.Backup(context.Background(), w); err != nil {
			log.Error().Err(err).Msg("backup stream failed")
		}
		_ = w.Flush()
	})
	return nil
}
