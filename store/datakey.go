package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Data keys (issue 15 item 6, encryption at rest): the per-company keys recordings are sealed
// with (package envelope), kept here only wrapped by a master key that lives outside the store
// (DATA/master.key). A company has at most one current key; rotating it retires the current
// one, which still decrypts the files sealed with it. They live in bDataKeys keyed by
// company|key id, so a company's keys are one prefix walk.

// bDataKeys holds the data keys, keyed by company|key id (schema v8).
var bDataKeys = []byte("data_keys")

// DataKey is one wrapped data key of a company. Wrapped and MasterKeyID never leave callrec
// (not in JSON).
type DataKey struct {
	ID        string    `json:"id"`
	CompanyID string    `json:"company_id"`
	CreatedAt time.Time `json:"created_at"`
	// RetiredAt is when a newer key replaced this one: it seals nothing new but still opens
	// what it sealed. Nil for the company's current key.
	RetiredAt   *time.Time `json:"retired_at,omitempty"`
	MasterKeyID string     `json:"-"`
	Wrapped     []byte     `json:"-"`
}

// dataKeyRow is how a DataKey is stored (DataKey's JSON leaves the wrapped key out).
type dataKeyRow struct {
	DataKey
	MasterKeyID string `json:"master_key_id"`
	Wrapped     []byte `json:"wrapped"`
}

func (r *dataKeyRow) key() *DataKey {
	k := r.DataKey
	k.MasterKeyID, k.Wrapped = r.MasterKeyID, r.Wrapped
	return &k
}

func putDataKey(tx *bolt.Tx, k *DataKey) error {
	return putJSON(tx, bDataKeys, join(k.CompanyID, k.ID), &dataKeyRow{DataKey: *k, MasterKeyID: k.MasterKeyID, Wrapped: k.Wrapped})
}

func migrateDataKeys(tx *bolt.Tx) error {
	_, err := tx.CreateBucketIfNotExists(bDataKeys)
	return err
}

// NewDataKeyID returns the id for a new data key: "dk_" and a ULID, which
// envelope.ValidKeyID accepts.
func (db *DB) NewDataKeyID() string { return "dk_" + db.newID(db.now()) }

// AddDataKey stores k (its ID from NewDataKeyID, wrapped by the caller) as the company's
// current key, retiring the one before. CreatedAt is set here. Callers: library.Keys (the first
// sealed recording of a company, a rotation). Errors: ENOTFOUND "company", EINVALID for a key
// without id, wrapped bytes or master key id.
func (db *DB) AddDataKey(ctx context.Context, k *DataKey) error {
	if k.ID == "" || len(k.Wrapped) == 0 || k.MasterKeyID == "" {
		return Invalid("data_key", "id, wrapped key and master key id are required")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	now := db.now()
	k.CreatedAt, k.RetiredAt = now, nil
	return db.bolt.Update(func(tx *bolt.Tx) error {
		var co Company
		if err := getJSON(tx, bCompanies, k.CompanyID, "company", &co); err != nil {
			return err
		}
		keys, err := companyDataKeys(tx, k.CompanyID)
		if err != nil {
			return err
		}
		for _, old := range keys {
			if old.RetiredAt == nil {
				old.RetiredAt = &now
				if err := putDataKey(tx, old); err != nil {
					return err
				}
			}
		}
		return putDataKey(tx, k)
	})
}

// DataKeys returns a company's data keys, oldest first (the current one last, unless the
// company has none). Errors: the store's.
func (db *DB) DataKeys(ctx context.Context, companyID string) ([]*DataKey, error) {
	var out []*DataKey
	err := db.view(ctx, func(tx *bolt.Tx) (err error) {
		out, err = companyDataKeys(tx, companyID)
		return err
	})
	return out, err
}

// CurrentDataKey returns the company's current data key. Errors: ENOTFOUND when it has none.
func (db *DB) CurrentDataKey(ctx context.Context, companyID string) (*DataKey, error) {
	keys, err := db.DataKeys(ctx, companyID)
	if err != nil {
		return nil, err
	}
	for i := len(keys) - 1; i >= 0; i-- {
		if keys[i].RetiredAt == nil {
			return keys[i], nil
		}
	}
	return nil, NotFound("The company has no data key.")
}

// FindDataKey returns data key id of company companyID. Errors: ENOTFOUND.
func (db *DB) FindDataKey(ctx context.Context, companyID, id string) (*DataKey, error) {
	var row dataKeyRow
	if err := db.view(ctx, func(tx *bolt.Tx) error {
		return getJSON(tx, bDataKeys, join(companyID, id), "data key", &row)
	}); err != nil {
		return nil, err
	}
	return row.key(), nil
}

// RewrapDataKeys calls rewrap for every data key of every company and stores what it returns,
// all in one transaction: a master key rotation either rewraps every key or none. Errors:
// rewrap's (nothing is stored then), the store's.
func (db *DB) RewrapDataKeys(ctx context.Context, rewrap func(k *DataKey) (masterKeyID string, wrapped []byte, err error)) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		n = 0
		var keys []*DataKey
		if err := forEachJSON(tx, bDataKeys, func(r *dataKeyRow) error {
			keys = append(keys, r.key())
			return nil
		}); err != nil {
			return err
		}
		for _, k := range keys {
			m, w, err := rewrap(k)
			if err != nil {
				return err
			}
			k.MasterKeyID, k.Wrapped = m, w
			if err := putDataKey(tx, k); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// MasterKeysInUse returns the ids of the master keys that wrap at least one data key, and
// whether any data key exists at all (a store with data keys needs its master key file).
func (db *DB) MasterKeysInUse(ctx context.Context) (map[string]bool, error) {
	used := map[string]bool{}
	err := db.view(ctx, func(tx *bolt.Tx) error {
		return forEachJSON(tx, bDataKeys, func(r *dataKeyRow) error {
			used[r.MasterKeyID] = true
			return nil
		})
	})
	return used, err
}

func companyDataKeys(tx *bolt.Tx, companyID string) ([]*DataKey, error) {
	var out []*DataKey
	c := tx.Bucket(bDataKeys).Cursor()
	prefix := []byte(join(companyID, ""))
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var row dataKeyRow
		if err := json.Unmarshal(v, &row); err != nil {
			return nil, fmt.Errorf("decode data key %s: %w", k, err)
		}
		out = append(out, row.key())
	}
	return out, nil
}

// deleteCompanyDataKeys removes the keys of a company being deleted (it has no recordings left
// to open).
func deleteCompanyDataKeys(tx *bolt.Tx, companyID string) error {
	keys, err := companyDataKeys(tx, companyID)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := tx.Bucket(bDataKeys).Delete([]byte(join(companyID, k.ID))); err != nil {
			return err
		}
	}
	return nil
}
