package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/callrec/callrec/store"
)

// Data keys (store/datakey.go, encryption at rest): the per-company keys recordings are sealed
// with, stored only wrapped by a master key. Instances share them, so the writes that store
// makes inside its single writer are serialised here by locks: AddDataKey holds the company's
// data-key lock (two rotations of one company would otherwise both retire the same key and
// then collide on the one-current-key index), RewrapDataKeys locks the table against writers
// and every row it rewraps, so a master-key rotation on one instance and a rotation or a new
// key on another follow each other and none is lost.

func dataKeyLock(companyID string) int64 { return lockKey("data-keys:" + companyID) }

const dataKeyColumns = "id, company_id, created_at, retired_at, master_key_id, wrapped"

func scanDataKey(row pgx.Row) (*store.DataKey, error) {
	var k store.DataKey
	if err := row.Scan(&k.ID, &k.CompanyID, &k.CreatedAt, &k.RetiredAt, &k.MasterKeyID, &k.Wrapped); err != nil {
		return nil, err
	}
	k.CreatedAt = k.CreatedAt.UTC()
	if k.RetiredAt != nil {
		t := k.RetiredAt.UTC()
		k.RetiredAt = &t
	}
	return &k, nil
}

// NewDataKeyID returns the id for a new data key, as store.DB.NewDataKeyID: "dk_" and a ULID,
// which envelope.ValidKeyID accepts. Anyone may call it; it does no I/O.
func (db *DB) NewDataKeyID() string { return "dk_" + db.newID(db.now()) }

// AddDataKey stores k (its ID from NewDataKeyID, wrapped by the caller) as the company's
// current key, retiring the one before, as store.DB.AddDataKey. CreatedAt is set here (and
// RetiredAt cleared). Callers: library.Keys (the first sealed recording of a company, a
// rotation). Errors: ENOTFOUND "company", EINVALID for a key without id, wrapped bytes or
// master key id, the database's.
func (db *DB) AddDataKey(ctx context.Context, k *store.DataKey) error {
	if k.ID == "" || len(k.Wrapped) == 0 || k.MasterKeyID == "" {
		return store.Invalid("data_key", "id, wrapped key and master key id are required")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	now := db.now()
	k.CreatedAt, k.RetiredAt = now, nil
	noCompany := store.NotFound("company %q not found", k.CompanyID)
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		// Taken before reading the current key: a second AddDataKey of the company waits and then
		// retires the key this one adds.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", dataKeyLock(k.CompanyID)); err != nil {
			return err
		}
		if ok, err := exists(ctx, tx, "SELECT 1 FROM companies WHERE id = $1", k.CompanyID); err != nil || !ok {
			return errOr(err, noCompany)
		}
		if _, err := tx.Exec(ctx, "UPDATE data_keys SET retired_at = $2 WHERE company_id = $1 AND retired_at IS NULL", k.CompanyID, now); err != nil {
			return err
		}
		// An id already stored is overwritten, as store's put does.
		_, err := tx.Exec(ctx, "INSERT INTO data_keys ("+dataKeyColumns+") VALUES ($1, $2, $3, NULL, $4, $5) "+
			"ON CONFLICT (company_id, id) DO UPDATE SET created_at = EXCLUDED.created_at, retired_at = NULL, "+
			"master_key_id = EXCLUDED.master_key_id, wrapped = EXCLUDED.wrapped",
			k.ID, k.CompanyID, k.CreatedAt, k.MasterKeyID, k.Wrapped)
		return err
	})
	var pe *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pe) && pe.Code == "23503": // foreign_key_violation: the company was deleted meanwhile
		return noCompany
	case store.ErrorCode(err) != store.EINTERNAL:
		return err
	}
	return fmt.Errorf("add data key: %w", err)
}

// DataKeys returns a company's data keys, oldest first (the current one last, unless the
// company has none), as store.DB.DataKeys; nil when it has none. Errors: the database's.
func (db *DB) DataKeys(ctx context.Context, companyID string) ([]*store.DataKey, error) {
	keys, err := queryAll(ctx, db, "SELECT "+dataKeyColumns+" FROM data_keys WHERE company_id = $1 ORDER BY id", scanDataKey, companyID)
	if err != nil {
		return nil, fmt.Errorf("data keys: %w", err)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	return keys, nil
}

// CurrentDataKey returns the company's current data key, as store.DB.CurrentDataKey. Errors:
// ENOTFOUND when it has none, the database's.
func (db *DB) CurrentDataKey(ctx context.Context, companyID string) (*store.DataKey, error) {
	k, err := scanDataKey(db.pool.QueryRow(ctx, "SELECT "+dataKeyColumns+" FROM data_keys WHERE company_id = $1 AND retired_at IS NULL", companyID))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, store.NotFound("The company has no data key.")
	case err != nil:
		return nil, fmt.Errorf("current data key: %w", err)
	}
	return k, nil
}

// FindDataKey returns data key id of company companyID, current or retired, as
// store.DB.FindDataKey. Errors: ENOTFOUND, the database's.
func (db *DB) FindDataKey(ctx context.Context, companyID, id string) (*store.DataKey, error) {
	k, err := scanDataKey(db.pool.QueryRow(ctx, "SELECT "+dataKeyColumns+" FROM data_keys WHERE company_id = $1 AND id = $2", companyID, id))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, store.NotFound("data key %q not found", id)
	case err != nil:
		return nil, fmt.Errorf("find data key: %w", err)
	}
	return k, nil
}

// MasterKeysInUse returns the ids of the master keys that wrap at least one data key (empty,
// not nil, when there is no data key), as store.DB.MasterKeysInUse. Errors: the database's.
func (db *DB) MasterKeysInUse(ctx context.Context) (map[string]bool, error) {
	rows, err := db.pool.Query(ctx, "SELECT DISTINCT master_key_id FROM data_keys")
	if err != nil {
		return nil, fmt.Errorf("master keys in use: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("master keys in use: %w", err)
	}
	used := make(map[string]bool, len(ids))
	for _, id := range ids {
		used[id] = true
	}
	return used, nil
}

// RewrapDataKeys calls rewrap for every data key of every company (by company, then oldest
// first) and stores what it returns, all in one transaction, as store.DB.RewrapDataKeys: a
// master key rotation either rewraps every key or none. It returns how many keys it rewrapped.
// The transaction locks data_keys against writers (SHARE ROW EXCLUSIVE: reads go on) and every
// row: a rewrap on another instance, or an AddDataKey, waits for this one to commit and then
// sees the keys as rewrapped, so no key is left wrapped by a master key the rotation retired.
// rewrap runs while the locks are held, so it must not block on the store. Errors: rewrap's
// (nothing is stored then, and 0 returned), the database's.
func (db *DB) RewrapDataKeys(ctx context.Context, rewrap func(k *store.DataKey) (masterKeyID string, wrapped []byte, err error)) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		n = 0
		if _, err := tx.Exec(ctx, "LOCK TABLE data_keys IN SHARE ROW EXCLUSIVE MODE"); err != nil {
			return fmt.Errorf("lock data keys: %w", err)
		}
		rows, err := tx.Query(ctx, "SELECT "+dataKeyColumns+" FROM data_keys ORDER BY company_id, id FOR UPDATE")
		if err != nil {
			return fmt.Errorf("data keys: %w", err)
		}
		keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.DataKey, error) { return scanDataKey(r) })
		if err != nil {
			return fmt.Errorf("data keys: %w", err)
		}
		for _, k := range keys {
			m, w, err := rewrap(k)
			if err != nil {
				return err
			}
			if m == "" || len(w) == 0 {
				return store.Invalid("data_key", "rewrap of %s returned no master key id or no wrapped key", k.ID)
			}
			if _, err := tx.Exec(ctx, "UPDATE data_keys SET master_key_id = $3, wrapped = $4 WHERE company_id = $1 AND id = $2",
				k.CompanyID, k.ID, m, w); err != nil {
				return fmt.Errorf("rewrap data key %s: %w", k.ID, err)
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
