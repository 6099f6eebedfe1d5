package store

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Signed links (web/link.go) in the store, so that every callrec sharing a store honours the
// links any of them issued, and a restart does not break the links a page holds (issue 16 item
// 2): the key that signs them is one secret kept in the meta bucket, made at the first use, and
// the selections of archive links are rows that expire.

var (
	keyLinkKey     = []byte("link_key")
	bArchiveGrants = []byte("archive_grants") // handle -> ArchiveGrant JSON (schema v9)
)

// ErrTooManyGrants is AddArchiveGrant's error when the token, or the whole store, has as many
// unexpired archive grants as allowed.
var ErrTooManyGrants = errors.New("too many archive links outstanding")

// ArchiveGrant is the selection behind one signed archive link: who asked, which ready
// recordings, until when.
type ArchiveGrant struct {
	Handle    string    `json:"handle"`
	TokenID   string    `json:"token_id"`
	IDs       []string  `json:"ids"`
	ExpiresAt time.Time `json:"expires_at"`
}

func migrateArchiveGrants(tx *bolt.Tx) error {
	_, err := tx.CreateBucketIfNotExists(bArchiveGrants)
	return err
}

// LinkKey returns the store's link-signing key (32 random bytes), making it at the first call.
// Callers: web.Server.Open. Errors: the store's.
func (db *DB) LinkKey(ctx context.Context) ([]byte, error) {
	var key []byte
	if err := db.view(ctx, func(tx *bolt.Tx) error {
		key = append([]byte(nil), tx.Bucket(bMeta).Get(keyLinkKey)...)
		return nil
	}); err != nil {
		return nil, err
	}
	if len(key) == 32 {
		return key, nil
	}
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("link key: %w", err)
	}
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bMeta)
		if cur := b.Get(keyLinkKey); len(cur) == 32 { // another caller made it meanwhile
			key = append([]byte(nil), cur...)
			return nil
		}
		key = fresh
		return b.Put(keyLinkKey, fresh)
	})
	return key, err
}

// AddArchiveGrant stores g (its Handle chosen by the caller, random) after dropping the expired
// grants. Callers: web's archive links. Errors: ErrTooManyGrants when g's token already has
// perToken unexpired grants or the store has total; the store's.
func (db *DB) AddArchiveGrant(ctx context.Context, g *ArchiveGrant, perToken, total int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := db.now()
	return db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bArchiveGrants)
		var expired [][]byte
		mine, all := 0, 0
		if err := b.ForEach(func(k, v []byte) error {
			var old ArchiveGrant
			if err := json.Unmarshal(v, &old); err != nil || now.After(old.ExpiresAt) {
				expired = append(expired, append([]byte(nil), k...))
				return nil
			}
			all++
			if old.TokenID == g.TokenID {
				mine++
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range expired {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		if mine >= perToken || all >= total {
			return ErrTooManyGrants
		}
		return putJSON(tx, bArchiveGrants, g.Handle, g)
	})
}

// FindArchiveGrant returns the grant under handle when it has not expired. Errors: ENOTFOUND
// (none, or expired).
func (db *DB) FindArchiveGrant(ctx context.Context, handle string) (*ArchiveGrant, error) {
	var g ArchiveGrant
	if err := db.view(ctx, func(tx *bolt.Tx) error {
		return getJSON(tx, bArchiveGrants, handle, "archive link", &g)
	}); err != nil {
		return nil, err
	}
	if db.now().After(g.ExpiresAt) {
		return nil, NotFound("archive link not found")
	}
	return &g, nil
}
