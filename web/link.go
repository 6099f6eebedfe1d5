package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/callrec/callrec/store"
)

// linkTTL is how long a signed audio link stays valid.
const linkTTL = 15 * time.Minute

// An <audio> element cannot send an Authorization header, so the page asks for a signed link:
// the audio URL plus the token's id, an expiry and an HMAC over them with the store's link key
// (store.DB.LinkKey: every callrec sharing the store honours it, and it survives restarts).
// authenticate accepts such a link for that one path; the token must still exist (revoking it
// kills its links) and the caller's tenancy is checked as usual.

// initLinkKey gives the Server the store's link-signing key.
func (s *Server) initLinkKey() error {
	key, err := s.DB.LinkKey(context.Background())
	if err != nil {
		return fmt.Errorf("web: link key: %w", err)
	}
	s.linkKey = key
	return nil
}

func (s *Server) linkSig(path, tokenID string, exp int64) string {
	m := hmac.New(sha256.New, s.linkKey)
	fmt.Fprintf(m, "%s\n%s\n%d", path, tokenID, exp)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// linkReply is the reply of GET /recordings/{id}/link.
type linkReply struct {
	URL         string    `json:"url"`
	DownloadURL string    `json:"download_url"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// audioLink answers signed URLs for a recording's audio (inline and download).
func (s *Server) audioLink(c *fiber.Ctx) error {
	p := caller(c)
	r, err := s.scopedRecording(c, p, c.Params("id"))
	if err != nil {
		return err
	}
	exp := time.Now().Add(linkTTL).Truncate(time.Second)
	path := "/api/v1/recordings/" + r.ID + "/audio"
	q := "tid=" + p.ID + "&exp=" + strconv.FormatInt(exp.Unix(), 10) + "&sig=" + s.linkSig(path, p.ID, exp.Unix())
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(linkReply{URL: path + "?" + q, DownloadURL: path + "?" + q + "&download=1", ExpiresAt: exp})
}

// signedPrincipal checks a signed audio link on the current request; ok is false when the
// request carries none.
func (s *Server) signedPrincipal(c *fiber.Ctx) (p *principal, ok bool, err error) {
	sig, tid, expS := c.Query("sig"), c.Query("tid"), c.Query("exp")
	if sig == "" || tid == "" || expS == "" || c.Route() == nil {
		return nil, false, nil
	}
	exp, perr := strconv.ParseInt(expS, 10, 64)
	want := s.linkSig(c.Path(), tid, exp)
	if perr != nil || !hmac.Equal([]byte(sig), []byte(want)) {
		return nil, true, errUnauthorized("The link is not valid.")
	}
	if time.Now().Unix() > exp {
		return nil, true, errUnauthorized("The link has expired.")
	}
	tok, err := s.DB.Token(c.UserContext(), tid)
	if err != nil {
		if store.ErrorCode(err) == store.ENOTFOUND {
			return nil, true, errUnauthorized("The link's token was revoked.")
		}
		return nil, true, err
	}
	return &principal{Token: *tok}, true, nil
}

// Archive links. A ZIP of many recordings can be gigabytes: the page must let the browser stream
// it to disk through <a download>, which cannot send the Authorization header, so the page asks
// POST /recordings/archive/link for a signed URL, as it does for one recording's audio.
//
// The selection cannot travel in that URL: 500 ids of 26 characters outgrow fasthttp's header
// buffer (GET /recordings/archive answers 431 from ~150 ids). So the link request is resolved
// when it is issued — ids checked against the caller's tenancy, a filter expanded to the ids it
// matches then, so the ZIP holds exactly what the page was told — and the ready ids are kept in
// the store under a random handle for linkTTL (store.ArchiveGrant: any callrec sharing the store
// serves the link, after a restart too). The URL carries only the handle, the token id, the
// expiry and the HMAC. On download the grant must belong to the calling token and every id is
// scoped to it again.

// Bounds of the archive grants outstanding: per token, and in all.
const (
	maxGrantsPerToken = 20
	maxGrants         = 4096
)

// addGrant stores the selection ids of token tokenID under a new random handle until exp. Over
// the bounds (expired grants dropped first) it is a 429: too many archive links outstanding.
func (s *Server) addGrant(ctx context.Context, tokenID string, ids []string, exp time.Time) (string, error) {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("web: archive handle: %w", err)
	}
	handle := base64.RawURLEncoding.EncodeToString(raw[:])
	err := s.DB.AddArchiveGrant(ctx, &store.ArchiveGrant{Handle: handle, TokenID: tokenID, IDs: ids, ExpiresAt: exp}, maxGrantsPerToken, maxGrants)
	if errors.Is(err, store.ErrTooManyGrants) {
		return "", &httpError{status: fiber.StatusTooManyRequests, code: codeRateLimited,
			message: "Too many archive links outstanding; they expire after " + linkTTL.String() + "."}
	}
	return handle, err
}

// grant returns the unexpired grant of handle when it belongs to tokenID.
func (s *Server) grant(ctx context.Context, handle, tokenID string) (*store.ArchiveGrant, bool, error) {
	g, err := s.DB.FindArchiveGrant(ctx, handle)
	switch {
	case store.ErrorCode(err) == store.ENOTFOUND:
		return nil, false, nil
	case err != nil:
		return nil, false, err
	}
	return g, g.TokenID == tokenID, nil
}

// archiveLinkReply is the reply of POST /recordings/archive/link.
type archiveLinkReply struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
	// Count is the number of recordings in the ZIP; LeftOut the selected ones left out because
	// they are not ready (recording, processing, failed, discarded).
	Count   int      `json:"count"`
	LeftOut []string `json:"left_out"`
}

// archiveLink is POST /recordings/archive/link: the body of POST /recordings/archive (ids or a
// filter; a filter here may name any state: what is not ready is left out, not refused). An id
// outside the tenancy is 404 as in the archive; none ready is 409; more than ArchiveLimit is 400.
func (s *Server) archiveLink(c *fiber.Ctx) error {
	var req archiveRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	p := caller(c)
	recs, err := s.selectedRecordings(c, p, req.IDs, req.Filter)
	if err != nil {
		return err
	}
	return s.issueArchiveLink(c, p, recs)
}

// issueArchiveLink answers the signed archive link of the ready ones of recs (already in the
// caller's tenancy), listing the others as left out; none ready is 409. Callers: archiveLink and
// the subject export.
func (s *Server) issueArchiveLink(c *fiber.Ctx, p *principal, recs []*store.Recording) error {
	reply := archiveLinkReply{LeftOut: []string{}}
	var ready []string
	for _, r := range recs {
		if r.State == store.StateReady && r.MP3Path != "" {
			ready = append(ready, r.ID)
		} else {
			reply.LeftOut = append(reply.LeftOut, r.ID)
		}
	}
	if len(ready) == 0 {
		return store.Conflict("ids", "None of the %d selected recordings is ready.", len(recs))
	}
	now := time.Now()
	exp := now.Add(linkTTL).Truncate(time.Second)
	handle, err := s.addGrant(c.UserContext(), p.ID, ready, exp)
	if err != nil {
		return err
	}
	path := "/api/v1/recordings/archive/" + handle
	reply.URL = path + "?tid=" + p.ID + "&exp=" + strconv.FormatInt(exp.Unix(), 10) + "&sig=" + s.linkSig(path, p.ID, exp.Unix())
	reply.ExpiresAt, reply.Count = exp, len(ready)
	s.Logger.Info().Str("token_id", p.ID).Int("count", len(ready)).Int("left_out", len(reply.LeftOut)).
		Msg("archive link issued")
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(reply)
}

// archiveByLink is GET /recordings/archive/{id} (the handle of archiveLink, reached through its
// signed URL): the ZIP of the grant's recordings. An unknown, expired or another token's handle
// is 404. A recording deleted or re-queued since the link was issued is left out (logged); none
// left is 409.
func (s *Server) archiveByLink(c *fiber.Ctx) error {
	p := caller(c)
	g, ok, err := s.grant(c.UserContext(), c.Params("id"), p.ID)
	if err != nil {
		return err
	}
	if !ok {
		return store.NotFound("archive link not found")
	}
	recs := make([]*store.Recording, 0, len(g.IDs))
	for _, id := range g.IDs {
		r, err := s.scopedRecording(c, p, id)
		if err != nil && store.ErrorCode(err) != store.ENOTFOUND {
			return err
		}
		if err != nil || r.State != store.StateReady || r.MP3Path == "" {
			s.Logger.Info().Str("recording_id", id).Str("token_id", p.ID).Msg("archive link: recording no longer ready, left out")
			continue
		}
		recs = append(recs, r)
	}
	if len(recs) == 0 {
		return store.Conflict("id", "None of the link's recordings is ready any more.")
	}
	return s.streamArchive(c, "id", recs)
}

// selectedRecordings resolves a selection body — ids or a filter, exactly one — to the caller's
// recordings (any state). An id outside the tenancy is ENOTFOUND, as a single GET is; the bounds
// and errors are uniqueIDs' and filterRecordings'.
func (s *Server) selectedRecordings(c *fiber.Ctx, p *principal, ids []string, filter map[string]any) ([]*store.Recording, error) {
	switch {
	case len(ids) == 0 && filter == nil:
		return nil, store.Invalid("body", "give ids (recording ids) or filter (the listing's filters)")
	case len(ids) > 0 && filter != nil:
		return nil, store.Invalid("body", "give ids or filter, not both")
	case filter != nil:
		return s.filterRecordings(c, p, filter, false)
	}
	ids, err := s.uniqueIDs(ids)
	if err != nil {
		return nil, err
	}
	recs := make([]*store.Recording, 0, len(ids))
	for _, id := range ids {
		r, err := s.scopedRecording(c, p, id)
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	return recs, nil
}
