package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/callrec/callrec/store"
)

// API tokens, stored as store stores them: the SHA-256 of the secret only (store.Token.Hash),
// so that a token created on one instance authenticates on all.

const tokenColumns = "id, name, role, brand_id, company_id, user_id, hash, created_at, last_used_at"

func scanToken(row pgx.Row) (*store.Token, error) {
	var t store.Token
	if err := row.Scan(&t.ID, &t.Name, &t.Role, &t.BrandID, &t.CompanyID, &t.UserID, &t.Hash, &t.CreatedAt, &t.LastUsedAt); err != nil {
		return nil, err
	}
	t.CreatedAt = t.CreatedAt.UTC()
	if t.LastUsedAt != nil {
		u := t.LastUsedAt.UTC()
		t.LastUsedAt = &u
	}
	return &t, nil
}

// CreateToken stores t as store.DB.CreateToken does: new ID and CreatedAt, scope ids completed
// from the referenced rows (company_admin gets BrandID, user gets CompanyID and BrandID; ids a
// role does not use are cleared). Errors: EINVALID (field; a missing brand/company/user names
// its id field), ECONFLICT "hash".
func (db *DB) CreateToken(ctx context.Context, t *store.Token) error {
	now := db.now()
	t.ID, t.CreatedAt, t.LastUsedAt = db.newID(now), now, nil
	t.Name = strings.TrimSpace(t.Name)
	if err := t.Validate(); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if err := completeScope(ctx, tx, t); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO tokens ("+tokenColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)",
			t.ID, t.Name, t.Role, t.BrandID, t.CompanyID, t.UserID, t.Hash, t.CreatedAt)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" {
			return store.Conflict("hash", "a token with this secret exists")
		}
		return err
	})
}

// completeScope fills and clears t's scope ids for its role from the rows they name.
func completeScope(ctx context.Context, tx pgx.Tx, t *store.Token) error {
	var err error
	switch t.Role {
	case store.RolePlatform:
		t.BrandID, t.CompanyID, t.UserID = "", "", ""
	case store.RoleBrand:
		var one int
		if err = tx.QueryRow(ctx, "SELECT 1 FROM brands WHERE id = $1", t.BrandID).Scan(&one); errors.Is(err, pgx.ErrNoRows) {
			return store.Invalid("brand_id", "no such brand")
		}
		t.CompanyID, t.UserID = "", ""
	case store.RoleCompanyAdmin:
		if err = tx.QueryRow(ctx, "SELECT brand_id FROM companies WHERE id = $1", t.CompanyID).Scan(&t.BrandID); errors.Is(err, pgx.ErrNoRows) {
			return store.Invalid("company_id", "no such company")
		}
		t.UserID = ""
	case store.RoleUser:
		if err = tx.QueryRow(ctx, "SELECT company_id, brand_id FROM users WHERE id = $1", t.UserID).Scan(&t.CompanyID, &t.BrandID); errors.Is(err, pgx.ErrNoRows) {
			return store.Invalid("user_id", "no such user")
		}
	}
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	return nil
}

// Token returns the token with id, or ENOTFOUND.
func (db *DB) Token(ctx context.Context, id string) (*store.Token, error) {
	t, err := scanToken(db.pool.QueryRow(ctx, "SELECT "+tokenColumns+" FROM tokens WHERE id = $1", id))
	if err != nil {
		return nil, notFound(err, "token not found")
	}
	return t, nil
}

// TokenByHash returns the token whose Hash is hash (store.HashToken of the secret), or
// ENOTFOUND. Used by web on every request, on any instance.
func (db *DB) TokenByHash(ctx context.Context, hash []byte) (*store.Token, error) {
	if len(hash) == 0 {
		return nil, store.NotFound("token not found")
	}
	t, err := scanToken(db.pool.QueryRow(ctx, "SELECT "+tokenColumns+" FROM tokens WHERE hash = $1", hash))
	if err != nil {
		return nil, notFound(err, "token not found")
	}
	return t, nil
}

// DeleteToken revokes the token with id, on every instance at once (each request looks the
// hash up). Errors: ENOTFOUND.
func (db *DB) DeleteToken(ctx context.Context, id string) error {
	tag, err := db.pool.Exec(ctx, "DELETE FROM tokens WHERE id = $1", id)
	if err != nil {
		return fmt.Errorf("delete token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return store.NotFound("token not found")
	}
	return nil
}

// TouchToken records that the token was used at `at`, writing only when the stored value is
// older than store.TouchUnit (one conditional UPDATE, so a busy client costs no write).
// Errors: ENOTFOUND.
func (db *DB) TouchToken(ctx context.Context, id string, at time.Time) error {
	at = at.UTC().Truncate(time.Microsecond)
	var exists bool
	err := db.pool.QueryRow(ctx, `WITH u AS (UPDATE tokens SET last_used_at = $2 WHERE id = $1
		AND (last_used_at IS NULL OR last_used_at <= $3) RETURNING 1)
		SELECT EXISTS (SELECT 1 FROM u) OR EXISTS (SELECT 1 FROM tokens WHERE id = $1)`, id, at, at.Add(-store.TouchUnit)).Scan(&exists)
	if err != nil {
		return fmt.Errorf("touch token: %w", err)
	}
	if !exists {
		return store.NotFound("token not found")
	}
	return nil
}

// Tokens returns the tokens matching f in creation order.
func (db *DB) Tokens(ctx context.Context, f store.TokenFilter) ([]*store.Token, error) {
	return queryAll(ctx, db, "SELECT "+tokenColumns+` FROM tokens WHERE ($1 = '' OR brand_id = $1)
		AND ($2 = '' OR company_id = $2) AND ($3 = '' OR user_id = $3) ORDER BY id`, scanToken, f.BrandID, f.CompanyID, f.UserID)
}

// HasPlatformToken reports whether any platform token exists (cmd makes the bootstrap token
// when none does; with several instances starting at once each may make one).
func (db *DB) HasPlatformToken(ctx context.Context) (bool, error) {
	var ok bool
	if err := db.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM tokens WHERE role = 'platform')").Scan(&ok); err != nil {
		return false, fmt.Errorf("platform token: %w", err)
	}
	return ok, nil
}
