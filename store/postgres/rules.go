package postgres

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"

	"github.com/callrec/callrec/store"
)

// RuleRows are the rows store's Rules snapshot is built from (store/rules.go: brands,
// companies, DDIs, users), read in one snapshot.
type RuleRows struct {
	Brands    []store.Brand
	Companies []store.Company
	DDIs      []store.DDI
	Users     []store.User
}

// RuleRows reads every brand, company, DDI and user in one REPEATABLE READ, read-only
// transaction, so the four lists are of one committed state (never a DDI without its company
// because a delete committed between two reads). Each instance calls it at start and after
// each Subscribe signal, then builds its snapshot; ordered by id. Errors: the database's.
func (db *DB) RuleRows(ctx context.Context) (*RuleRows, error) {
	var out RuleRows
	err := pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		if out.Brands, err = collect(ctx, tx, "SELECT id, name, sip_domain FROM brands ORDER BY id",
			func(r pgx.CollectableRow) (b store.Brand, err error) {
				err = r.Scan(&b.ID, &b.Name, &b.SIPDomain)
				return
			}); err != nil {
			return err
		}
		if out.Companies, err = collect(ctx, tx, `SELECT id, brand_id, name, on_demand, on_demand_code, mask_code,
			allow_recording_removal, stereo, retention_days, quota_mb, country, encrypt_at_rest FROM companies ORDER BY id`,
			func(r pgx.CollectableRow) (c store.Company, err error) {
				err = r.Scan(&c.ID, &c.BrandID, &c.Name, &c.OnDemand, &c.OnDemandCode, &c.MaskCode,
					&c.AllowRecordingRemoval, &c.Stereo, &c.RetentionDays, &c.QuotaMB, &c.Country, &c.EncryptAtRest)
				return
			}); err != nil {
			return err
		}
		if out.DDIs, err = collect(ctx, tx, "SELECT id, company_id, number, record_calls, announcement, consent FROM ddis ORDER BY id",
			func(r pgx.CollectableRow) (d store.DDI, err error) {
				err = r.Scan(&d.ID, &d.CompanyID, &d.Number, &d.RecordCalls, &d.Announcement, &d.Consent)
				return
			}); err != nil {
			return err
		}
		out.Users, err = collect(ctx, tx, "SELECT id, company_id, name, extension, sip_user, email FROM users ORDER BY id",
			func(r pgx.CollectableRow) (u store.User, err error) {
				err = r.Scan(&u.ID, &u.CompanyID, &u.Name, &u.Extension, &u.SIPUser, &u.Email)
				return
			})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("rule rows: %w", err)
	}
	return &out, nil
}

func collect[T any](ctx context.Context, tx pgx.Tx, sql string, scan pgx.RowToFunc[T]) ([]T, error) {
	rows, err := tx.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scan)
}

// rulesSnapshot is the instance's copy of the call path's rules: store.Rules built from
// RuleRows, republished after every change any instance commits (the listener, notify.go) and
// after this instance's own admin writes (adminTx), so a write is seen here at once and
// elsewhere within the notification's delay.
type rulesSnapshot struct {
	mu      sync.Mutex // one reload at a time, so a later reload never publishes older rows
	version uint64     // guarded by mu
	current atomic.Pointer[store.Rules]
}

// Rules returns the current snapshot (never nil once Open succeeded) without I/O. Mirrors
// store.DB.Rules: any goroutine may call it; hold the result only for one decision.
func (db *DB) Rules() *store.Rules { return db.rules.current.Load() }

// reloadRules reads the rule rows and publishes a new snapshot. Errors: the database's (the
// previous snapshot stays current).
func (db *DB) reloadRules(ctx context.Context) error {
	db.rules.mu.Lock()
	defer db.rules.mu.Unlock()
	rows, err := db.RuleRows(ctx)
	if err != nil {
		return err
	}
	db.rules.version++
	db.rules.current.Store(store.NewRules(db.rules.version, rows.Brands, rows.Companies, rows.DDIs, rows.Users))
	return nil
}
