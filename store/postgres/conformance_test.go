package postgres

import (
	"testing"

	"github.com/callrec/callrec/store"
	"github.com/callrec/callrec/store/storetest"
)

// TestConformance holds the PostgreSQL store to the conformance suite the bbolt store, the
// reference, runs too (store/conformance_test.go): each case on a fresh migrated database of
// the package's shared server.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, o storetest.Options) store.Store {
		db, _ := mustOpen(t, Options{Now: o.Now, DefaultCountry: o.DefaultCountry})
		return db
	})
}
