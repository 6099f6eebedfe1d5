package postgres

import (
	"context"
	"os"
	"testing"

	"github.com/callrec/callrec/store/postgres/pgtest"
)

// shared is the package's PostgreSQL server, started once by TestMain; its template database
// holds the migrated schema, so each test's database starts migrated.
var shared pgtest.Shared

func TestMain(m *testing.M) {
	if os.Getenv(envChildDSN) != "" { // a drill's child instance: it uses the parent's server
		os.Exit(m.Run())
	}
	os.Exit(pgtest.Main(m, &shared, pgtest.Options{Prepare: func(ctx context.Context, dsn string) error {
		db, err := Open(ctx, dsn, Options{})
		if err != nil {
			return err
		}
		db.Close()
		return nil
	}}))
}

// mustOpen opens the store on a fresh migrated database, closed at cleanup; dsn is returned so
// a test can open a second instance on the same database.
func mustOpen(t testing.TB, opts Options) (*DB, string) {
	t.Helper()
	dsn := shared.Database(t)
	return mustOpenDSN(t, dsn, opts), dsn
}

func mustOpenDSN(t testing.TB, dsn string, opts Options) *DB {
	t.Helper()
	db, err := Open(context.Background(), dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// tenant is a brand with one company, inserted as rows.
type tenant struct{ brandID, companyID string }

func mustTenant(t testing.TB, db *DB, n string) tenant {
	t.Helper()
	ctx := context.Background()
	tn := tenant{brandID: db.newID(db.now()), companyID: db.newID(db.now())}
	if _, err := db.pool.Exec(ctx, "INSERT INTO brands (id, name) VALUES ($1, $2)", tn.brandID, "Brand "+n); err != nil {
		t.Fatal(err)
	}
	if _, err := db.pool.Exec(ctx, "INSERT INTO companies (id, brand_id, name) VALUES ($1, $2, $3)", tn.companyID, tn.brandID, "Company "+n); err != nil {
		t.Fatal(err)
	}
	return tn
}
