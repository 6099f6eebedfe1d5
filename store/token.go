package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TokenPrefix starts every API token secret, so leaked secrets are recognisable.
const TokenPrefix = "crt_"

// NewTokenSecret returns a new random API secret (TokenPrefix + 32 random bytes, base64url)
// and its SHA-256 hash, the only form to store (Token.Hash). The error comes from the system's
// random source.
func NewTokenSecret() (secret string, hash []byte, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, fmt.Errorf("token secret: %w", err)
	}
	secret = TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, HashToken(secret), nil
}

// HashToken returns the SHA-256 hash of a secret, to look it up with TokenByHash.
func HashToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// TokenFilter selects tokens by scope; empty fields match everything.
type TokenFilter struct {
	BrandID   string
	CompanyID string
	UserID    string
}

// CreateToken stores t (the caller sets Hash, e.g. from NewTokenSecret): it gets a new ID and
// CreatedAt, and its scope ids are completed from the referenced objects (company_admin gets
// BrandID, user gets CompanyID and BrandID; ids a role does not use are cleared). The web layer
// checks the creator may grant that scope. Errors: EINVALID (field; a missing brand/company/user
// names its id field), ECONFLICT "hash".
func (db *DB) CreateToken(ctx context.Context, t *Token) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t.ID = db.newID(db.now())
	t.CreatedAt = db.now()
	t.LastUsedAt = nil
	t.Name = strings.TrimSpace(t.Name)
	if err := t.Validate(); err != nil {
		return err
	}
	return db.bolt.Update(func(tx *bolt.Tx) error {
		switch t.Role {
		case RolePlatform:
			t.BrandID, t.CompanyID, t.UserID = "", "", ""
		case RoleBrand:
			if tx.Bucket(bBrands).Get([]byte(t.BrandID)) == nil {
				return Invalid("brand_id", "no such brand")
			}
			t.CompanyID, t.UserID = "", ""
		case RoleCompanyAdmin:
			b, err := companyBrand(tx, t.CompanyID)
			if err != nil {
				return err
			}
			t.BrandID, t.UserID = b, ""
		case RoleUser:
			var u User
			if err := getJSON(tx, bUsers, t.UserID, "user", &u); err != nil {
				return Invalid("user_id", "no such user")
			}
			b, err := companyBrand(tx, u.CompanyID)
			if err != nil {
				return err
			}
			t.CompanyID, t.BrandID = u.CompanyID, b
		}
		if err := moveEntries(tx, nil, tokenEntries(t)); err != nil {
			return err
		}
		return putRow(tx, bTokens, t.ID, t, encodeToken)
	})
}

// Token returns the token with id, or ENOTFOUND.
func (db *DB) Token(ctx context.Context, id string) (*Token, error) {
	var t *Token
	err := db.view(ctx, func(tx *bolt.Tx) error {
		var err error
		t, err = getRow(tx, bTokens, id, "token", decodeToken)
		return err
	})
	return t, err
}

// TokenByHash returns the token whose Hash is hash (see HashToken), or ENOTFOUND. Used by web
// on every request.
func (db *DB) TokenByHash(ctx context.Context, hash []byte) (*Token, error) {
	var t *Token
	err := db.view(ctx, func(tx *bolt.Tx) error {
		id := tx.Bucket(ixTokenHash).Get(hash)
		if id == nil || len(hash) == 0 {
			return NotFound("token not found")
		}
		var err error
		t, err = getRow(tx, bTokens, string(id), "token", decodeToken)
		return err
	})
	return t, err
}

// Tokens returns the tokens matching f in creation order.
func (db *DB) Tokens(ctx context.Context, f TokenFilter) ([]*Token, error) {
	var out []*Token
	err := db.view(ctx, func(tx *bolt.Tx) error {
		return forEachRow(tx, bTokens, decodeToken, func(t *Token) error {
			if (f.BrandID == "" || t.BrandID == f.BrandID) && (f.CompanyID == "" || t.CompanyID == f.CompanyID) && (f.UserID == "" || t.UserID == f.UserID) {
				out = append(out, t)
			}
			return nil
		})
	})
	return out, err
}

// HasPlatformToken reports whether any platform token exists (cmd generates the bootstrap
// token when none does).
func (db *DB) HasPlatformToken(ctx context.Context) (bool, error) {
	found := false
	err := db.view(ctx, func(tx *bolt.Tx) error {
		return forEachRow(tx, bTokens, decodeToken, func(t *Token) error {
			found = found || t.Role == RolePlatform
			return nil
		})
	})
	return found, err
}

// DeleteToken revokes the token with id. Errors: ENOTFOUND.
func (db *DB) DeleteToken(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.bolt.Update(func(tx *bolt.Tx) error {
		t, err := getRow(tx, bTokens, id, "token", decodeToken)
		if err != nil {
			return err
		}
		if err := moveEntries(tx, tokenEntries(t), nil); err != nil {
			return err
		}
		return tx.Bucket(bTokens).Delete([]byte(id))
	})
}

// TouchUnit is the resolution of Token.LastUsedAt: TouchToken writes only when the stored
// value is older than this, so a busy client does not turn every request into a disk write.
const TouchUnit = time.Minute

// TouchToken records that the token was used at `at`. The web layer may call it on every
// request: a read answers when LastUsedAt is recent (see TouchUnit), otherwise a batched write
// (up to Options.MaxBatchDelay) stores it. Errors: ENOTFOUND.
func (db *DB) TouchToken(ctx context.Context, id string, at time.Time) error {
	t, err := db.Token(ctx, id)
	if err != nil {
		return err
	}
	at = at.UTC()
	if t.LastUsedAt != nil && at.Sub(*t.LastUsedAt) < TouchUnit {
		return nil
	}
	return db.bolt.Batch(func(tx *bolt.Tx) error {
		t, err := getRow(tx, bTokens, id, "token", decodeToken)
		if err != nil {
			return err
		}
		t.LastUsedAt = &at
		return putRow(tx, bTokens, id, t, encodeToken)
	})
}

func deleteTokensWhere(tx *bolt.Tx, match func(*Token) bool) error {
	var doomed []*Token
	if err := forEachRow(tx, bTokens, decodeToken, func(t *Token) error {
		if match(t) {
			doomed = append(doomed, t)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, t := range doomed {
		if err := moveEntries(tx, tokenEntries(t), nil); err != nil {
			return err
		}
		if err := tx.Bucket(bTokens).Delete([]byte(t.ID)); err != nil {
			return err
		}
	}
	return nil
}
