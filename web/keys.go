package web

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/callrec/callrec/library"
	"github.com/callrec/callrec/store"
)

// Encryption at rest (issue 15 item 6) in the API. A brand or platform admin turns a company's
// encrypt_at_rest on (PATCH /companies/{id}); from then on its new MP3s are sealed with the
// company's current data key. Company admins and above list the company's data keys (ids and
// dates only: a key never leaves callrec) and rotate it: a new key seals what comes next, the
// old ones still open what they sealed. The platform admin rotates the master key that wraps
// them all (POST /encryption/master/rotate). Every rotation is audited.

// dataKeyList is GET /companies/{id}/keys.
type dataKeyList struct {
	Items []*store.DataKey `json:"items"`
	// EncryptAtRest is the company's setting, so the page can say whether the keys are in use.
	EncryptAtRest bool `json:"encrypt_at_rest"`
}

// masterRotation is the reply of POST /encryption/master/rotate.
type masterRotation struct {
	MasterKeyID string `json:"master_key_id"`
	Rewrapped   int    `json:"rewrapped"`
}

// errNoKeys is a rotation's error on a Server built without Keys (cmd always wires them): a 500.
var errNoKeys = errors.New("encryption at rest: this server has no master key loaded")

// scopedKeysCompany loads company id for a key operation: in the caller's tenancy (else 404),
// company admin and above (403).
func (s *Server) scopedKeysCompany(c *fiber.Ctx, what string) (*store.Company, error) {
	p := caller(c)
	co, err := s.scopedCompany(c, p, c.Params("id"))
	if err != nil {
		return nil, err
	}
	if err := requireRole(p, store.RoleCompanyAdmin, what); err != nil {
		return nil, err
	}
	return co, nil
}

// listDataKeys is GET /companies/{id}/keys: the company's data keys, oldest first.
func (s *Server) listDataKeys(c *fiber.Ctx) error {
	co, err := s.scopedKeysCompany(c, "list data keys")
	if err != nil {
		return err
	}
	keys, err := s.DB.DataKeys(c.UserContext(), co.ID)
	if err != nil {
		return err
	}
	if keys == nil {
		keys = []*store.DataKey{}
	}
	return c.JSON(dataKeyList{Items: keys, EncryptAtRest: co.EncryptAtRest})
}

// rotateDataKey is POST /companies/{id}/keys/rotate: a new current data key (201).
func (s *Server) rotateDataKey(c *fiber.Ctx) error {
	co, err := s.scopedKeysCompany(c, "rotate data keys")
	if err != nil {
		return err
	}
	if s.Keys == nil {
		return errNoKeys
	}
	dk, err := s.Keys.Rotate(c.UserContext(), co.ID)
	if err != nil {
		return err
	}
	s.auditAfter(c, auditEntry(c, store.AuditEntry{Action: store.AuditSettingChange, CompanyID: co.ID, Target: "company:" + co.ID, Detail: "data key rotated: " + dk.ID}))
	s.Logger.Info().Str("company_id", co.ID).Str("data_key_id", dk.ID).Str("decision", "data_key_rotated").Msg("encryption at rest: data key rotated")
	return c.Status(fiber.StatusCreated).JSON(dk)
}

// rotateMasterKey is POST /encryption/master/rotate (platform admins): a new master key
// rewraps every data key.
func (s *Server) rotateMasterKey(c *fiber.Ctx) error {
	if err := requireRole(caller(c), store.RolePlatform, "rotate the master key"); err != nil {
		return err
	}
	if s.Keys == nil {
		return errNoKeys
	}
	id, n, err := s.Keys.RotateMaster(c.UserContext())
	if err != nil {
		return err
	}
	s.auditAfter(c, auditEntry(c, store.AuditEntry{Action: store.AuditSettingChange, Target: "master_key", Detail: "master key rotated: " + id}))
	s.Logger.Info().Str("master_key_id", id).Int("rewrapped", n).Str("decision", "master_key_rotated").Msg("encryption at rest: master key rotated")
	return c.JSON(masterRotation{MasterKeyID: id, Rewrapped: n})
}

// mp3Source is where the server finds recordings' MP3s: library_dir or the object store, sealed
// or clear.
func (s *Server) mp3Source() library.Source {
	return library.Source{Objects: s.Objects, Keys: s.Keys}
}
