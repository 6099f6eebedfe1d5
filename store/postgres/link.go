package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/callrec/callrec/store"
)

// Signed links (store/link.go): the key that signs them is one shared secret (secret.go), so a
// link issued by any instance is honoured by all, and the selections behind archive links are
// rows that expire. The caps on outstanding grants are counted under one transaction advisory
// lock, so instances adding grants at once cannot together pass them.

// linkKeySize is the link-signing key's length, store.DB.LinkKey's.
const linkKeySize = 32

// grantsLock is the key of the transaction advisory lock that serialises AddArchiveGrant
// across instances: one lock, not one per token, because the total cap spans every token.
func grantsLock() int64 { return lockKey("archive-grants") }

// LinkKey returns the link-signing key every instance shares (32 random bytes, made by the
// first instance to ask), as store.DB.LinkKey. Callers: web.Server.Open. Errors: the random
// source's, the database's.
func (db *DB) LinkKey(ctx context.Context) ([]byte, error) {
	return db.SharedSecret(ctx, "link-key", linkKeySize)
}

// AddArchiveGrant stores g (its Handle chosen by the caller, random; a handle already stored
// is overwritten) after dropping the expired grants, as store.DB.AddArchiveGrant. A grant
// expires once the instance's clock is past ExpiresAt. Callers: web's archive links. Errors:
// store.ErrTooManyGrants when g's token already has perToken unexpired grants or the store has
// total (nothing is changed then, the expired grants are dropped by a later call), the
// database's.
func (db *DB) AddArchiveGrant(ctx context.Context, g *store.ArchiveGrant, perToken, total int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := db.now()
	ids := g.IDs
	if ids == nil {
		ids = []string{} // the column is NOT NULL
	}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", grantsLock()); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM archive_grants WHERE expires_at < $1", now); err != nil {
			return err
		}
		var mine, all int
		if err := tx.QueryRow(ctx, "SELECT count(*) FILTER (WHERE token_id = $1), count(*) FROM archive_grants",
			g.TokenID).Scan(&mine, &all); err != nil {
			return err
		}
		if mine >= perToken || all >= total {
			return store.ErrTooManyGrants
		}
		_, err := tx.Exec(ctx, `INSERT INTO archive_grants (handle, token_id, ids, expires_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (handle) DO UPDATE SET token_id = EXCLUDED.token_id, ids = EXCLUDED.ids, expires_at = EXCLUDED.expires_at`,
			g.Handle, g.TokenID, ids, g.ExpiresAt)
		return err
	})
	switch {
	case err == nil, errors.Is(err, store.ErrTooManyGrants):
		return err
	}
	return fmt.Errorf("add archive grant: %w", err)
}

// FindArchiveGrant returns the grant under handle when it has not expired (by the instance's
// clock), as store.DB.FindArchiveGrant. Errors: ENOTFOUND (none, or expired), the database's.
func (db *DB) FindArchiveGrant(ctx context.Context, handle string) (*store.ArchiveGrant, error) {
	var g store.ArchiveGrant
	err := db.pool.QueryRow(ctx, "SELECT handle, token_id, ids, expires_at FROM archive_grants WHERE handle = $1", handle).
		Scan(&g.Handle, &g.TokenID, &g.IDs, &g.ExpiresAt)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, store.NotFound("archive link %q not found", handle)
	case err != nil:
		return nil, fmt.Errorf("find archive grant: %w", err)
	}
	g.ExpiresAt = g.ExpiresAt.UTC()
	if db.now().After(g.ExpiresAt) {
		return nil, store.NotFound("archive link not found")
	}
	return &g, nil
}
