package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/callrec/callrec/store"
)

// Admin writes of the rule entities (store/admin.go). Each runs in one transaction holding the
// "admin" transaction advisory lock, so the cross-row checks store makes inside its single
// writer (a sip_user ambiguous between brands, a company with dependants) hold across
// instances too; admin writes are rare, the call path never takes the lock. The commit fires
// the rule-change trigger (notify.go), which is how every instance learns of it.

func (db *DB) adminTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey("admin")); err != nil {
			return err
		}
		return fn(tx)
	})
	if err != nil {
		return adminError(err)
	}
	// Read-your-writes on this instance; the others reload on the trigger's notification. A
	// failed reload is not the write's failure (it is committed): the listener's next reload
	// catches up.
	if rerr := db.reloadRules(ctx); rerr != nil {
		db.log.Warn().Err(rerr).Str("decision", "rules_stale").Msg("rules snapshot not reloaded after an admin write")
	}
	return nil
}

// adminError maps the schema's constraints onto store's error vocabulary.
func adminError(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.ConstraintName {
	case "brands_sip_domain":
		return store.Conflict("sip_domain", "another brand has this sip_domain")
	case "ddis_number_key":
		return store.Conflict("number", "another DDI has this number")
	case "users_company_id_extension_key":
		return store.Conflict("extension", "another user of the company has this extension")
	case "users_brand_id_sip_user_key":
		return store.Conflict("sip_user", "another user of the brand has this sip_user")
	}
	return fmt.Errorf("admin write: %w", err)
}

func (db *DB) normalizeDDI(d *store.DDI) error {
	if d.RecordCalls == "" {
		d.RecordCalls = store.RecordNone
	}
	if d.Consent == "" {
		d.Consent = store.ConsentNotice
	}
	d.Announcement = strings.TrimSpace(d.Announcement)
	n, err := store.NormalizeNumber(d.Number, db.opts.DefaultCountry)
	if err != nil {
		return err
	}
	d.Number = n
	return d.Validate()
}

// exists reports whether sql (a SELECT 1 …) finds a row.
func exists(ctx context.Context, tx pgx.Tx, sql string, args ...any) (bool, error) {
	var ok bool
	err := tx.QueryRow(ctx, "SELECT EXISTS ("+sql+")", args...).Scan(&ok)
	return ok, err
}

// ---- brands ----

// CreateBrand validates b, gives it a new ID and stores it, as store.DB.CreateBrand.
// Errors: EINVALID (field), ECONFLICT "sip_domain".
func (db *DB) CreateBrand(ctx context.Context, b *store.Brand) error {
	b.ID = db.newID(db.now())
	b.Normalize()
	if err := b.Validate(); err != nil {
		return err
	}
	return db.adminTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO brands (id, name, sip_domain) VALUES ($1, $2, $3)", b.ID, b.Name, b.SIPDomain)
		return err
	})
}

const brandColumns = "id, name, sip_domain"

func scanBrand(row pgx.Row) (*store.Brand, error) {
	var b store.Brand
	return &b, row.Scan(&b.ID, &b.Name, &b.SIPDomain)
}

// Brand returns the brand with id, or ENOTFOUND.
func (db *DB) Brand(ctx context.Context, id string) (*store.Brand, error) {
	b, err := scanBrand(db.pool.QueryRow(ctx, "SELECT "+brandColumns+" FROM brands WHERE id = $1", id))
	if err != nil {
		return nil, notFound(err, "brand not found")
	}
	return b, nil
}

// Brands returns every brand in creation (id) order.
func (db *DB) Brands(ctx context.Context) ([]*store.Brand, error) {
	return queryAll(ctx, db, "SELECT "+brandColumns+" FROM brands ORDER BY id", scanBrand)
}

// UpdateBrand replaces brand b.ID with b, as store.DB.UpdateBrand (clearing a sip_domain that
// tells two brands' phones apart is refused). Errors: ENOTFOUND, EINVALID, ECONFLICT
// "sip_domain".
func (db *DB) UpdateBrand(ctx context.Context, b *store.Brand) error {
	b.Normalize()
	if err := b.Validate(); err != nil {
		return err
	}
	return db.adminTx(ctx, func(tx pgx.Tx) error {
		old, err := scanBrand(tx.QueryRow(ctx, "SELECT "+brandColumns+" FROM brands WHERE id = $1", b.ID))
		if err != nil {
			return notFound(err, "brand not found")
		}
		if old.SIPDomain != "" && b.SIPDomain == "" {
			shared, err := exists(ctx, tx, `SELECT 1 FROM users u JOIN users o ON o.sip_user = u.sip_user AND o.brand_id <> u.brand_id
				WHERE u.brand_id = $1`, b.ID)
			if err != nil {
				return err
			}
			if shared {
				return store.Conflict("sip_domain", "a sip_user of the brand is used by another brand too: without a sip_domain its calls could not tell the two apart")
			}
		}
		_, err = tx.Exec(ctx, "UPDATE brands SET name = $2, sip_domain = $3 WHERE id = $1", b.ID, b.Name, b.SIPDomain)
		return err
	})
}

// DeleteBrand removes a brand without companies and revokes its tokens, as
// store.DB.DeleteBrand. Errors: ENOTFOUND, ECONFLICT while it has companies.
func (db *DB) DeleteBrand(ctx context.Context, id string) error {
	return db.adminTx(ctx, func(tx pgx.Tx) error {
		if ok, err := exists(ctx, tx, "SELECT 1 FROM brands WHERE id = $1", id); err != nil || !ok {
			return errOr(err, store.NotFound("brand not found"))
		}
		if ok, err := exists(ctx, tx, "SELECT 1 FROM companies WHERE brand_id = $1", id); err != nil || ok {
			return errOr(err, store.Conflict("", "brand %s still has companies", id))
		}
		if _, err := tx.Exec(ctx, "DELETE FROM tokens WHERE brand_id = $1", id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "DELETE FROM brands WHERE id = $1", id)
		return err
	})
}

// errOr returns err when there is one, else e.
func errOr(err error, e error) error {
	if err != nil {
		return err
	}
	return e
}

// ---- companies ----

const companyColumns = `id, brand_id, name, on_demand, on_demand_code, mask_code, allow_recording_removal, stereo,
	retention_days, quota_mb, country, encrypt_at_rest`

func scanCompany(row pgx.Row) (*store.Company, error) {
	var c store.Company
	return &c, row.Scan(&c.ID, &c.BrandID, &c.Name, &c.OnDemand, &c.OnDemandCode, &c.MaskCode,
		&c.AllowRecordingRemoval, &c.Stereo, &c.RetentionDays, &c.QuotaMB, &c.Country, &c.EncryptAtRest)
}

// CreateCompany fills defaults, validates, gives c a new ID and stores it, as
// store.DB.CreateCompany. Errors: EINVALID (field; "brand_id" when the brand does not exist).
func (db *DB) CreateCompany(ctx context.Context, c *store.Company) error {
	c.ID = db.newID(db.now())
	c.Normalize()
	if err := c.Validate(); err != nil {
		return err
	}
	return db.adminTx(ctx, func(tx pgx.Tx) error {
		if ok, err := exists(ctx, tx, "SELECT 1 FROM brands WHERE id = $1", c.BrandID); err != nil || !ok {
			return errOr(err, store.Invalid("brand_id", "no such brand"))
		}
		_, err := tx.Exec(ctx, "INSERT INTO companies ("+companyColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
			c.ID, c.BrandID, c.Name, c.OnDemand, c.OnDemandCode, c.MaskCode, c.AllowRecordingRemoval, c.Stereo, c.RetentionDays, c.QuotaMB, c.Country, c.EncryptAtRest)
		return err
	})
}

// Company returns the company with id, or ENOTFOUND.
func (db *DB) Company(ctx context.Context, id string) (*store.Company, error) {
	c, err := scanCompany(db.pool.QueryRow(ctx, "SELECT "+companyColumns+" FROM companies WHERE id = $1", id))
	if err != nil {
		return nil, notFound(err, "company not found")
	}
	return c, nil
}

// Companies returns the companies of brandID ("" = all) in creation order.
func (db *DB) Companies(ctx context.Context, brandID string) ([]*store.Company, error) {
	return queryAll(ctx, db, "SELECT "+companyColumns+" FROM companies WHERE $1 = '' OR brand_id = $1 ORDER BY id", scanCompany, brandID)
}

// UpdateCompany replaces company c.ID with c, as store.DB.UpdateCompany. Errors: ENOTFOUND,
// EINVALID ("brand_id" when moving to another brand).
func (db *DB) UpdateCompany(ctx context.Context, c *store.Company) error {
	c.Normalize()
	if err := c.Validate(); err != nil {
		return err
	}
	return db.adminTx(ctx, func(tx pgx.Tx) error {
		var brand string
		if err := tx.QueryRow(ctx, "SELECT brand_id FROM companies WHERE id = $1", c.ID).Scan(&brand); err != nil {
			return notFound(err, "company not found")
		}
		if brand != c.BrandID {
			return store.Invalid("brand_id", "a company cannot move to another brand")
		}
		_, err := tx.Exec(ctx, `UPDATE companies SET name = $2, on_demand = $3, on_demand_code = $4, mask_code = $5,
			allow_recording_removal = $6, stereo = $7, retention_days = $8, quota_mb = $9, country = $10, encrypt_at_rest = $11 WHERE id = $1`,
			c.ID, c.Name, c.OnDemand, c.OnDemandCode, c.MaskCode, c.AllowRecordingRemoval, c.Stereo, c.RetentionDays, c.QuotaMB, c.Country, c.EncryptAtRest)
		return err
	})
}

// DeleteCompany removes a company without DDIs, users, recordings or webhooks, with its released
// holds and tokens, as store.DB.DeleteCompany. Errors: ENOTFOUND, ECONFLICT while it has any,
// ECONFLICT "hold" while a legal hold of it is active.
func (db *DB) DeleteCompany(ctx context.Context, id string) error {
	return db.adminTx(ctx, func(tx pgx.Tx) error {
		if ok, err := exists(ctx, tx, "SELECT 1 FROM companies WHERE id = $1", id); err != nil || !ok {
			return errOr(err, store.NotFound("company not found"))
		}
		for _, dep := range []struct{ table, what string }{{"ddis", "DDIs"}, {"users", "users"}, {"recordings", "recordings"}, {"webhooks", "webhooks"}} {
			if ok, err := exists(ctx, tx, "SELECT 1 FROM "+dep.table+" WHERE company_id = $1", id); err != nil || ok {
				return errOr(err, store.Conflict("", "company %s still has %s", id, dep.what))
			}
		}
		var active string
		switch err := tx.QueryRow(ctx, "SELECT id FROM holds WHERE company_id = $1 AND released_at IS NULL ORDER BY id LIMIT 1", id).Scan(&active); {
		case err == nil:
			return store.Conflict("hold", "company %s has the active legal hold %s", id, active)
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		for _, q := range []string{"DELETE FROM holds WHERE company_id = $1", "DELETE FROM data_keys WHERE company_id = $1", "DELETE FROM tokens WHERE company_id = $1", "DELETE FROM companies WHERE id = $1"} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// ---- DDIs ----

const ddiColumns = "id, company_id, number, record_calls, announcement, consent"

func scanDDI(row pgx.Row) (*store.DDI, error) {
	var d store.DDI
	return &d, row.Scan(&d.ID, &d.CompanyID, &d.Number, &d.RecordCalls, &d.Announcement, &d.Consent)
}

// CreateDDI normalises the number (Options.DefaultCountry), fills defaults, validates, gives d
// a new ID and stores it, as store.DB.CreateDDI. Errors: EINVALID (field; "company_id" when
// the company does not exist), ECONFLICT "number".
func (db *DB) CreateDDI(ctx context.Context, d *store.DDI) error {
	d.ID = db.newID(db.now())
	if err := db.normalizeDDI(d); err != nil {
		return err
	}
	return db.adminTx(ctx, func(tx pgx.Tx) error {
		if ok, err := exists(ctx, tx, "SELECT 1 FROM companies WHERE id = $1", d.CompanyID); err != nil || !ok {
			return errOr(err, store.Invalid("company_id", "no such company"))
		}
		_, err := tx.Exec(ctx, "INSERT INTO ddis ("+ddiColumns+") VALUES ($1, $2, $3, $4, $5, $6)",
			d.ID, d.CompanyID, d.Number, d.RecordCalls, d.Announcement, d.Consent)
		return err
	})
}

// DDI returns the DDI with id, or ENOTFOUND.
func (db *DB) DDI(ctx context.Context, id string) (*store.DDI, error) {
	d, err := scanDDI(db.pool.QueryRow(ctx, "SELECT "+ddiColumns+" FROM ddis WHERE id = $1", id))
	if err != nil {
		return nil, notFound(err, "DDI not found")
	}
	return d, nil
}

// DDIByNumber returns the DDI with number (E.164, or normalisable with the default country),
// or ENOTFOUND.
func (db *DB) DDIByNumber(ctx context.Context, number string) (*store.DDI, error) {
	n, err := store.NormalizeNumber(number, db.opts.DefaultCountry)
	if err != nil {
		return nil, store.NotFound("DDI %q not found", number)
	}
	d, err := scanDDI(db.pool.QueryRow(ctx, "SELECT "+ddiColumns+" FROM ddis WHERE number = $1", n))
	if err != nil {
		return nil, notFound(err, "DDI "+n+" not found")
	}
	return d, nil
}

// DDIs returns the DDIs of companyID ("" = all) in creation order.
func (db *DB) DDIs(ctx context.Context, companyID string) ([]*store.DDI, error) {
	return queryAll(ctx, db, "SELECT "+ddiColumns+" FROM ddis WHERE $1 = '' OR company_id = $1 ORDER BY id", scanDDI, companyID)
}

// UpdateDDI replaces DDI d.ID with d (number normalised; it may move to another existing
// company), as store.DB.UpdateDDI. Errors: ENOTFOUND, EINVALID, ECONFLICT "number".
func (db *DB) UpdateDDI(ctx context.Context, d *store.DDI) error {
	if err := db.normalizeDDI(d); err != nil {
		return err
	}
	return db.adminTx(ctx, func(tx pgx.Tx) error {
		if ok, err := exists(ctx, tx, "SELECT 1 FROM ddis WHERE id = $1", d.ID); err != nil || !ok {
			return errOr(err, store.NotFound("DDI not found"))
		}
		if ok, err := exists(ctx, tx, "SELECT 1 FROM companies WHERE id = $1", d.CompanyID); err != nil || !ok {
			return errOr(err, store.Invalid("company_id", "no such company"))
		}
		_, err := tx.Exec(ctx, "UPDATE ddis SET company_id = $2, number = $3, record_calls = $4, announcement = $5, consent = $6 WHERE id = $1",
			d.ID, d.CompanyID, d.Number, d.RecordCalls, d.Announcement, d.Consent)
		return err
	})
}

// DeleteDDI removes the DDI (its recordings keep their ddi_id). Errors: ENOTFOUND.
func (db *DB) DeleteDDI(ctx context.Context, id string) error {
	return db.adminTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM ddis WHERE id = $1", id)
		if err == nil && tag.RowsAffected() == 0 {
			return store.NotFound("DDI not found")
		}
		return err
	})
}

// ---- users ----

const userColumns = "id, company_id, name, extension, sip_user, email"

func scanUser(row pgx.Row) (*store.User, error) {
	var u store.User
	return &u, row.Scan(&u.ID, &u.CompanyID, &u.Name, &u.Extension, &u.SIPUser, &u.Email)
}

// CreateUser validates u, gives it a new ID and stores it, as store.DB.CreateUser. Errors:
// EINVALID (field; "company_id" when the company does not exist), ECONFLICT "extension"
// (unique in the company) or "sip_user" (unique in the brand, and on the platform where a brand
// without sip_domain is involved).
func (db *DB) CreateUser(ctx context.Context, u *store.User) error {
	u.ID = db.newID(db.now())
	return db.putUser(ctx, u, true)
}

// UpdateUser replaces user u.ID with u, as store.DB.UpdateUser. Errors: ENOTFOUND, EINVALID
// ("company_id" when moving to another company), ECONFLICT "extension" or "sip_user".
func (db *DB) UpdateUser(ctx context.Context, u *store.User) error {
	return db.putUser(ctx, u, false)
}

func (db *DB) putUser(ctx context.Context, u *store.User, create bool) error {
	u.Normalize()
	if err := u.Validate(); err != nil {
		return err
	}
	return db.adminTx(ctx, func(tx pgx.Tx) error {
		if !create {
			var co string
			if err := tx.QueryRow(ctx, "SELECT company_id FROM users WHERE id = $1", u.ID).Scan(&co); err != nil {
				return notFound(err, "user not found")
			}
			if co != u.CompanyID {
				return store.Invalid("company_id", "a user cannot move to another company")
			}
		}
		var brand, domain string
		err := tx.QueryRow(ctx, "SELECT c.brand_id, b.sip_domain FROM companies c JOIN brands b ON b.id = c.brand_id WHERE c.id = $1", u.CompanyID).Scan(&brand, &domain)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.Invalid("company_id", "no such company")
		} else if err != nil {
			return err
		}
		// store's checkSIPUserUnambiguous: another brand's phone with this sip_user, where either
		// brand has no sip_domain, could not be told apart from this one.
		ambiguous, err := exists(ctx, tx, `SELECT 1 FROM users o JOIN brands ob ON ob.id = o.brand_id
			WHERE o.sip_user = $1 AND o.id <> $2 AND o.brand_id <> $3 AND ($4 = '' OR ob.sip_domain = '')`, u.SIPUser, u.ID, brand, domain)
		if err != nil {
			return err
		}
		if ambiguous {
			return store.Conflict("sip_user", "sip_user %q is used by a phone of another brand, and a brand without sip_domain cannot tell them apart: choose another sip_user or give both brands a sip_domain", u.SIPUser)
		}
		if create {
			_, err = tx.Exec(ctx, "INSERT INTO users (id, company_id, brand_id, name, extension, sip_user, email) VALUES ($1, $2, $3, $4, $5, $6, $7)",
				u.ID, u.CompanyID, brand, u.Name, u.Extension, u.SIPUser, u.Email)
		} else {
			_, err = tx.Exec(ctx, "UPDATE users SET name = $2, extension = $3, sip_user = $4, email = $5 WHERE id = $1",
				u.ID, u.Name, u.Extension, u.SIPUser, u.Email)
		}
		return err
	})
}

// User returns the user with id, or ENOTFOUND.
func (db *DB) User(ctx context.Context, id string) (*store.User, error) {
	u, err := scanUser(db.pool.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE id = $1", id))
	if err != nil {
		return nil, notFound(err, "user not found")
	}
	return u, nil
}

// UserBySIPUser returns the user of brandID with sipUser, or ENOTFOUND.
func (db *DB) UserBySIPUser(ctx context.Context, brandID, sipUser string) (*store.User, error) {
	u, err := scanUser(db.pool.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE brand_id = $1 AND sip_user = $2", brandID, sipUser))
	if err != nil {
		return nil, notFound(err, "user "+sipUser+" not found")
	}
	return u, nil
}

// Users returns the users of companyID ("" = all) in creation order.
func (db *DB) Users(ctx context.Context, companyID string) ([]*store.User, error) {
	return queryAll(ctx, db, "SELECT "+userColumns+" FROM users WHERE $1 = '' OR company_id = $1 ORDER BY id", scanUser, companyID)
}

// DeleteUser removes the user and revokes its tokens (its recordings keep user_id), as
// store.DB.DeleteUser. Errors: ENOTFOUND.
func (db *DB) DeleteUser(ctx context.Context, id string) error {
	return db.adminTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM tokens WHERE user_id = $1", id); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, "DELETE FROM users WHERE id = $1", id)
		if err == nil && tag.RowsAffected() == 0 {
			return store.NotFound("user not found")
		}
		return err
	})
}

// queryAll runs a query of whole rows and scans each with scan.
func queryAll[T any](ctx context.Context, db *DB, sql string, scan func(pgx.Row) (*T, error), args ...any) ([]*T, error) {
	rows, err := db.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*T, error) { return scan(r) })
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	return out, nil
}
