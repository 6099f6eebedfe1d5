package store

import (
	"context"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// adminUpdate runs fn in a write transaction and, once it has committed, publishes a new Rules
// snapshot. The snapshot is built in a read transaction after the commit, outside bbolt's
// writer lock, so rebuilding it never delays call-path writes.
func (db *DB) adminUpdate(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := db.bolt.Update(fn); err != nil {
		return err
	}
	return db.refreshRules()
}

// refreshRules rebuilds and publishes the Rules snapshot. Rebuilds are serialised and each
// starts after its caller's commit, so the last published snapshot contains every committed
// admin write.
func (db *DB) refreshRules() error {
	db.rulesMu.Lock()
	defer db.rulesMu.Unlock()
	err := db.bolt.View(func(tx *bolt.Tx) error {
		r, err := buildRules(tx, db.rules.Load().version+1)
		if err != nil {
			return err
		}
		db.rules.Store(r)
		return nil
	})
	if err != nil {
		return fmt.Errorf("rebuild rules: %w", err)
	}
	db.notify()
	return nil
}

func (db *DB) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.bolt.View(fn)
}

// ---- brands ----

// Normalize trims the brand's fields and lower-cases its SIP domain, as every store write does
// before validating (both backends call it). Anyone may call it.
func (b *Brand) Normalize() {
	b.Name = strings.TrimSpace(b.Name)
	b.SIPDomain = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(b.SIPDomain), "."))
}

// CreateBrand validates b, gives it a new ID and stores it. Platform admins only (web checks).
// Errors: EINVALID (field), ECONFLICT on "sip_domain".
func (db *DB) CreateBrand(ctx context.Context, b *Brand) error {
	b.ID = db.newID(db.now())
	b.Normalize()
	if err := b.Validate(); err != nil {
		return err
	}
	return db.adminUpdate(ctx, func(tx *bolt.Tx) error {
		if err := moveEntries(tx, nil, brandEntries(b)); err != nil {
			return err
		}
		return putJSON(tx, bBrands, b.ID, b)
	})
}

// Brand returns the brand with id, or ENOTFOUND.
func (db *DB) Brand(ctx context.Context, id string) (*Brand, error) {
	var b Brand
	if err := db.view(ctx, func(tx *bolt.Tx) error { return getJSON(tx, bBrands, id, "brand", &b) }); err != nil {
		return nil, err
	}
	return &b, nil
}

// Brands returns every brand in creation order.
func (db *DB) Brands(ctx context.Context) ([]*Brand, error) {
	var out []*Brand
	err := db.view(ctx, func(tx *bolt.Tx) error {
		return forEachJSON(tx, bBrands, func(b *Brand) error { out = append(out, b); return nil })
	})
	return out, err
}

// UpdateBrand replaces the stored brand b.ID with b (the caller merges partial updates).
// Errors: ENOTFOUND, EINVALID, ECONFLICT on "sip_domain".
func (db *DB) UpdateBrand(ctx context.Context, b *Brand) error {
	b.Normalize()
	if err := b.Validate(); err != nil {
		return err
	}
	return db.adminUpdate(ctx, func(tx *bolt.Tx) error {
		var old Brand
		if err := getJSON(tx, bBrands, b.ID, "brand", &old); err != nil {
			return err
		}
		if old.SIPDomain != "" {
			if err := checkBrandDomainUnambiguous(tx, b); err != nil {
				return err
			}
		}
		if err := moveEntries(tx, brandEntries(&old), brandEntries(b)); err != nil {
			return err
		}
		return putJSON(tx, bBrands, b.ID, b)
	})
}

// DeleteBrand removes a brand without companies, and revokes the tokens scoped to it.
// Errors: ENOTFOUND, ECONFLICT while it has companies.
func (db *DB) DeleteBrand(ctx context.Context, id string) error {
	return db.adminUpdate(ctx, func(tx *bolt.Tx) error {
		var old Brand
		if err := getJSON(tx, bBrands, id, "brand", &old); err != nil {
			return err
		}
		if hasPrefix(tx, ixCompanyBrand, join(id, "")) {
			return Conflict("", "brand %s still has companies", id)
		}
		if err := deleteTokensWhere(tx, func(t *Token) bool { return t.BrandID == id }); err != nil {
			return err
		}
		if err := moveEntries(tx, brandEntries(&old), nil); err != nil {
			return err
		}
		return tx.Bucket(bBrands).Delete([]byte(id))
	})
}

// ---- companies ----

// CreateCompany fills defaults (on_demand "disabled", allow_recording_removal true), validates,
// gives c a new ID and stores it. Brand or platform admins only (web checks).
// Errors: EINVALID (field; "brand_id" when the brand does not exist).
func (db *DB) CreateCompany(ctx context.Context, c *Company) error {
	c.ID = db.newID(db.now())
	c.Normalize()
	if err := c.Validate(); err != nil {
		return err
	}
	return db.adminUpdate(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bBrands).Get([]byte(c.BrandID)) == nil {
			return Invalid("brand_id", "no such brand")
		}
		if err := moveEntries(tx, nil, companyEntries(c)); err != nil {
			return err
		}
		return putJSON(tx, bCompanies, c.ID, c)
	})
}

// Company returns the company with id, or ENOTFOUND.
func (db *DB) Company(ctx context.Context, id string) (*Company, error) {
	var c Company
	if err := db.view(ctx, func(tx *bolt.Tx) error { return getJSON(tx, bCompanies, id, "company", &c) }); err != nil {
		return nil, err
	}
	return &c, nil
}

// Companies returns the companies of brandID ("" = all) in creation order.
func (db *DB) Companies(ctx context.Context, brandID string) ([]*Company, error) {
	var out []*Company
	err := db.view(ctx, func(tx *bolt.Tx) error {
		if brandID == "" {
			return forEachJSON(tx, bCompanies, func(c *Company) error { out = append(out, c); return nil })
		}
		return walkChildren(tx, ixCompanyBrand, brandID, func(id string) error {
			var c Company
			if err := getJSON(tx, bCompanies, id, "company", &c); err != nil {
				return err
			}
			out = append(out, &c)
			return nil
		})
	})
	return out, err
}

// walkChildren calls fn with the last key part of every key parent|child of an index.
func walkChildren(tx *bolt.Tx, bucket []byte, parent string, fn func(id string) error) error {
	prefix := []byte(join(parent, ""))
	c := tx.Bucket(bucket).Cursor()
	for k, _ := c.Seek(prefix); k != nil && strings.HasPrefix(string(k), string(prefix)); k, _ = c.Next() {
		if err := fn(string(k[len(prefix):])); err != nil {
			return err
		}
	}
	return nil
}

// UpdateCompany replaces the stored company c.ID with c (the caller merges; nil
// allow_recording_removal means true). Only brand or platform admins may change on_demand (web
// checks). Errors: ENOTFOUND, EINVALID ("brand_id" when moving to another brand).
func (db *DB) UpdateCompany(ctx context.Context, c *Company) error {
	c.Normalize()
	if err := c.Validate(); err != nil {
		return err
	}
	return db.adminUpdate(ctx, func(tx *bolt.Tx) error {
		var old Company
		if err := getJSON(tx, bCompanies, c.ID, "company", &old); err != nil {
			return err
		}
		if old.BrandID != c.BrandID {
			return Invalid("brand_id", "a company cannot move to another brand")
		}
		return putJSON(tx, bCompanies, c.ID, c)
	})
}

// DeleteCompany removes a company without DDIs, users or recordings and revokes its tokens.
// Errors: ENOTFOUND, ECONFLICT while it has any of them.
func (db *DB) DeleteCompany(ctx context.Context, id string) error {
	return db.adminUpdate(ctx, func(tx *bolt.Tx) error {
		var old Company
		if err := getJSON(tx, bCompanies, id, "company", &old); err != nil {
			return err
		}
		for _, dep := range []struct {
			b    []byte
			what string
		}{{ixDDICompany, "DDIs"}, {ixUserCompany, "users"}, {ixRecCompany, "recordings"}, {ixWebhookCo, "webhooks"}} {
			if hasPrefix(tx, dep.b, join(id, "")) {
				return Conflict("", "company %s still has %s", id, dep.what)
			}
		}
		if err := deleteCompanyHolds(tx, id); err != nil {
			return err
		}
		if err := deleteCompanyDataKeys(tx, id); err != nil {
			return err
		}
		if err := deleteTokensWhere(tx, func(t *Token) bool { return t.CompanyID == id }); err != nil {
			return err
		}
		if err := moveEntries(tx, companyEntries(&old), nil); err != nil {
			return err
		}
		return tx.Bucket(bCompanies).Delete([]byte(id))
	})
}

// ---- DDIs ----

func (db *DB) normalizeDDI(d *DDI) error {
	if d.RecordCalls == "" {
		d.RecordCalls = RecordNone
	}
	if d.Consent == "" {
		d.Consent = ConsentNotice
	}
	d.Announcement = strings.TrimSpace(d.Announcement)
	n, err := NormalizeNumber(d.Number, db.opts.DefaultCountry)
	if err != nil {
		return err
	}
	d.Number = n
	return d.Validate()
}

// CreateDDI normalises the number (Options.DefaultCountry for national numbers), fills
// record_calls "none", validates, gives d a new ID and stores it. Company admins and above.
// Errors: EINVALID (field; "company_id" when the company does not exist), ECONFLICT "number".
func (db *DB) CreateDDI(ctx context.Context, d *DDI) error {
	d.ID = db.newID(db.now())
	if err := db.normalizeDDI(d); err != nil {
		return err
	}
	return db.adminUpdate(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bCompanies).Get([]byte(d.CompanyID)) == nil {
			return Invalid("company_id", "no such company")
		}
		if err := moveEntries(tx, nil, ddiEntries(d)); err != nil {
			return err
		}
		return putJSON(tx, bDDIs, d.ID, d)
	})
}

// DDI returns the DDI with id, or ENOTFOUND.
func (db *DB) DDI(ctx context.Context, id string) (*DDI, error) {
	var d DDI
	if err := db.view(ctx, func(tx *bolt.Tx) error { return getJSON(tx, bDDIs, id, "DDI", &d) }); err != nil {
		return nil, err
	}
	return &d, nil
}

// DDIByNumber returns the DDI with number (E.164, or normalisable with the default country),
// or ENOTFOUND.
func (db *DB) DDIByNumber(ctx context.Context, number string) (*DDI, error) {
	n, err := NormalizeNumber(number, db.opts.DefaultCountry)
	if err != nil {
		return nil, NotFound("DDI %q not found", number)
	}
	var d DDI
	err = db.view(ctx, func(tx *bolt.Tx) error {
		id := tx.Bucket(ixDDINumber).Get([]byte(n))
		if id == nil {
			return NotFound("DDI %q not found", n)
		}
		return getJSON(tx, bDDIs, string(id), "DDI", &d)
	})
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// DDIs returns the DDIs of companyID ("" = all) in creation order.
func (db *DB) DDIs(ctx context.Context, companyID string) ([]*DDI, error) {
	var out []*DDI
	err := db.view(ctx, func(tx *bolt.Tx) error {
		if companyID == "" {
			return forEachJSON(tx, bDDIs, func(d *DDI) error { out = append(out, d); return nil })
		}
		return walkChildren(tx, ixDDICompany, companyID, func(id string) error {
			var d DDI
			if err := getJSON(tx, bDDIs, id, "DDI", &d); err != nil {
				return err
			}
			out = append(out, &d)
			return nil
		})
	})
	return out, err
}

// UpdateDDI replaces the stored DDI d.ID with d (number normalised; it may move to another
// existing company). Errors: ENOTFOUND, EINVALID, ECONFLICT "number".
func (db *DB) UpdateDDI(ctx context.Context, d *DDI) error {
	if err := db.normalizeDDI(d); err != nil {
		return err
	}
	return db.adminUpdate(ctx, func(tx *bolt.Tx) error {
		var old DDI
		if err := getJSON(tx, bDDIs, d.ID, "DDI", &old); err != nil {
			return err
		}
		if tx.Bucket(bCompanies).Get([]byte(d.CompanyID)) == nil {
			return Invalid("company_id", "no such company")
		}
		if err := moveEntries(tx, ddiEntries(&old), ddiEntries(d)); err != nil {
			return err
		}
		return putJSON(tx, bDDIs, d.ID, d)
	})
}

// DeleteDDI removes the DDI (its recordings keep their ddi_id). Errors: ENOTFOUND.
func (db *DB) DeleteDDI(ctx context.Context, id string) error {
	return db.adminUpdate(ctx, func(tx *bolt.Tx) error {
		var old DDI
		if err := getJSON(tx, bDDIs, id, "DDI", &old); err != nil {
			return err
		}
		if err := moveEntries(tx, ddiEntries(&old), nil); err != nil {
			return err
		}
		return tx.Bucket(bDDIs).Delete([]byte(id))
	})
}

// ---- users ----

// Normalize trims the user's fields, as every store write does before validating (both
// backends call it). Anyone may call it.
func (u *User) Normalize() {
	u.Name = strings.TrimSpace(u.Name)
	u.Extension = strings.TrimSpace(u.Extension)
	u.SIPUser = strings.TrimSpace(u.SIPUser)
	u.Email = strings.TrimSpace(u.Email)
}

func companyBrand(tx *bolt.Tx, companyID string) (string, error) {
	var c Company
	if err := getJSON(tx, bCompanies, companyID, "company", &c); err != nil {
		if ErrorCode(err) == ENOTFOUND {
			return "", Invalid("company_id", "no such company")
		}
		return "", err
	}
	return c.BrandID, nil
}

// CreateUser validates u, gives it a new ID and stores it. Company admins and above.
// Errors: EINVALID (field; "company_id" when the company does not exist), ECONFLICT on
// "extension" (unique in the company) or "sip_user" (unique in the brand, and in the platform
// where a brand without sip_domain is involved: checkSIPUserUnambiguous).
func (db *DB) CreateUser(ctx context.Context, u *User) error {
	u.ID = db.newID(db.now())
	u.Normalize()
	if err := u.Validate(); err != nil {
		return err
	}
	return db.adminUpdate(ctx, func(tx *bolt.Tx) error {
		brandID, err := companyBrand(tx, u.CompanyID)
		if err != nil {
			return err
		}
		if err := moveEntries(tx, nil, userEntries(u, brandID)); err != nil {
			return err
		}
		if err := checkSIPUserUnambiguous(tx, u, brandID); err != nil {
			return err
		}
		return putJSON(tx, bUsers, u.ID, u)
	})
}

// User returns the user with id, or ENOTFOUND.
func (db *DB) User(ctx context.Context, id string) (*User, error) {
	var u User
	if err := db.view(ctx, func(tx *bolt.Tx) error { return getJSON(tx, bUsers, id, "user", &u) }); err != nil {
		return nil, err
	}
	return &u, nil
}

// UserBySIPUser returns the user of brandID with sipUser, or ENOTFOUND.
func (db *DB) UserBySIPUser(ctx context.Context, brandID, sipUser string) (*User, error) {
	var u User
	err := db.view(ctx, func(tx *bolt.Tx) error {
		id := tx.Bucket(ixUserSIP).Get([]byte(join(brandID, sipUser)))
		if id == nil {
			return NotFound("user %q not found", sipUser)
		}
		return getJSON(tx, bUsers, string(id), "user", &u)
	})
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// Users returns the users of companyID ("" = all) in creation order.
func (db *DB) Users(ctx context.Context, companyID string) ([]*User, error) {
	var out []*User
	err := db.view(ctx, func(tx *bolt.Tx) error {
		if companyID == "" {
			return forEachJSON(tx, bUsers, func(u *User) error { out = append(out, u); return nil })
		}
		return walkChildren(tx, ixUserCompany, companyID, func(id string) error {
			var u User
			if err := getJSON(tx, bUsers, id, "user", &u); err != nil {
				return err
			}
			out = append(out, &u)
			return nil
		})
	})
	return out, err
}

// UpdateUser replaces the stored user u.ID with u (the caller merges).
// Errors: ENOTFOUND, EINVALID ("company_id" when moving to another company), ECONFLICT on
// "extension" or "sip_user".
func (db *DB) UpdateUser(ctx context.Context, u *User) error {
	u.Normalize()
	if err := u.Validate(); err != nil {
		return err
	}
	return db.adminUpdate(ctx, func(tx *bolt.Tx) error {
		var old User
		if err := getJSON(tx, bUsers, u.ID, "user", &old); err != nil {
			return err
		}
		if old.CompanyID != u.CompanyID {
			return Invalid("company_id", "a user cannot move to another company")
		}
		brandID, err := companyBrand(tx, u.CompanyID)
		if err != nil {
			return err
		}
		if err := moveEntries(tx, userEntries(&old, brandID), userEntries(u, brandID)); err != nil {
			return err
		}
		if err := checkSIPUserUnambiguous(tx, u, brandID); err != nil {
			return err
		}
		return putJSON(tx, bUsers, u.ID, u)
	})
}

// DeleteUser removes the user and revokes its tokens (its recordings keep user_id).
// Errors: ENOTFOUND.
func (db *DB) DeleteUser(ctx context.Context, id string) error {
	return db.adminUpdate(ctx, func(tx *bolt.Tx) error {
		var old User
		if err := getJSON(tx, bUsers, id, "user", &old); err != nil {
			return err
		}
		brandID, err := companyBrand(tx, old.CompanyID)
		if err != nil {
			return err
		}
		if err := deleteTokensWhere(tx, func(t *Token) bool { return t.UserID == id }); err != nil {
			return err
		}
		if err := moveEntries(tx, userEntries(&old, brandID), nil); err != nil {
			return err
		}
		return tx.Bucket(bUsers).Delete([]byte(id))
	})
}
