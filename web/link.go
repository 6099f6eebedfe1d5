package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/callrec/callrec/store"
)

// linkTTL is how long a signed audio link stays valid.
const linkTTL = 15 * time.Minute

// An <audio> element cannot send an Authorization header, so the page asks for a signed link:
// the audio URL plus the token's id, an expiry and an HMAC over them with a key that lives only
// in this Server. authenticate accepts such a link for that one path; the token must still
// exist (revoking it kills its links) and the caller's tenancy is checked as usual.

// initLinkKey gives the Server its signing key (random, per process: links die with restarts).
func (s *Server) initLinkKey() error {
	s.linkKey = make([]byte, 32)
	if _, err := rand.Read(s.linkKey); err != nil {
		return fmt.Errorf("web: link key: %w", err)
	}
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
